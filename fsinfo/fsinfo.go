// Package fsinfo answers what holds a path: which mount, which file system,
// and what that file system can promise about flushing.
package fsinfo

import (
	"strings"
)

// Mount is one line of the mount table.
type Mount struct {
	MountPoint string
	FSType     string // as the kernel names it: ext4, fuseblk, fuse.fusefat, ...
	Source     string // /dev/sdb1, or whatever the FUSE server called itself
	Options    string // the file system's own (super) options
	ReadOnly   bool   // mounted read-only, or the file system is
	// MountedReadOnly: the mount itself is read-only (mount -o ro, a
	// read-only bind mount), so nothing is written through it; a file
	// system that turned read-only after an error is not.
	MountedReadOnly bool
	Major           uint32
	Minor           uint32
}

// IsFUSE reports whether a user-space server implements the file system.
// syncfs(2) on such a file system writes back the kernel's page cache but
// sends nothing to the server, so it proves nothing about the device.
func (m Mount) IsFUSE() bool {
	return m.FSType == "fuse" || m.FSType == "fuseblk" || strings.HasPrefix(m.FSType, "fuse.")
}

// Barrier says how a batch of writes on this mount is made durable.
type Barrier int

const (
	// BarrierSyncFS: one syncfs(2) flushes every file and the device's cache,
	// and reports the writeback errors of the whole file system.
	BarrierSyncFS Barrier = iota
	// BarrierPerFile: every file and directory must be flushed on its own
	// (fsync), because syncfs would not reach the device or would not report
	// errors.
	BarrierPerFile
)

func (b Barrier) String() string {
	if b == BarrierSyncFS {
		return "syncfs"
	}
	return "per-file fsync"
}

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
	// BarrierSyncFSFlush: one syncfs(2) writes every file and reports the
	// errors but sends the drive no cache flush (vfat, ntfs3), or one only
	// as a side effect (exfat, when it clears its volume-dirty flag); an
	// fsync of a directory on the file system, once syncfs has returned,
	// then flushes the drive's cache, with no access to the device needed.
	BarrierSyncFSFlush
)

func (b Barrier) String() string {
	switch b {
	case BarrierSyncFS:
		return "syncfs"
	case BarrierSyncFSFlush:
		return "syncfs + fsync"
	}
	return "per-file fsync"
}

// WholeFS reports whether one barrier covers every write on the file
// system, so that batches can share it.
func (b Barrier) WholeFS() bool { return b == BarrierSyncFS || b == BarrierSyncFSFlush }

// syncFSSendsNoFlush lists the in-kernel drivers whose syncfs sends the
// drive no cache flush, measured in the VM lab (lab/vm): vfat, msdos and
// ntfs3 never do; exfat does only through the write that clears its
// volume-dirty flag, a side effect no barrier may rest on. ntfs is the
// name ntfs3 also answers to.
var syncFSSendsNoFlush = map[string]string{
	"vfat":  "its syncfs sends the drive no cache flush",
	"msdos": "its syncfs sends the drive no cache flush",
	"ntfs3": "its syncfs sends the drive no cache flush",
	"ntfs":  "its syncfs sends the drive no cache flush",
	"exfat": "its syncfs flushes the drive's cache only when it clears the volume-dirty flag",
}

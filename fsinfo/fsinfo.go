// Package fsinfo answers what holds a path: which mount, which file system,
// and what that file system can do and promise (Caps, the one place where
// sure names file systems), flushing above all.
package fsinfo

import "fmt"

// Mount is one line of the mount table. Its JSON (in sure devices
// --json) holds the fields users read there; the others are left out.
type Mount struct {
	MountPoint string `json:"mount_point"`
	FSType     string `json:"fstype"`  // as the kernel names it: ext4, fuseblk, fuse.fusefat, ...
	Source     string `json:"-"`       // /dev/sdb1, or whatever the FUSE server called itself
	Options    string `json:"options"` // the file system's own (super) options
	ReadOnly   bool   `json:"-"`       // mounted read-only, or the file system is
	// MountedReadOnly: the mount itself is read-only (mount -o ro, a
	// read-only bind mount), so nothing is written through it; a file
	// system that turned read-only after an error is not.
	MountedReadOnly bool   `json:"-"`
	Major           uint32 `json:"-"`
	Minor           uint32 `json:"-"`
}

// IsFUSE reports whether a user-space server implements the file system.
// syncfs(2) on such a file system writes back the kernel's page cache but
// sends nothing to the server, so it proves nothing about the device.
func (m Mount) IsFUSE() bool {
	return isFUSEType(m.FSType)
}

// BDI names the backing device the kernel lists for m in /sys/class/bdi
// by its device numbers: fuseblk mounts add a suffix, so that theirs does
// not clash with the block device's own.
func (m Mount) BDI() string {
	id := fmt.Sprintf("%d:%d", m.Major, m.Minor)
	if m.FSType == "fuseblk" {
		id += "-fuseblk"
	}
	return id
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
	// BarrierServerFsync: a FUSE file system whose server, on every fsync
	// or fsyncdir, writes everything it was handed and flushes its device
	// (Caps.FsyncFlushesAll): one fsync of a directory on it is the
	// barrier of a whole batch, and reports the batch's errors.
	BarrierServerFsync
)

func (b Barrier) String() string {
	switch b {
	case BarrierSyncFS:
		return "syncfs"
	case BarrierSyncFSFlush:
		return "syncfs + fsync"
	case BarrierServerFsync:
		return "one fsync"
	}
	return "per-file fsync"
}

// WholeFS reports whether one barrier covers every write on the file
// system, so that batches can share it.
func (b Barrier) WholeFS() bool { return b == BarrierSyncFS || b == BarrierSyncFSFlush }

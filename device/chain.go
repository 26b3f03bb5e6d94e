package device

import (
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/pagecache"
)

// Chain is the way a write to a path travels down to the media: the file
// system and its mount, the FUSE server if one sits in between, the block
// device, its disk, and for a loop device the chain of its backing file.
type Chain struct {
	Path          string
	Mount         fsinfo.Mount
	Kind          fsinfo.Kind // what is really on the device (exfat under fuseblk)
	Barrier       fsinfo.Barrier
	BarrierReason string
	Server        *proc.Process // the FUSE server; nil for kernel file systems
	Device        string        // the block device the file system reads: "/dev/loop3p1"; "" when none
	Disk          *Disk         // the whole disk of Device
	Partition     *Partition    // the partition of Disk that is Device; nil for a whole disk
	// Backing continues the chain below a loop device: the file system
	// that holds its backing file.
	Backing *Chain
	// DiskBDI is the writeback control of the disk; MountBDI that of the
	// file system's own device number when it differs (FUSE mounts get
	// their own, with strict_limit on).
	DiskBDI, MountBDI *pagecache.BDI
}

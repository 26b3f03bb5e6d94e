package device

import "github.com/sure-tools/sure/fsinfo"

// Chain is the way a write to a path travels down to the media: the file
// system and its mount, the FUSE server if one sits in between, the block
// device, its disk, and for a loop device the chain of its backing file.
type Chain struct {
	Path          string
	Mount         fsinfo.Mount
	Kind          fsinfo.Kind // what is really on the device (exfat under fuseblk)
	Barrier       fsinfo.Barrier
	BarrierReason string
	Server        *Process   // the FUSE server; nil for kernel file systems
	Device        string     // the block device the file system reads: "/dev/loop3p1"; "" when none
	Disk          *Disk      // the whole disk of Device
	Partition     *Partition // the partition of Disk that is Device; nil for a whole disk
	// Backing continues the chain below a loop device: the file system
	// that holds its backing file.
	Backing *Chain
	// DiskBDI is the writeback control of the disk; MountBDI that of the
	// file system's own device number when it differs (FUSE mounts get
	// their own, with strict_limit on).
	DiskBDI, MountBDI *BDI
}

// Process is a running program, as /proc shows it.
type Process struct {
	PID     int      `json:"pid"`
	Command []string `json:"command"`
}

// BDI is the kernel's writeback control for one device
// (/sys/class/bdi/MAJ:MIN), and its dirty counters when debugfs is
// mounted.
type BDI struct {
	ID          string `json:"id"`           // "7:3"
	StrictLimit bool   `json:"strict_limit"` // the device may never exceed its share of dirty memory
	MaxRatio    int    `json:"max_ratio"`    // percent of the dirty limit the device may use
	MinRatio    int    `json:"min_ratio"`
	// MaxBytes and MinBytes are the same limits in bytes (Linux 6.2 and
	// later; HasBytes false before).
	MaxBytes     int64 `json:"max_bytes"`
	MinBytes     int64 `json:"min_bytes"`
	HasBytes     bool  `json:"has_bytes"`
	ReadAheadKB  int64 `json:"read_ahead_kb"`
	StableWrites bool  `json:"stable_writes"` // pages are not modified while written back
	// Stats holds /sys/kernel/debug/bdi/MAJ:MIN/stats with sizes in bytes
	// (BdiWriteback, BdiReclaimable, BdiDirtyThresh, ...); nil when debugfs
	// is not mounted or not readable.
	Stats map[string]int64 `json:"debugfs_stats,omitempty"`
}

// Dirty is the system's memory waiting to be written (/proc/meminfo).
type Dirty struct {
	Dirty     int64 `json:"dirty"`     // bytes changed in memory, not yet being written
	Writeback int64 `json:"writeback"` // bytes being written now
}

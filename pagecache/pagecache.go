// Package pagecache reports what the kernel still holds in RAM for files,
// trees, file systems and the whole system: bytes cached, dirty (written by
// a program, not yet sent to the device) and under writeback (sent, not yet
// acknowledged). A byte that is dirty or under writeback is at level L0 of
// the guarantee ladder (README.md): pulling the stick now loses it.
//
// Per file it uses cachestat(2) (Linux 6.5 and newer), exact; for the
// system /proc/meminfo; per backing device the bdi statistics of debugfs
// when debugfs is mounted, which are approximate. It never mounts debugfs
// itself: that is a system-wide change some systems forbid (kernel
// lockdown), and a walk of the file system with cachestat answers the
// question exactly.
package pagecache

import (
	"errors"
	"fmt"
	"time"
)

// Stat counts the page cache of one file or a sum of files, in bytes.
type Stat struct {
	Cached    int64 // in the page cache at all
	Dirty     int64 // changed in RAM, not yet written to the device
	Writeback int64 // being written to the device, not yet acknowledged
}

// Add sums o into s.
func (s *Stat) Add(o Stat) {
	s.Cached += o.Cached
	s.Dirty += o.Dirty
	s.Writeback += o.Writeback
}

// Pending is what would be lost if the device went away now.
func (s Stat) Pending() int64 { return s.Dirty + s.Writeback }

// Tree is the sum over the files under a directory.
type Tree struct {
	Stat
	Files int // regular files looked at
	// Unreadable counts files that could not be opened; their pages are
	// not in Stat, so Stat is a lower bound while it is not zero.
	Unreadable int
	FirstErr   error     // the first such failure, naming the file
	NewestC    time.Time // the latest change time (ctime) of any entry
}

// System is /proc/meminfo's view: every file system together.
type System struct {
	Dirty     int64 `json:"dirty"`     // bytes changed in memory, not yet being written
	Writeback int64 `json:"writeback"` // bytes being written now
}

// BDI is the kernel's writeback control for one backing device
// (/sys/class/bdi/NAME) and, when debugfs is mounted, its counts there
// (bdi/NAME/stats): all file systems on it together, metadata included.
// The kernel prints per-CPU counters without folding them, so the counts
// are approximate (off by up to some hundred KiB, for good): good for
// watching a flush drain, never for saying "nothing is left".
type BDI struct {
	ID          string `json:"id"`           // "7:3", "0:45-fuseblk" or "btrfs-1"
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
	// Stats holds debugfs's counts with sizes in bytes (BdiWriteback,
	// BdiReclaimable, BdiDirtyThresh, b_dirty, ...); nil when debugfs is
	// not mounted or not readable.
	Stats map[string]int64 `json:"debugfs_stats,omitempty"`
}

// Dirty is what waits to be written back (BdiReclaimable).
func (b BDI) Dirty() int64 { return b.Stats["BdiReclaimable"] }

// Writeback is what is being written back (BdiWriteback).
func (b BDI) Writeback() int64 { return b.Stats["BdiWriteback"] }

// DirtyInodes counts the inodes on the b_dirty, b_io and b_more_io lists.
func (b BDI) DirtyInodes() int {
	return int(b.Stats["b_dirty"] + b.Stats["b_io"] + b.Stats["b_more_io"])
}

// ErrNoCachestat means the kernel lacks cachestat(2).
var ErrNoCachestat = errors.New("cachestat(2) is not available")

// ErrUnsupported is returned where page-cache figures are not read (not
// Linux).
var ErrUnsupported = errors.New("page-cache figures are read only on Linux")

// ErrNoDebugfs means debugfs is not mounted, so per-device figures are
// not available.
var ErrNoDebugfs = errors.New("debugfs is not mounted")

// Explain turns an error of this package into words for the user, with
// what to do about it.
func Explain(err error) string {
	switch {
	case errors.Is(err, ErrNoCachestat):
		rel := kernelRelease()
		if rel == "" {
			return "per-file dirty bytes need cachestat(2), Linux 6.5 or newer"
		}
		return fmt.Sprintf("per-file dirty bytes need cachestat(2), Linux 6.5 or newer; this kernel is %s (run 'sure sync PATH' to be safe)", rel)
	case errors.Is(err, ErrUnsupported):
		return "page-cache figures are read only on Linux"
	}
	return err.Error()
}

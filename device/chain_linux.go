package device

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/internal/sysfs"
	"github.com/sure-tools/sure/pagecache"
)

// Trace follows path down to the media. A path on a file system without a
// block device (tmpfs, a FUSE file system reading no device) yields a
// Chain with Device empty, not an error: that too is an answer.
func Trace(path string) (Chain, error) {
	return trace(path, 0)
}

// maxDepth bounds loop devices stacked on files on loop devices.
const maxDepth = 8

func trace(path string, depth int) (Chain, error) {
	m, err := fsinfo.ForPath(path)
	if err != nil {
		return Chain{}, err
	}
	c := Chain{Path: path, Mount: m, Kind: fsinfo.KindOf(m)}
	c.Barrier, c.BarrierReason = fsinfo.BarrierFor(m)
	if m.IsFUSE() {
		c.Server = fuseServer(m)
	}
	if b, err := readBDI(m.BDI()); err == nil {
		c.MountBDI = &b
	}
	dev, ok := mountDev(m)
	if !ok {
		return c, nil
	}
	name, err := sysfs.Name(unix.Major(dev), unix.Minor(dev))
	if err != nil {
		return c, nil
	}
	c.Device = "/dev/" + name
	d, p, err := resolve(c.Device)
	if err != nil {
		return c, err
	}
	c.Disk = &d
	if p != nil {
		c.Partition = p
	}
	if b, err := ReadBDI(d.Major, d.Minor); err == nil {
		c.DiskBDI = &b
		if c.MountBDI != nil && c.MountBDI.ID == b.ID {
			c.MountBDI = nil
		}
	}
	if d.BackingFile != "" && depth < maxDepth {
		if _, err := os.Stat(d.BackingFile); err == nil {
			if b, err := trace(d.BackingFile, depth+1); err == nil {
				c.Backing = &b
			}
		}
	}
	return c, nil
}

// fuseServer finds the process serving the FUSE mount m.
func fuseServer(m fsinfo.Mount) *Process {
	if ps := proc.FUSEServers(m.MountPoint, m.Source); len(ps) > 0 {
		return &Process{PID: ps[0].PID, Command: ps[0].Args}
	}
	return nil
}

// ReadBDI reads the writeback control of device major:minor.
func ReadBDI(major, minor uint32) (BDI, error) {
	return readBDI(fmt.Sprintf("%d:%d", major, minor))
}

func readBDI(id string) (BDI, error) {
	dir := filepath.Join(sysfs.BDIs, id)
	if _, err := os.Stat(dir); err != nil {
		return BDI{}, err
	}
	b := BDI{
		ID:           id,
		StrictLimit:  sysfs.Int(dir, "strict_limit") != 0,
		MaxRatio:     int(sysfs.Int(dir, "max_ratio")),
		MinRatio:     int(sysfs.Int(dir, "min_ratio")),
		ReadAheadKB:  sysfs.Int(dir, "read_ahead_kb"),
		StableWrites: sysfs.Int(dir, "stable_pages_required") != 0,
	}
	if s := sysfs.Str(dir, "max_bytes"); s != "" {
		b.HasBytes = true
		b.MaxBytes = sysfs.Int(dir, "max_bytes")
		b.MinBytes = sysfs.Int(dir, "min_bytes")
	}
	b.Stats, _ = sysfs.BDIStats(filepath.Join("/sys/kernel/debug/bdi", id, "stats"))
	return b, nil
}

// SystemDirty reads Dirty and Writeback from /proc/meminfo.
func SystemDirty() (Dirty, error) {
	m, err := pagecache.Meminfo()
	return Dirty{Dirty: m.Dirty, Writeback: m.Writeback}, err
}

// DebugFSMounted reports whether per-device dirty counters can be read.
func DebugFSMounted() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/kernel/debug", &st) == nil && st.Type == unix.DEBUGFS_MAGIC
}

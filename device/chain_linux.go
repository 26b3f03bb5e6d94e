package device

import (
	"os"

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
	if b, err := pagecache.ReadBDI(m.BDI()); err == nil {
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
	if b, err := pagecache.ReadBDI(d.ID()); err == nil {
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
func fuseServer(m fsinfo.Mount) *proc.Process {
	if ps := proc.FUSEServers(m.MountPoint, m.Source); len(ps) > 0 {
		return &ps[0]
	}
	return nil
}

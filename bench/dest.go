//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// Destination kinds.
const (
	onStick = "stick" // the lab's virtual USB stick, bandwidth and flush latency limited
	onPlain = "plain" // an image file on the host's disk, on a loop device
)

// dest is a fresh, empty, mounted file system for one run.
type dest struct {
	kind  string
	dir   string // mount point
	state string // directory holding the image or the stick's state
	disk  *vdisk.Disk
	dev   string
	mnt   *fsimage.Mounted
}

// destSpec says what newDest makes.
type destSpec struct {
	kind     string
	fs       string
	size     int64
	stateDir string // where the image or the stick's state goes
	faults   vdisk.Faults
	raw      bool // no file system: the bare block device, for its rate
}

// newDest makes and mounts a fresh file system. On a stick the limits are
// armed only once the file system is made, mounted and flushed, so that
// setup costs nothing and the run starts with an empty volatile cache.
func newDest(s destSpec) (d *dest, err error) {
	s.size = max(s.size, fsimage.MinSize(s.fs))
	s.size = (s.size + 1<<20 - 1) &^ (1<<20 - 1)
	state, err := os.MkdirTemp(s.stateDir, s.kind+"-")
	if err != nil {
		return nil, err
	}
	d = &dest{kind: s.kind, state: state, dir: filepath.Join(state, "mnt")}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.close())
		}
	}()
	if err := os.Mkdir(d.dir, 0o755); err != nil {
		return d, err
	}
	switch s.kind {
	case onPlain:
		img := filepath.Join(state, "plain.img")
		if s.raw {
			if err := sparseFile(img, s.size); err != nil {
				return d, err
			}
			d.dev, err = fsimage.Attach(img)
			return d, err
		}
		if err := fsimage.Create(s.fs, img, s.size); err != nil {
			return d, err
		}
		if d.mnt, err = fsimage.MountImage(s.fs, img, d.dir); err != nil {
			return d, err
		}
		return d, d.flush()
	case onStick:
		if d.disk, err = vdisk.Start(vdisk.Config{Dir: filepath.Join(state, "vdisk"), Size: s.size, Seed: 1}); err != nil {
			return d, err
		}
		if d.dev, err = fsimage.Attach(d.disk.Image); err != nil {
			return d, err
		}
		if s.raw {
			return d, d.disk.SetFaults(s.faults)
		}
		if err := fsimage.Mkfs(s.fs, d.dev); err != nil {
			return d, err
		}
		if d.mnt, err = fsimage.Mount(s.fs, d.dev, d.dir); err != nil {
			return d, err
		}
		if err := d.flush(); err != nil {
			return d, err
		}
		return d, d.disk.SetFaults(s.faults)
	}
	return d, fmt.Errorf("unknown destination %q", s.kind)
}

func sparseFile(name string, n int64) error {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(n)
	return errors.Join(err, f.Close())
}

// flush makes what mkfs and mount wrote durable: syncfs, then fsync of the
// block device, which sends the cache flush.
func (d *dest) flush() error {
	f, err := os.Open(d.dir)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(f.Fd()))
	f.Close()
	if err != nil {
		return &os.PathError{Op: "syncfs", Path: d.dir, Err: err}
	}
	dev := d.dev
	if dev == "" && d.mnt != nil {
		dev = d.mnt.Device
	}
	return fsimage.SyncDevice(dev)
}

// received is how many bytes the stick has accepted so far.
func (d *dest) received() (int64, error) {
	st, err := d.disk.Stats()
	return st.BytesReceived, err
}

// close tears everything down. A stick's limits are lifted first: what a
// command left in the page cache (cp without sync) is written out at the
// host disk's speed, not the stick's, since it is no longer timed.
func (d *dest) close() error {
	var errs []error
	if d.disk != nil {
		errs = append(errs, d.disk.SetFaults(vdisk.Faults{}))
	}
	if d.mnt != nil {
		errs = append(errs, d.mnt.Unmount())
	}
	if d.dev != "" {
		errs = append(errs, fsimage.Detach(d.dev))
	}
	if d.disk != nil {
		errs = append(errs, d.disk.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tearing down %s (left in place): %w", d.state, err)
	}
	return os.RemoveAll(d.state)
}

//go:build linux

// Package vstick puts a real file system on the virtual USB stick of
// lab/vdisk for tests: a vdisk server, a loop device on its disk.img, mkfs,
// a mount, and the same steps undone when the test ends. Pull and Replug
// model a yank and the stick coming back, as lab/powercut does.
package vstick

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// Stick is a mounted file system on a virtual stick.
type Stick struct {
	Kind string
	Disk *vdisk.Disk
	Dev  string // loop device on disk.img
	Dir  string // mount point
	live *fsimage.Mounted
}

// New makes a stick of size bytes (0: the smallest kind accepts) holding a
// fresh file system of kind, mounted on a directory of the test's. The
// file system starts durable: nothing of mkfs is left in the stick's
// volatile cache.
func New(t testing.TB, kind string, size int64) *Stick {
	t.Helper()
	fsimage.Require(t, kind)
	if size == 0 {
		size = fsimage.MinSize(kind)
	}
	dir := t.TempDir()
	s := &Stick{Kind: kind}
	var err error
	s.Disk, err = vdisk.Start(vdisk.Config{Dir: filepath.Join(dir, "vdisk"), Size: size, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Disk.Close(); err != nil {
			t.Error(err)
		}
	})
	if s.Dev, err = fsimage.Attach(s.Disk.Image); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.live != nil {
			return // detached by the unmount
		}
		if err := fsimage.Detach(s.Dev); err != nil {
			t.Error(err)
		}
	})
	if err := fsimage.Mkfs(kind, s.Dev); err != nil {
		t.Fatal(err)
	}
	if err := fsimage.SyncDevice(s.Dev); err != nil {
		t.Fatal(err)
	}
	s.Dir = filepath.Join(dir, "stick")
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.live, err = fsimage.Mount(kind, s.Dev, s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	s.live.Image = s.Disk.Image // so that Unmount and Abort detach the loop device
	t.Cleanup(func() {
		if st, _ := s.Disk.Stats(); st.Yanked {
			s.live.Abort()
			return
		}
		if err := s.live.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Faults arms faults on the stick from now on.
func (s *Stick) Faults(t testing.TB, f vdisk.Faults) {
	t.Helper()
	if err := s.Disk.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

// Pull yanks the stick: out gets what a power cut at this instant leaves
// (the durable image plus a prefix of the writes in the drive's volatile
// cache, drawn by seed), and every later I/O fails. Programs using the
// stick see errors; Remove then tears the dead mount down.
func (s *Stick) Pull(t testing.TB, out string, seed uint64) vdisk.CutResult {
	t.Helper()
	res, err := s.Disk.Cut(vdisk.CutOptions{Out: out, Mode: vdisk.CutPrefix, Seed: seed, Yank: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Remove tears down the mount of a pulled stick, freeing its mount point
// for Replug: FUSE servers are killed, not waited for.
func (s *Stick) Remove(t testing.TB) {
	t.Helper()
	if err := s.live.Abort(); err != nil {
		t.Log(err)
	}
}

// Replug mounts the image a pull left on dir, as a computer does when the
// stick comes back: FAT and exFAT are checked and repaired first, the
// kernel file systems replay their journal at mount. It unmounts when the
// test ends.
func Replug(t testing.TB, kind, image, dir string) *fsimage.Mounted {
	t.Helper()
	if out, err := fsimage.Fsck(kind, image); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if kind == "btrfs" {
		// btrfs remembers the dead stick's device under the same UUID.
		exec.Command("btrfs", "device", "scan", "--forget").Run()
	}
	m, err := fsimage.MountImage(kind, image, dir)
	if err != nil {
		t.Fatal(err)
	}
	m.UnmountAtEnd(t)
	return m
}

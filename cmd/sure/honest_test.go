//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// mountFusefatRelative mounts a new FAT32 image with fusefat the way a
// user typing "fusefat /dev/loop0 mnt" does: a relative mount point, and
// a server that daemonizes (its working directory becomes /, so its
// arguments no longer name the mount point). It returns the mount point.
func mountFusefatRelative(t *testing.T) string {
	t.Helper()
	fsimage.Require(t, "vfat")
	dir := t.TempDir()
	img := filepath.Join(dir, "fat.img")
	if err := fsimage.Create("vfat", img, fsimage.MinSize("vfat")); err != nil {
		t.Fatal(err)
	}
	dev, err := fsimage.Attach(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsimage.Detach(dev); err != nil {
			t.Error(err)
		}
	})
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("fusefat", "-o", "rw+", dev, "mnt")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !fsimage.IsMountPoint(mnt) {
		t.Fatalf("fusefat %s mnt: %v\n%s", dev, err, out)
	}
	pid := serverOf(t, "fusefat", dev)
	t.Cleanup(func() {
		var err error
		for range 50 {
			if err = unix.Unmount(mnt, 0); err != unix.EBUSY {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("umount %s: %v", mnt, err)
		}
		for proc.Alive(pid) { // it writes everything back before it exits
			time.Sleep(20 * time.Millisecond)
		}
	})
	return mnt
}

// serverOf finds the daemon running program on dev.
func serverOf(t *testing.T, program, dev string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) == program && slices.Contains(args, dev) {
			return pid
		}
	}
	t.Fatalf("no %s process serves %s", program, dev)
	return 0
}

// fusefat implements no fsync (the kernel answers every fsync there with
// success), so on it only a flush of the block device below reaches the
// media. Where that device cannot be found, nothing sure does is known
// to make the data durable: sure must say so, not claim it.
func TestFusefatWithoutDeviceNotDurable(t *testing.T) {
	mnt := mountFusefatRelative(t)
	src := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(src, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runSure(t, "cp", src, mnt)
	if code == 0 || strings.Contains(stderr, "durable on") {
		t.Errorf("sure cp onto fusefat with no device found: exit %d, claims durable:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "no block device") {
		t.Errorf("sure cp does not say what is missing:\n%s", stderr)
	}
	if names, _ := os.ReadDir(mnt); slices.ContainsFunc(names, func(e os.DirEntry) bool { return e.Name() != "-" }) {
		// fusefat lists an entry "-" of its own on a fresh volume.
		t.Errorf("a refused copy wrote %v", names)
	}

	if err := os.WriteFile(filepath.Join(mnt, "b.txt"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runSure(t, "sync", mnt)
	if code == 0 || strings.Contains(stderr, "sure: flushed") {
		t.Errorf("sure sync of fusefat with no device found: exit %d, claims a flush:\n%s", code, stderr)
	}
}

// A flush the stick fails while sure cp runs, whichever of its flushes
// that is (a barrier's or the last one of the drive), must never end in
// exit 0: nothing sure reports may rest on a flush whose error it dropped.
// A clean run counts the flushes one copy takes; then each of them fails
// in turn on a fresh stick.
func TestFailedFlushNeverExitsZero(t *testing.T) {
	src := filepath.Join(t.TempDir(), "a.bin")
	if err := writeRandom(src, 256<<10); err != nil {
		t.Fatal(err)
	}
	flushes := func(s *vstick.Stick) vdisk.Stats {
		t.Helper()
		st, err := s.Disk.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	clean := vstick.New(t, "ext4", 0)
	before := flushes(clean).Flushes
	if code, _, stderr := runSure(t, "cp", src, clean.Dir); code != 0 {
		t.Fatalf("sure cp onto a working stick: exit %d\n%s", code, stderr)
	}
	n := flushes(clean).Flushes - before
	if n == 0 {
		t.Fatal("sure cp sent the stick no flush")
	}
	for i := int64(1); i <= n; i++ {
		s := vstick.New(t, "ext4", 0)
		s.Faults(t, vdisk.Faults{FailFlush: i})
		code, _, stderr := runSure(t, "cp", src, s.Dir)
		if st := flushes(s); st.FailedFlushes > 0 && code == 0 {
			t.Errorf("flush %d of %d failed, yet sure cp exited 0:\n%s", i, n, stderr)
		}
	}
}

// mount -o loop sets the loop device to detach itself when its last user
// lets go (autoclear): the unmount of an eject detaches it. That is the
// eject succeeding, not failing, and the data must be durable in the
// image all the same.
func TestEjectLoopMount(t *testing.T) {
	fsimage.Require(t, "ext4")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "stick.img"), filepath.Join(dir, "mnt")
	if err := fsimage.Create("ext4", img, fsimage.MinSize("ext4")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if fsimage.IsMountPoint(mnt) {
			exec.Command("umount", mnt).Run()
		}
		if out, _ := exec.Command("losetup", "--noheadings", "--output", "NAME", "-j", img).Output(); len(out) > 0 {
			for _, d := range strings.Fields(string(out)) {
				fsimage.Detach(d)
			}
		}
	})
	if err := os.WriteFile(filepath.Join(mnt, "data"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runSure(t, "eject", mnt)
	if code != 0 || !strings.HasPrefix(stdout, "safe to remove /dev/loop") || strings.Contains(stderr, "NOT safe") {
		t.Errorf("sure eject of a mount -o loop: exit %d\n%s%s", code, stdout, stderr)
	}
	if fsimage.IsMountPoint(mnt) {
		t.Fatalf("%s is still mounted", mnt)
	}
	if out, _ := exec.Command("losetup", "-j", img).Output(); len(out) > 0 {
		t.Errorf("the image is still attached: %s", out)
	}
	m, err := fsimage.MountImage("ext4", img, mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	if b, err := os.ReadFile(filepath.Join(mnt, "data")); err != nil || string(b) != "kept\n" {
		t.Errorf("after the eject the image holds %q, %v", b, err)
	}
}

// sure eject of the running system's disk is refused before anything is
// flushed or unmounted.
func TestEjectRootRefused(t *testing.T) {
	code, stdout, stderr := runSure(t, "eject", "/")
	if code != 1 || stdout != "" {
		t.Errorf("sure eject /: exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, "running system") || strings.Contains(stderr, "flush") || strings.Contains(stderr, "unmount") {
		t.Errorf("sure eject / was not refused up front:\n%s", stderr)
	}
}

// A file system held busy by many processes is named with the first few
// holders and a count of the rest, not one line with every PID.
func TestEjectBusyListCapped(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	const holders = 15
	for range holders {
		c := exec.Command("sleep", "600")
		c.Dir = m.Dir
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	code, _, stderr := runSure(t, "eject", m.Dir)
	if code != 1 {
		t.Fatalf("sure eject of a busy file system: exit %d", code)
	}
	if n := strings.Count(stderr, "(sleep, cwd)"); n != 10 || !strings.Contains(stderr, "and 5 more processes") {
		t.Errorf("want 10 holders named and 5 counted, got %d named:\n%s", n, stderr)
	}
}

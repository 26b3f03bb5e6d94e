//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/internal/sysfs"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
	"github.com/sure-tools/sure/udisks/udiskstest"
)

// mountFusefatRelative mounts a new FAT32 image with fusefat the way a
// user typing "fusefat /dev/loop0 mnt" does: a relative mount point, and
// a server that daemonizes (its working directory becomes /, so its
// arguments no longer name the mount point). It returns the mount point.
func mountFusefatRelative(t *testing.T) string {
	t.Helper()
	fsimage.Require(t, "vfat")
	dir := t.TempDir()
	dev := freshLoop(t, "vfat", filepath.Join(dir, "fat.img"))
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
	pid := fsimage.FindServer(program, "", dev)
	if pid == 0 {
		t.Fatalf("no %s process serves %s", program, dev)
	}
	return pid
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
// exit 0 with writes left that no good flush covered: nothing sure
// reports may rest on a flush whose error it dropped.
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
	// A fresh mount may hold a journal transaction that jbd2's timer
	// commits in the middle of the run, a flush that is not sure's and
	// whose failure the kernel keeps to itself: commit it first.
	settle := func(s *vstick.Stick) {
		t.Helper()
		f, err := os.Open(s.Dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			t.Fatal(err)
		}
	}
	clean := vstick.New(t, "ext4", 0)
	settle(clean)
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
		settle(s)
		s.Faults(t, vdisk.Faults{FailFlush: i})
		code, _, stderr := runSure(t, "cp", src, s.Dir)
		// The kernel sends flushes of its own (jbd2 updating the journal's
		// tail) and drops their errors; one of those failing does not
		// undo a good flush of sure's after it. What exit 0 may never
		// rest on is a write no good flush has covered since.
		if st := flushes(s); st.FailedFlushes > 0 && code == 0 && st.EpochWrites != 0 {
			t.Errorf("flush %d of %d failed and %d writes were not flushed since, yet sure cp exited 0:\n%s", i, n, st.EpochWrites, stderr)
		}
	}
}

// mount -o loop sets the loop device to detach itself when its last user
// lets go (autoclear): the unmount of an eject detaches it. That is the
// eject succeeding, not failing, and the data must be durable in the
// image all the same.
func TestEjectLoopMount(t *testing.T) {
	mnt, img, _ := mountLoop(t)
	if err := os.WriteFile(filepath.Join(mnt, "data"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runSure(t, "eject", mnt)
	checkEjectedLoop(t, mnt, img, code, stdout, stderr)
}

// mountLoop mounts a new ext4 image with mount -o loop (autoclear) and
// returns the mount point, the image and the loop device.
func mountLoop(t *testing.T) (string, string, string) {
	t.Helper()
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
		for _, d := range loopsOf(img) {
			fsimage.Detach(d)
		}
	})
	devs := loopsOf(img)
	if len(devs) != 1 {
		t.Fatalf("%s is on %v", img, devs)
	}
	return mnt, img, devs[0]
}

// checkEjectedLoop checks that the eject of a mount -o loop succeeded and
// left the data in the image.
func checkEjectedLoop(t *testing.T, mnt, img string, code int, stdout, stderr string) {
	t.Helper()
	if code != 0 || !strings.HasPrefix(stdout, "safe to remove /dev/loop") || strings.Contains(stderr, "NOT safe") {
		t.Errorf("sure eject of a mount -o loop: exit %d\n%s%s", code, stdout, stderr)
	}
	if fsimage.IsMountPoint(mnt) {
		t.Fatalf("%s is still mounted", mnt)
	}
	if devs := loopsOf(img); len(devs) > 0 {
		t.Errorf("the image is still attached to %v", devs)
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

// The same through UDisks2: its unmount lets the loop device go too.
func TestEjectLoopMountUDisks(t *testing.T) {
	fsimage.Require(t, "ext4")
	c := udiskstest.Start(t)
	mnt, img, dev := mountLoop(t)
	if err := os.WriteFile(filepath.Join(mnt, "data"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	udiskstest.Settle(t)
	for deadline := time.Now().Add(30 * time.Second); !slices.Contains(udiskstest.WaitBlock(t, c, dev).MountPoints, mnt); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("UDisks2 does not see %s mounted on %s", dev, mnt)
		}
	}
	code, stdout, stderr := runSure(t, "eject", "--udisks", mnt)
	checkEjectedLoop(t, mnt, img, code, stdout, stderr)
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

// worldDir makes a directory every user may enter and read.
func worldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sure-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// nobodyBinary copies this test binary, which runs as sure under that
// name, into dir, where any user may run it.
func nobodyBinary(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sure")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runSureAsNobody runs sure as the user nobody, with no groups: a normal
// user who may not open block devices. bin is from nobodyBinary.
func runSureAsNobody(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("sure %s (as nobody): exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

// freshLoop makes a new file system of kind in img and attaches it to a
// loop device, detached when the test ends.
func freshLoop(t *testing.T, kind, img string) string {
	t.Helper()
	if err := fsimage.Create(kind, img, fsimage.MinSize(kind)); err != nil {
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
	return dev
}

// mountAsStick mounts a new image of kind (exfat or vfat) with its FUSE
// server, owned by nobody as a desktop mounts a stick for its user. It
// returns the mount point and the loop device.
func mountAsStick(t *testing.T, dir, kind string) (string, string) {
	t.Helper()
	fsimage.Require(t, kind)
	dev := freshLoop(t, kind, filepath.Join(dir, kind+".img"))
	mnt := filepath.Join(dir, kind)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mount.exfat-fuse", "-o", "uid=65534,gid=65534", dev, mnt)
	program := "mount.exfat-fuse"
	if kind == "vfat" {
		cmd = exec.Command("fusefat", "-o", "rw+,allow_other,uid=65534", dev, mnt)
		program = "fusefat"
	}
	if out, err := cmd.CombinedOutput(); err != nil || !fsimage.IsMountPoint(mnt) {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	pid := serverOf(t, program, dev)
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("umount %s: %v", mnt, err)
		}
		for proc.Alive(pid) {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return mnt, dev
}

// loopFlushes is the count of cache flushes dev has completed.
func loopFlushes(t *testing.T, dev string) uint64 {
	t.Helper()
	st, err := sysfs.ReadStat(sysfs.DiskDir(filepath.Base(dev)))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := st.Flushes()
	if !ok {
		t.Skipf("%s: the kernel counts no flushes", dev)
	}
	return n
}

// A normal user cannot open the block device under a FUSE stick. On
// exFAT that flush is not needed: exfat-fuse flushes its device on every
// fsync, so the copy must be durable all the same. fusefat implements no
// fsync, so there nothing a normal user can do reaches the media: one
// refusal before anything is written, saying why and what to do.
func TestNormalUserOntoFUSEStick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount sticks and to become nobody")
	}
	dir := worldDir(t)
	bin := nobodyBinary(t, dir)
	src := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(src, []byte("for the stick\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("exfat", func(t *testing.T) {
		mnt, dev := mountAsStick(t, dir, "exfat")
		before := loopFlushes(t, dev)
		code, _, stderr := runSureAsNobody(t, bin, "cp", src, mnt)
		if code != 0 || !strings.Contains(stderr, "1 file, 14 B durable") {
			t.Errorf("sure cp as nobody onto exfat-fuse: exit %d\n%s", code, stderr)
		}
		if got, err := os.ReadFile(filepath.Join(mnt, "a.txt")); err != nil || string(got) != "for the stick\n" {
			t.Errorf("the copy holds %q, %v", got, err)
		}
		if after := loopFlushes(t, dev); after == before {
			t.Errorf("no cache flush reached %s during the copy", dev)
		}
		if code, _, stderr := runSureAsNobody(t, bin, "sync", mnt); code != 0 || !strings.Contains(stderr, "sure: flushed") {
			t.Errorf("sure sync as nobody of exfat-fuse: exit %d\n%s", code, stderr)
		}
		// The user may not read the boot sector, yet the names exFAT
		// cannot hold are still refused up front.
		bad := filepath.Join(dir, "a:b")
		if err := os.WriteFile(bad, []byte("colon\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runSureAsNobody(t, bin, "cp", bad, mnt); code != 1 || !strings.Contains(stderr, "(exFAT); nothing was written") {
			t.Errorf("sure cp as nobody of 'a:b' onto exfat-fuse: exit %d, want a refusal\n%s", code, stderr)
		}
	})

	t.Run("vfat", func(t *testing.T) {
		mnt, _ := mountAsStick(t, dir, "vfat")
		code, _, stderr := runSureAsNobody(t, bin, "cp", src, mnt)
		if code != 1 || !strings.Contains(stderr, "nothing was written") || !strings.Contains(stderr, "as root") || strings.Contains(stderr, "durable") {
			t.Errorf("sure cp as nobody onto fusefat: exit %d, want one refusal saying what to do\n%s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(mnt, "a.txt")); err == nil {
			t.Error("a refused copy wrote a.txt")
		}
	})
}

// The copy a normal user makes onto an exfat-fuse stick survives a power
// cut right after sure returns, without sure ever opening the device.
func TestNormalUserCopySurvivesPowerCut(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount sticks and to become nobody")
	}
	s := vstick.New(t, "exfat", 0)
	// Mount the stick again for nobody, as a desktop mounts it for its
	// user.
	pid := serverOf(t, "mount.exfat-fuse", s.Dev)
	if err := unix.Unmount(s.Dir, 0); err != nil {
		t.Fatal(err)
	}
	for proc.Alive(pid) {
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := exec.Command("mount.exfat-fuse", "-o", "uid=65534,gid=65534", s.Dev, s.Dir).CombinedOutput(); err != nil {
		t.Fatalf("mount.exfat-fuse: %v\n%s", err, out)
	}
	pid = serverOf(t, "mount.exfat-fuse", s.Dev)
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			unix.Unmount(s.Dir, 0)
			for proc.Alive(pid) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	for d := s.Dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := worldDir(t)
	bin := nobodyBinary(t, dir)
	src := filepath.Join(dir, "a.bin")
	if err := writeRandom(src, 1<<20); err != nil {
		t.Fatal(err)
	}
	os.Chmod(src, 0o644)
	if code, _, stderr := runSureAsNobody(t, bin, "cp", src, s.Dir); code != 0 {
		t.Fatalf("sure cp as nobody onto exfat-fuse: exit %d\n%s", code, stderr)
	}
	crash := filepath.Join(t.TempDir(), "crash.img")
	s.Pull(t, crash, 1)
	unix.Unmount(s.Dir, unix.MNT_DETACH)
	unix.Kill(pid, unix.SIGKILL)
	for proc.Alive(pid) {
		time.Sleep(20 * time.Millisecond)
	}
	unmounted = true
	again := filepath.Join(t.TempDir(), "again")
	os.Mkdir(again, 0o755)
	vstick.Replug(t, "exfat", crash, again)
	want, _ := os.ReadFile(src)
	if got, err := os.ReadFile(filepath.Join(again, "a.bin")); err != nil || !bytes.Equal(got, want) {
		t.Errorf("after a power cut the copy holds %d bytes (%v), want the %d of the source", len(got), err, len(want))
	}
}

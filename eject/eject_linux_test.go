//go:build linux

package eject_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/proc"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/eject"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/udisks/udiskstest"
)

// stick is a file system of kind in an image on a loop device, mounted,
// the way a USB stick would be. Whatever the test leaves mounted or
// attached is undone when it ends.
type stick struct {
	image, dev, dir string
	m               *fsimage.Mounted
}

func newStick(t *testing.T, kind string) *stick {
	t.Helper()
	fsimage.Require(t, kind)
	tmp := t.TempDir()
	s := &stick{image: filepath.Join(tmp, kind+".img"), dir: filepath.Join(tmp, "mnt")}
	if err := fsimage.Create(kind, s.image, fsimage.MinSize(kind)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.dev, err = fsimage.Attach(s.image); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detachAll(t, s.image) })
	if s.m, err = fsimage.Mount(kind, s.dev, s.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// attachedTo lists the loop devices whose backing file is image.
func attachedTo(t *testing.T, image string) []string {
	t.Helper()
	out, err := exec.Command("losetup", "--noheadings", "--output", "NAME", "-j", image).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -j %s: %v: %s", image, err, out)
	}
	return strings.Fields(string(out))
}

func detachAll(t *testing.T, image string) {
	for _, dev := range attachedTo(t, image) {
		if err := fsimage.Detach(dev); err != nil {
			t.Error(err)
		}
	}
}

// eject runs eject.Eject and collects its steps.
func runEject(t *testing.T, arg string, opts eject.Options) ([]eject.Step, error) {
	t.Helper()
	var steps []eject.Step
	opts.Report = func(s eject.Step) {
		t.Log(s)
		steps = append(steps, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := eject.Eject(ctx, arg, opts)
	return steps, err
}

// wantStep fails unless a step whose name starts with prefix ended with o.
func wantStep(t *testing.T, steps []eject.Step, prefix string, o eject.Outcome) {
	t.Helper()
	if !slices.ContainsFunc(steps, func(s eject.Step) bool { return strings.HasPrefix(s.What, prefix) && s.Outcome == o }) {
		t.Errorf("no step %q ended with outcome %d", prefix, o)
	}
}

// wantGone checks that the stick is unmounted and its image detached, and
// that the file written before the eject is in the image.
func wantGone(t *testing.T, s *stick, kind, name string, want []byte) {
	t.Helper()
	if fsimage.IsMountPoint(s.dir) {
		t.Errorf("%s is still mounted", s.dir)
	}
	if devs := attachedTo(t, s.image); len(devs) > 0 {
		t.Fatalf("%s is still attached to %v", s.image, devs)
	}
	if out, err := fsimage.Fsck(kind, s.image); err != nil {
		t.Fatalf("the image needs repair after eject: %v\n%s", err, out)
	}
	check := filepath.Join(t.TempDir(), "check")
	os.Mkdir(check, 0o755)
	m, err := fsimage.MountImage(kind, s.image, check)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	got, err := os.ReadFile(filepath.Join(check, name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s after eject: %d bytes differ from the %d written", name, len(got), len(want))
	}
}

func payload() []byte {
	b := make([]byte, 3<<20+123)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

// Root ejects a mounted ext4 loop device itself: flushed, unmounted,
// detached, and the data is in the image.
func TestEjectDirect(t *testing.T) {
	s := newStick(t, "ext4")
	data := payload()
	if err := os.WriteFile(filepath.Join(s.dir, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	steps, err := runEject(t, s.dir, eject.Options{})
	if err != nil {
		t.Fatalf("eject %s: %v", s.dir, err)
	}
	wantStep(t, steps, "flush "+s.dir, eject.Done)
	wantStep(t, steps, "unmount "+s.dir, eject.Done)
	wantStep(t, steps, "flush "+s.dev, eject.Done)
	wantStep(t, steps, "SCSI SYNCHRONIZE CACHE", eject.Skipped)
	wantStep(t, steps, "detach "+s.dev, eject.Done)
	wantGone(t, s, "ext4", "data", data)
}

// A process working in the file system keeps it busy: eject names the
// process and how it uses the mount, and leaves everything as it was.
func TestEjectBusy(t *testing.T) {
	s := newStick(t, "ext4")
	if err := os.WriteFile(filepath.Join(s.dir, "held"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	inside := exec.Command("sleep", "600")
	inside.Dir = s.dir
	reader := exec.Command("tail", "-f", filepath.Join(s.dir, "held"))
	for _, c := range []*exec.Cmd{inside, reader} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	waitOpen(t, reader.Process.Pid, filepath.Join(s.dir, "held"))

	steps, err := runEject(t, s.dir, eject.Options{})
	var busy *eject.BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("eject of a busy mount: %v, want a BusyError", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"cannot unmount " + s.dir + ": in use by",
		"PID " + itoa(inside.Process.Pid) + " (sleep, cwd)",
		"PID " + itoa(reader.Process.Pid) + " (tail, " + filepath.Join(s.dir, "held") + ")",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	wantStep(t, steps, "unmount "+s.dir, eject.Failed)
	if slices.ContainsFunc(steps, func(s eject.Step) bool { return strings.HasPrefix(s.What, "detach") }) {
		t.Error("eject went on after the failed unmount")
	}
	if !fsimage.IsMountPoint(s.dir) {
		t.Errorf("%s was unmounted although busy", s.dir)
	}
	if devs := attachedTo(t, s.image); len(devs) != 1 {
		t.Errorf("%s attached to %v, want it still attached", s.image, devs)
	}
}

// waitOpen waits until process pid has file open.
func waitOpen(t *testing.T, pid int, file string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		fds, _ := os.ReadDir("/proc/" + itoa(pid) + "/fd")
		for _, fd := range fds {
			if l, _ := os.Readlink("/proc/" + itoa(pid) + "/fd/" + fd.Name()); l == file {
				return
			}
		}
	}
	t.Fatalf("PID %d never opened %s", pid, file)
}

func itoa(n int) string { return strconv.Itoa(n) }

// An exFAT stick served by exfat-fuse: the server must have exited (it
// writes back on unmount) before the device is flushed and detached.
func TestEjectFUSE(t *testing.T) {
	for _, kind := range []string{"exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			s := newStick(t, kind)
			server := s.m.ServerPID()
			data := payload()
			if err := os.WriteFile(filepath.Join(s.dir, "data"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			steps, err := runEject(t, s.dir, eject.Options{})
			if err != nil {
				t.Fatalf("eject %s: %v", s.dir, err)
			}
			wantStep(t, steps, "wait for the FUSE server", eject.Done)
			wantStep(t, steps, "flush "+s.dev, eject.Done)
			wantStep(t, steps, "detach "+s.dev, eject.Done)
			if err := unix.Kill(server, 0); err == nil && proc.Alive(server) {
				t.Errorf("FUSE server %d still runs after eject", server)
			}
			wantGone(t, s, kind, "data", data)
		})
	}
}

// Through UDisks2, as a desktop user would: the real udisksd unmounts the
// file system and deletes the loop device.
func TestEjectUDisks(t *testing.T) {
	fsimage.Require(t, "ext4")
	c := udiskstest.Start(t)
	s := newStick(t, "ext4")
	data := payload()
	if err := os.WriteFile(filepath.Join(s.dir, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	udiskstest.Settle(t)
	// udisksd learns of the device through udev and of the mount from
	// the mount table, each a moment later.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b := udiskstest.WaitBlock(t, c, s.dev)
		if slices.Contains(b.MountPoints, s.dir) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("UDisks2 does not see %s mounted on %s: %+v", s.dev, s.dir, b)
		}
	}
	steps, err := runEject(t, s.dir, eject.Options{UDisks: true})
	if err != nil {
		t.Fatalf("eject %s through UDisks2: %v", s.dir, err)
	}
	wantStep(t, steps, "unmount "+s.dir+" through UDisks2", eject.Done)
	wantStep(t, steps, "detach "+s.dev+" through UDisks2", eject.Done)
	wantGone(t, s, "ext4", "data", data)
}

//go:build linux

package scsi_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/scsi"
)

// A loop device has no SCSI layer: both commands must say so, not succeed
// and not fail as if the drive had answered.
func TestLoopIsNotSCSI(t *testing.T) {
	fsimage.Require(t, "ext4")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	dev, err := fsimage.Attach(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsimage.Detach(dev) })

	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, send := range map[string]func(*os.File) error{
		"SYNCHRONIZE CACHE": scsi.SynchronizeCache,
		"START STOP UNIT":   func(f *os.File) error { return scsi.StartStopUnit(f, false) },
	} {
		err := send(f)
		if !errors.Is(err, scsi.ErrNotSCSI) {
			t.Errorf("%s on %s: %v, want ErrNotSCSI", name, dev, err)
			continue
		}
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Path != dev || !strings.Contains(pe.Op, name) {
			t.Errorf("%s on %s: error %q does not name the command and the device", name, dev, err)
		}
	}
	// The device is still usable: nothing was sent to it.
	if _, err := os.Stat(filepath.Join("/sys/block", filepath.Base(dev), "loop/backing_file")); err != nil {
		t.Errorf("%s lost its backing file: %v", dev, err)
	}
}

// With the kernel's scsi_debug module, a RAM-backed SCSI disk answers
// both commands through the real SG_IO path.
func TestSCSIDebug(t *testing.T) {
	if os.Geteuid() != 0 {
		fsimage.Require(t, "ext4") // skips, or fails under CI, without root
	}
	if why := scsiDebugMissing(); why != "" {
		t.Skip("scsi_debug is unavailable on this kernel: " + why)
	}
	t.Cleanup(func() { exec.Command("modprobe", "-r", "scsi_debug").Run() })
	dev := ""
	for deadline := time.Now().Add(30 * time.Second); dev == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		m, _ := filepath.Glob("/sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*:*/block/*")
		if len(m) > 0 {
			dev = "/dev/" + filepath.Base(m[0])
			if _, err := os.Stat(dev); err != nil {
				dev = ""
			}
		}
	}
	if dev == "" {
		t.Fatal("scsi_debug loaded but no disk appeared")
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := scsi.SynchronizeCache(f); err != nil {
		t.Errorf("SYNCHRONIZE CACHE on %s: %v", dev, err)
	}
	if err := scsi.StartStopUnit(f, false); err != nil {
		t.Errorf("START STOP UNIT on %s: %v", dev, err)
	}
}

// scsiDebugMissing loads scsi_debug (one 8 MiB disk) and says why it
// could not, or "" when it did.
func scsiDebugMissing() string {
	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	if _, err := os.Stat("/lib/modules/" + release); err != nil {
		return "no modules for kernel " + release + " (/lib/modules/" + release + " is missing)"
	}
	if _, err := exec.LookPath("modprobe"); err != nil {
		return "modprobe is not installed"
	}
	if _, err := os.Stat("/sys/module/scsi_debug"); err == nil {
		return "scsi_debug is already loaded by someone else"
	}
	out, err := exec.Command("modprobe", "scsi_debug", "dev_size_mb=8", "num_tgts=1", "max_luns=1").CombinedOutput()
	if err != nil {
		return "modprobe scsi_debug: " + strings.TrimSpace(string(out))
	}
	return ""
}

//go:build linux

package flush_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sure-tools/sure/flush"
	"github.com/sure-tools/sure/internal/fsimage"
)

// A normal user on a FUSE stick whose block device it may not open can
// make nothing durable there: Unreachable says so, with the device, for
// the user, and nothing for root.
func TestUnreachableFUSEDevice(t *testing.T) {
	if dir := os.Getenv("SURE_UNREACHABLE_DIR"); dir != "" {
		err := flush.Unreachable(filepath.Join(dir, "new", "file"))
		if err == nil {
			t.Fatal("Unreachable: nil for a user who may not open the device")
		}
		os.Stdout.WriteString("ERR: " + err.Error() + "\n")
		return
	}
	fsimage.Require(t, "vfat")
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount for another user")
	}
	tmp := t.TempDir()
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img, mnt := filepath.Join(tmp, "stick.img"), filepath.Join(tmp, "mnt")
	if err := fsimage.Create("vfat", img, fsimage.MinSize("vfat")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	dev, err := fsimage.Attach(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsimage.Detach(dev) })
	if err := os.Chmod(dev, 0o660); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command("fusefat", "-f", "-o", "rw+,allow_other", dev, mnt)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("fusermount", "-u", mnt).Run()
		srv.Wait()
	})
	for !fsimage.IsMountPoint(mnt) {
		if srv.ProcessState != nil {
			t.Fatal("fusefat exited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := flush.Unreachable(filepath.Join(mnt, "x")); err != nil {
		t.Errorf("as root: %v", err)
	}
	// The test binary, where the user may run it.
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "flush.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(bin, "-test.run=^TestUnreachableFUSEDevice$", "-test.count=1")
	c.Env = append(os.Environ(), "SURE_UNREACHABLE_DIR="+mnt)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid 1000: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ERR: "+mnt+" is a FUSE file system") || !strings.Contains(string(out), dev+", which this user may not open") {
		t.Errorf("as uid 1000:\n%s", out)
	}
}

package umount

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRetry: a mount held by an open file stays busy through every try,
// is unmounted once the file is closed, and a directory with nothing
// mounted on it gets the kernel's EINVAL.
func TestRetry(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root to mount (CI must provide it)")
		}
		t.Skip("needs root to mount")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	f, err := os.Create(filepath.Join(dir, "held"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Retry(dir, 2); !errors.Is(err, unix.EBUSY) {
		t.Errorf("with a file open: %v, want EBUSY", err)
	}
	f.Close()
	if err := Retry(dir, 2); err != nil {
		t.Errorf("with the file closed: %v", err)
	}
	if err := Retry(dir, 2); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unmounted: %v, want EINVAL", err)
	}
}

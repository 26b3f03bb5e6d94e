package durable_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/conformance"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/oplog"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	oplog.Main() // the oplog server re-executes this binary
	os.Exit(m.Run())
}

// TestReadOnly: on each kernel file system fsimage makes (the FUSE
// servers cannot be remounted read-only), WriteFile on a read-only mount
// fails with EROFS naming the path and leaves the old content. The
// behaviours every file system shares are internal/conformance's.
func TestReadOnly(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			if mnt, err := fsinfo.ForPath(m.Dir); err != nil || mnt.IsFUSE() {
				t.Skipf("%s: a FUSE mount (%v)", m.Dir, err)
			}
			testReadOnly(t, m)
		})
	}
}

// testReadOnly remounts the file system read-only: WriteFile must fail with
// EROFS naming the path, and leave the old content.
func testReadOnly(t *testing.T, m *fsimage.Mounted) {
	name := filepath.Join(m.Dir, "readonly")
	conformance.Write(t, name, "old")
	remount := func(flags uintptr) {
		t.Helper()
		if err := unix.Mount(m.Device, m.Dir, m.Kind, unix.MS_REMOUNT|flags, ""); err != nil {
			t.Fatalf("remount %s: %v", m.Dir, err)
		}
	}
	remount(unix.MS_RDONLY)
	defer remount(0)
	err := durable.WriteFile(name, []byte("new"), 0o644)
	var pe *os.PathError
	if !errors.Is(err, unix.EROFS) || !errors.As(err, &pe) || filepath.Dir(pe.Path) != m.Dir {
		t.Errorf("WriteFile on a read-only mount: %#v, want EROFS naming a path in %s", err, m.Dir)
	}
	conformance.WantContent(t, name, "old")
}

package durable_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/oplog"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	oplog.Main() // the oplog server re-executes this binary
	os.Exit(m.Run())
}

// TestRealFS runs the library against every file system sure writes to, on
// loop devices: the rename, O_EXCL and error semantics are the kernel's (or
// the FUSE server's), not a model of them.
func TestRealFS(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			sub := func(name string, f func(t *testing.T, dir string)) {
				t.Run(name, func(t *testing.T) {
					dir := filepath.Join(m.Dir, name)
					if err := os.Mkdir(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					f(t, dir)
				})
			}
			sub("WriteFileCreates", func(t *testing.T, dir string) { testWriteFileCreates(t, dir, kind) })
			sub("WriteFileReplaces", func(t *testing.T, dir string) { testWriteFileReplaces(t, dir, kind) })
			sub("CreateCommit", testCreateCommit)
			sub("CreateNoReplace", testCreateNoReplace)
			sub("Cleanup", testCleanup)
			sub("CommitOntoDirectory", testCommitOntoDirectory)
			sub("Rename", testRename)
			sub("ErrorsNamePaths", testErrorsNamePaths)
			sub("Sync", func(t *testing.T, dir string) { testSync(t, dir, kind) })
			if !isFUSE(kind) {
				t.Run("ReadOnly", func(t *testing.T) { testReadOnly(t, m) })
			}
		})
	}
}

// testReadOnly remounts the file system read-only: WriteFile must fail with
// EROFS naming the path, and leave the old content.
func testReadOnly(t *testing.T, m *fsimage.Mounted) {
	name := filepath.Join(m.Dir, "readonly")
	write(t, name, "old")
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
	wantContent(t, name, "old")
}

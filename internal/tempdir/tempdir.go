// Package tempdir gives tests a temporary directory, as t.TempDir does, but
// removes it file by file with os.Remove. os.RemoveAll on Windows deletes
// through FileDispositionInformationEx, which wine 8 does not implement, so
// t.TempDir's cleanup fails there although every file could be deleted.
package tempdir

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ForTest makes a directory removed, with all it holds, when t ends.
func ForTest(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sure-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(dir); err != nil {
			t.Errorf("removing the test directory: %v", err)
		}
	})
	return dir
}

// Remove deletes dir and everything beneath it, children before parents.
func Remove(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range slices.Backward(paths) {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

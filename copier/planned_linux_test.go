//go:build linux

package copier

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMovePlannedCountsRenames: a move within one file system renames
// its files, and reports each one durable; the count Progress is told
// first must hold them, or a progress line reads "5 of 0 files".
func TestMovePlannedCountsRenames(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for i := range 5 {
		writeFile(t, filepath.Join(tree, fmt.Sprintf("f%d", i)), 4096, uint64(i))
	}
	if err := os.Symlink("f0", filepath.Join(tree, "link")); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	sum, err := Move(context.Background(), []string{tree}, filepath.Join(dir, "moved"), Options{Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	planned, durable := -1, 0
	for _, e := range rec.events() {
		switch e.kind {
		case "planned":
			planned = e.files
		case "durable":
			durable++
		}
	}
	if sum.Files != 6 || durable != 6 || planned != durable {
		t.Errorf("planned %d files, %d reported durable, summary %d; want 6 of each", planned, durable, sum.Files)
	}
}

// TestCopyPlannedCountsSymlinks: a copy reports its symlinks durable as
// files too, so the count Progress is told first holds them.
func TestCopyPlannedCountsSymlinks(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for i := range 2 {
		writeFile(t, filepath.Join(tree, fmt.Sprintf("f%d", i)), 4096, uint64(i))
	}
	if err := os.Symlink("f0", filepath.Join(tree, "link")); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if _, err := Copy(context.Background(), []string{tree}, filepath.Join(dir, "copy"), Options{Recursive: true, Events: rec}); err != nil {
		t.Fatal(err)
	}
	planned, durable := -1, 0
	for _, e := range rec.events() {
		switch e.kind {
		case "planned":
			planned = e.files
		case "durable":
			durable++
		}
	}
	if durable != 3 || planned != durable {
		t.Errorf("planned %d files, %d reported durable; want 3 of each", planned, durable)
	}
}

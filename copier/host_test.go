package copier

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/tempdir"
)

// TestHostCopyMove copies a small tree into the host's temporary directory
// and moves it on, unprivileged, on every platform: the names, contents and
// times land, the sources of a move go only once the copy is durable, and
// no temporary file is left.
func TestHostCopyMove(t *testing.T) {
	base := tempdir.ForTest(t)
	src, dst, moved := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "moved")
	files := map[string]string{"a.txt": "aaa", "sub/b.txt": "bbbb", "sub/deeper/c.txt": "", "big.bin": string(make([]byte, 3<<20))}
	for name, content := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{dst, moved} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	check := func(root string) {
		t.Helper()
		for name, want := range files {
			got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
			if err != nil || string(got) != want {
				t.Errorf("%s in %s: %d bytes (%v), want %d", name, root, len(got), err, len(want))
			}
		}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && filepath.Ext(p) == ".tmp" {
				t.Errorf("temporary file left: %s", p)
			}
			return nil
		})
	}

	sum, err := Copy(context.Background(), []string{src}, dst, Options{Recursive: true, Archive: true})
	if err != nil {
		t.Fatalf("Copy: %v (%+v)", err, sum)
	}
	check(filepath.Join(dst, "src"))
	check(src)
	st, _ := os.Stat(filepath.Join(src, "a.txt"))
	if got, err := os.Stat(filepath.Join(dst, "src", "a.txt")); err != nil || !got.ModTime().Equal(st.ModTime()) {
		t.Errorf("-a kept the time %v (%v), want %v", got.ModTime(), err, st.ModTime())
	}

	if sum, err := Move(context.Background(), []string{filepath.Join(dst, "src")}, moved, Options{}); err != nil {
		t.Fatalf("Move: %v (%+v)", err, sum)
	}
	check(filepath.Join(moved, "src"))
	if _, err := os.Lstat(filepath.Join(dst, "src")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the moved tree is still at its source: %v", err)
	}
}

package beneath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// both runs f with openat2 and with the walk element by element that
// stands in for it on kernels without it.
func both(t *testing.T, f func(t *testing.T)) {
	t.Run("openat2", f)
	t.Run("walk", func(t *testing.T) {
		noOpenat2.Store(true)
		defer noOpenat2.Store(false)
		f(t)
	})
}

// layout: root/a/b (directories), root/file, root/link -> outside,
// root/a/up -> .. (a link that stays inside), outside/victim.
func layout(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "a", "b"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(root, "file"), filepath.Join(outside, "victim")} {
		if err := os.WriteFile(f, []byte("keep\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(root, "a", "up")); err != nil {
		t.Fatal(err)
	}
	return root, outside
}

func TestDirRefusesLinks(t *testing.T) {
	both(t, func(t *testing.T) {
		root, _ := layout(t)
		r, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for _, c := range []struct {
			path string
			want error
		}{
			{"link", ErrSymlink},
			{"link/x", ErrSymlink},
			{"a/up", ErrSymlink},
			{"a/up/a", ErrSymlink},
			{"file", unix.ENOTDIR},
			{"..", ErrOutside},
			{"../outside", ErrOutside},
			{"missing", fs.ErrNotExist},
		} {
			d, err := r.Dir(filepath.Join(root, c.path))
			if err == nil {
				d.Release()
			}
			if !errors.Is(err, c.want) {
				t.Errorf("Dir(%s) = %v, want %v", c.path, err, c.want)
			}
		}
		for _, p := range []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b")} {
			d, err := r.Dir(p)
			if err != nil {
				t.Errorf("Dir(%s): %v", p, err)
				continue
			}
			d.Release()
		}
		if fi, err := r.Lstat(filepath.Join(root, "link")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("Lstat(link) = %v, %v; want the link itself", fi, err)
		}
		if _, err := r.Lstat(filepath.Join(root, "link", "victim")); !errors.Is(err, ErrSymlink) {
			t.Errorf("Lstat through the link = %v, want %v", err, ErrSymlink)
		}
	})
}

// Handles are shared while held, and keep the directory first opened.
func TestDirShared(t *testing.T) {
	root, outside := layout(t)
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a := filepath.Join(root, "a")
	d1, err := r.Dir(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a, a+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, a); err != nil {
		t.Fatal(err)
	}
	d2, err := r.Dir(a)
	if err != nil || d2 != d1 {
		t.Fatalf("second Dir = %v, %v; want the handle held", d2, err)
	}
	f, err := d2.CreateTemp(0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := os.Stat(filepath.Join(a+".aside", filepath.Base(f.Name()))); err != nil {
		t.Errorf("the file is not in the directory held: %v", err)
	}
	d1.Release()
	d2.Release()
	if d, err := r.Dir(a); !errors.Is(err, ErrSymlink) {
		if err == nil {
			d.Release()
		}
		t.Errorf("Dir after the last release = %v, want %v", err, ErrSymlink)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("outside holds %d entries, want only victim", len(entries))
	}
}

// A rename onto a link replaces the link; with noReplace it is refused.
func TestRenameOverLink(t *testing.T) {
	both(t, func(t *testing.T) {
		root, outside := layout(t)
		r, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(root, "a", "f")); err != nil {
			t.Fatal(err)
		}
		d, err := r.Dir(filepath.Join(root, "a"))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Release()
		for _, noReplace := range []bool{true, false} {
			f, err := d.CreateTemp(0o644)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("new\n")
			f.Close()
			err = d.Rename(filepath.Base(f.Name()), "f", noReplace)
			if noReplace {
				if !errors.Is(err, fs.ErrExist) {
					t.Errorf("no-replace rename onto a link = %v, want exists", err)
				}
				d.Remove(filepath.Base(f.Name()))
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if b, err := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "keep\n" {
			t.Errorf("the link's target holds %q, %v", b, err)
		}
		if fi, err := os.Lstat(filepath.Join(root, "a", "f")); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("a/f is %v, %v; want the new file", fi, err)
		}
		if _, err := d.Open("f"); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(root, "a", "g")); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Open("g"); !errors.Is(err, ErrSymlink) {
			t.Errorf("Open of a link = %v, want %v", err, ErrSymlink)
		}
	})
}

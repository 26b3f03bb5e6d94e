package commit

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/tempdir"
)

// TestHostDir runs the protocol in the host's temporary directory,
// unprivileged, on every platform: files land under their final names, a
// no-replace commit leaves a taken name alone, and nothing temporary stays.
func TestHostDir(t *testing.T) {
	dir := tempdir.ForTest(t)
	taken := filepath.Join(dir, "taken")
	if err := os.WriteFile(taken, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "new")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	c := New()
	if err := c.DirCreated(sub); err != nil {
		t.Fatal(err)
	}
	a := stage(t, c, filepath.Join(sub, "a"), "aaa", false)
	b := stage(t, c, taken, "theirs", true)
	if files, bytes := c.Pending(); files != 2 || bytes != 9 {
		t.Errorf("Pending = %d files, %d bytes; want 2, 9", files, bytes)
	}
	res := c.Flush()
	if len(res) != 2 {
		t.Fatalf("Flush reported %d entries, want 2: %v", len(res), res)
	}
	for _, r := range res {
		switch r.Entry {
		case a:
			if r.Err != nil {
				t.Errorf("%s: %v", a.Final, r.Err)
			}
		case b:
			if !r.Exists {
				t.Errorf("%s: no-replace commit onto a taken name: %+v, want Exists", b.Final, r)
			}
		}
	}
	for name, want := range map[string]string{a.Final: "aaa", taken: "mine"} {
		if got, err := os.ReadFile(name); err != nil || string(got) != want {
			t.Errorf("%s holds %q (%v), want %q", name, got, err, want)
		}
	}
	if left := temps(t, dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := c.FlushDirs(); err != nil {
		t.Errorf("FlushDirs: %v", err)
	}
}

// TestHostAbortPending: aborted entries leave neither temporary files nor
// final names behind.
func TestHostAbortPending(t *testing.T) {
	dir := tempdir.ForTest(t)
	c := New()
	stage(t, c, filepath.Join(dir, "x"), "x", false)
	stage(t, c, filepath.Join(dir, "y"), "y", false)
	if n, left := c.AbortPending(); n != 2 || len(left) > 0 {
		t.Fatalf("AbortPending = %d, %v; want 2 removed, none left", n, left)
	}
	if left := temps(t, dir); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if res := c.Flush(); len(res) != 0 {
		t.Fatalf("Flush after AbortPending published %d entries", len(res))
	}
	for _, n := range []string{"x", "y"} {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after abort", n)
		}
	}
}

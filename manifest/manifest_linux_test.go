//go:build linux

package manifest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/manifest"
	"github.com/sure-tools/sure/readback"
)

// names b3sum escapes, and some it does not.
var names = []string{"plain", "sp ace", `back\slash`, "new\nline", "tab\tx", "cr\rx", "ünï", "d/e/f"}

func makeFiles(t *testing.T, dir string) {
	t.Helper()
	for i, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat(n, i*100)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func needB3sum(t *testing.T) string {
	p, err := exec.LookPath("b3sum")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("b3sum is not installed (CI must provide it: Debian package b3sum)")
		}
		t.Skip("b3sum is not installed")
	}
	return p
}

// TestFormatIsB3sums: for every name, our line is the line b3sum prints.
func TestFormatIsB3sums(t *testing.T) {
	b3sum := needB3sum(t)
	dir := t.TempDir()
	makeFiles(t, dir)
	for _, n := range names {
		cmd := exec.Command(b3sum, "--", n)
		cmd.Dir = dir
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("b3sum %q: %v", n, err)
		}
		sum, err := manifest.HashFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if got := manifest.FormatLine(sum, n); got != string(want) {
			t.Errorf("%q:\n got %q\nwant %q", n, got, want)
		}
	}
}

// TestB3sumChecksOurManifest: b3sum --check, run in the manifest's
// directory, accepts a manifest Writer wrote, and rejects it once a byte
// of a listed file changed; Check agrees on both.
func TestB3sumChecksOurManifest(t *testing.T) {
	b3sum := needB3sum(t)
	dir := t.TempDir()
	makeFiles(t, dir)
	m := writeManifest(t, dir, filepath.Join(dir, "MANIFEST.b3"))
	check := func() error {
		cmd := exec.Command(b3sum, "--check", "MANIFEST.b3")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		t.Logf("b3sum --check:\n%s", out)
		return err
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if bad := checkAll(t, m); len(bad) != 0 {
		t.Fatalf("Check: %v", bad)
	}
	corrupt(t, filepath.Join(dir, "new\nline"))
	if err := check(); err == nil {
		t.Fatal("b3sum --check accepted a changed file")
	}
	bad := checkAll(t, m)
	var me *manifest.MismatchError
	if len(bad) != 1 || !errors.As(bad["new\nline"], &me) {
		t.Fatalf("Check: %v, want one mismatch for the changed file", bad)
	}
}

// TestCheckOnSticks: Check reads the files back from the device of real
// file systems, kernel and FUSE, and tells a changed file (a mismatch)
// from a missing one (not a mismatch: it cannot be read). The manifest
// lies outside the checked tree, so its paths are absolute.
func TestCheckOnSticks(t *testing.T) {
	for _, kind := range []string{"ext4", "exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			mnt := fsimage.ForTest(t, kind)
			dir := filepath.Join(mnt.Dir, "tree")
			for i := range 5 {
				p := filepath.Join(dir, "sub", string(rune('a'+i)))
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(strings.Repeat("x", i*70000)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			name := filepath.Join(t.TempDir(), "m.b3")
			m := writeManifestOf(t, dir, name)
			data, _ := os.ReadFile(m)
			if !strings.Contains(string(data), "  "+dir+"/sub/a\n") {
				t.Fatalf("paths outside the manifest's directory are not absolute:\n%s", data)
			}
			if bad := checkAll(t, m); len(bad) != 0 {
				t.Fatal(bad)
			}
			corrupt(t, filepath.Join(dir, "sub", "c"))
			os.Remove(filepath.Join(dir, "sub", "d"))
			bad := checkAll(t, m)
			var me *manifest.MismatchError
			if len(bad) != 2 || !errors.As(bad[dir+"/sub/c"], &me) || errors.As(bad[dir+"/sub/d"], &me) || !errors.Is(bad[dir+"/sub/d"], os.ErrNotExist) {
				t.Fatalf("Check: %v, want c mismatched and d missing", bad)
			}
		})
	}
}

func writeManifest(t *testing.T, dir, name string) string {
	return writeManifestOf(t, dir, name)
}

// writeManifestOf lists every file under dir in a manifest at name.
func writeManifestOf(t *testing.T, dir, name string) string {
	t.Helper()
	w, err := manifest.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cleanup()
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || p == name || durable.IsTemp(d.Name()) {
			return err
		}
		sum, err := manifest.HashFile(p)
		if err != nil {
			return err
		}
		return w.Add(p, sum)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return name
}

func checkAll(t *testing.T, name string) map[string]error {
	t.Helper()
	bad := map[string]error{}
	err := manifest.Check(context.Background(), name, readback.New(), func(r manifest.Result) {
		if r.Err != nil {
			bad[r.Path] = r.Err
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

func corrupt(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 5); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, 5); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

package durable_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/tempdir"
)

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".sure-0123456789abcdef.tmp":  true,
		".sure-0123456789abcde.tmp":   false, // one digit short
		".sure-0123456789abcdef0.tmp": false,
		".sure-0123456789abcdef.tmpx": false,
		"x.sure-0123456789abcdef.tmp": false,
		".sure-.tmp":                  false,
		"sure-0123456789abcdef.tmp":   false,
		"":                            false,
	} {
		if got := durable.IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCreateTempNames(t *testing.T) {
	dir := tempdir.ForTest(t)
	seen := map[string]bool{}
	for range 20 {
		f, err := durable.CreateTemp(dir, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if filepath.Dir(f.Name()) != dir {
			t.Errorf("CreateTemp(%s) made %s, outside the directory", dir, f.Name())
		}
		base := filepath.Base(f.Name())
		if !durable.IsTemp(base) {
			t.Errorf("CreateTemp made %q, which IsTemp does not recognize", base)
		}
		if seen[base] {
			t.Errorf("CreateTemp made %q twice", base)
		}
		seen[base] = true
	}
	if _, err := durable.CreateTemp(filepath.Join(dir, "missing"), 0o600); !os.IsNotExist(err) {
		t.Errorf("CreateTemp in a missing directory: %v, want not-exist", err)
	}
}

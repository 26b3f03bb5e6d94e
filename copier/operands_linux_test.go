package copier

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sure-tools/sure/internal/tempdir"
)

// TestOperandsStatError: a destination that cannot be looked at is named
// with the reason, by mv as by cp, not called "Not a directory".
func TestOperandsStatError(t *testing.T) {
	dir := tempdir.ForTest(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func() (Summary, error){
		"cp": func() (Summary, error) { return Copy(context.Background(), []string{a, b}, loop, Options{}) },
		"mv": func() (Summary, error) { return Move(context.Background(), []string{a, b}, loop, Options{}) },
	} {
		if _, err := run(); !errors.Is(err, syscall.ELOOP) {
			t.Errorf("%s a b loop: %v, want the lookup's ELOOP", name, err)
		}
		for _, p := range []string{a, b} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: source gone: %v", name, err)
			}
		}
	}
}

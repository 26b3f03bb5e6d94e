//go:build linux || darwin || freebsd || netbsd || openbsd

package copier

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAtimeReadsStat: atime is what the file system holds as the access
// time, to the nanosecond, not the modification time it falls back to.
func TestAtimeReadsStat(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2020, 2, 29, 12, 34, 56, 789000000, time.UTC)
	mt := time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(name, at, mt); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := atime(fi); !got.Equal(at) {
		t.Errorf("atime %v, want %v", got, at)
	}
}

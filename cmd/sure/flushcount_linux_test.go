//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/vstick"
)

// TestSmallJobFewestFlushes: a small copy onto ext4, where the commit
// covers landed data, pays one barrier (one syncfs: the commit's PREFLUSH
// and the flush standing in for FUA on the loop device) for its files,
// its directories' attributes and the removal of its resume journal, then
// the status record's write-back of the last check's journal transaction
// (two) and the flush that the record's counters follow (one): five. And
// sure status still finds the drive flushed.
func TestSmallJobFewestFlushes(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	for d := range 3 {
		dir := filepath.Join(src, fmt.Sprintf("d%d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
			if err := os.WriteFile(p, []byte(strings.Repeat(p, 40*(i+1))), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Chmod(filepath.Join(src, "d1"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := vstick.New(t, "ext4", 0)
	// A fresh mount may hold a journal transaction that jbd2's timer
	// would commit during the copy: commit it first.
	f, err := os.Open(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Syncfs(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Disk.Stats()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(s.Dir, "dst")
	if code, _, stderr := runSure(t, "cp", "-r", src, dst); code != 0 {
		t.Fatalf("sure cp -r: exit %d\n%s", code, stderr)
	}
	after, err := s.Disk.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// More only if jbd2's timer committed in the middle: never fewer.
	if n := after.Flushes - before.Flushes; n > 5 {
		t.Errorf("a copy of 30 files in 3 directories cost %d flushes of the stick, want 5", n)
	}
	if after.EpochWrites != 0 {
		t.Errorf("%d writes after the last flush of sure cp", after.EpochWrites)
	}
	if fi, err := os.Stat(filepath.Join(dst, "d1")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("d1 on the stick: %v, %v; want mode 0700", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(s.Dir, ".sure-journal")); err == nil {
		t.Error("the resume journal is left after a complete copy")
	}
	if code, stdout, stderr := runSure(t, "status", dst); code != 0 || !strings.Contains(stdout, "can I pull it now? yes") {
		t.Errorf("sure status after the copy: exit %d\n%s%s", code, stdout, stderr)
	}
}

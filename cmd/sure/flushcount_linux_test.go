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

// TestSmallJobFewestFlushes: a small copy onto ext4 or xfs, where the
// commit covers landed data, pays one barrier (on ext4 one syncfs: the
// commit's PREFLUSH and the flush standing in for FUA on the loop device)
// for its files, its directories' attributes and the removal of its
// resume journal, then the status record's write-back of the last
// check's journal transaction (two) and the flush that the record's
// counters follow (one): five. sure status then finds the drive flushed.
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
	for _, kind := range []string{"ext4", "xfs"} {
		t.Run(kind, func(t *testing.T) {
			// The kernel sends flushes of its own now and then (jbd2
			// freeing its journal's tail), which only ever add to sure's:
			// the fewest of a few copies onto fresh sticks is sure's.
			var counts []int64
			for range 3 {
				s, n := smallCopy(t, kind, src)
				counts = append(counts, n)
				if n > 5 {
					continue
				}
				checkSmallCopy(t, s, kind == "ext4")
				return
			}
			t.Errorf("copies of 30 files in 3 directories cost %v flushes of the stick, want 5", counts)
		})
	}
}

// smallCopy copies src onto a fresh stick of kind and returns the stick
// and the flushes the copy cost.
func smallCopy(t *testing.T, kind, src string) (*vstick.Stick, int64) {
	t.Helper()
	s := vstick.New(t, kind, 0)
	// A fresh mount may hold a journal transaction that the journal's
	// timer would commit during the copy: commit it first.
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
	if code, _, stderr := runSure(t, "cp", "-r", src, filepath.Join(s.Dir, "dst")); code != 0 {
		t.Fatalf("sure cp -r: exit %d\n%s", code, stderr)
	}
	after, err := s.Disk.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if after.EpochWrites != 0 {
		t.Errorf("%d writes after the last flush of sure cp", after.EpochWrites)
	}
	return s, after.Flushes - before.Flushes
}

// checkSmallCopy checks what the copy left on the stick: the directory's
// mode, no resume journal, and with status a drive sure status finds
// flushed (on xfs it may find a log write left after the record, with
// or without the one barrier).
func checkSmallCopy(t *testing.T, s *vstick.Stick, status bool) {
	t.Helper()
	dst := filepath.Join(s.Dir, "dst")
	if fi, err := os.Stat(filepath.Join(dst, "d1")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("d1 on the stick: %v, %v; want mode 0700", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(s.Dir, ".sure-journal")); err == nil {
		t.Error("the resume journal is left after a complete copy")
	}
	if !status {
		return
	}
	if code, stdout, stderr := runSure(t, "status", dst); code != 0 || !strings.Contains(stdout, "can I pull it now? yes") {
		t.Errorf("sure status after the copy: exit %d\n%s%s", code, stdout, stderr)
	}
}

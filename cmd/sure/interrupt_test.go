//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// TestInterrupt stops a copy with SIGINT once the first file is reported
// durable: sure exits 130, says it was interrupted, leaves no temporary
// file, and every file it reported durable (and every file under a final
// name at all) is complete. It copies into a directory of the test's and
// onto exFAT, whose per-file flushes make the copy slow.
func TestInterrupt(t *testing.T) {
	for _, kind := range []string{"local", "exfat"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			if kind != "local" {
				dir = fsimage.ForTest(t, kind).Dir
			}
			src := filepath.Join(t.TempDir(), "src")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			made := 0
			// If the copy ends before the signal lands, try again with a
			// larger job: the outcome, not the timing, is what is tested.
			for attempt, n := 0, 1000; ; attempt, n = attempt+1, n*4 {
				if attempt == 3 {
					t.Fatalf("the copy of %d files always finished before SIGINT reached it", made)
				}
				for ; made < n; made++ {
					if err := writeRandom(filepath.Join(src, fmt.Sprintf("f%05d", made)), int64(1024+made%7*4096)); err != nil {
						t.Fatal(err)
					}
				}
				dst := filepath.Join(dir, fmt.Sprintf("dst%d", attempt))
				if interrupted := interruptCopy(t, src, dst); interrupted {
					return
				}
			}
		})
	}
}

// interruptCopy runs sure cp -r src dst, sends SIGINT at its first durable
// line and checks the outcome. It returns false if the copy completed.
func interruptCopy(t *testing.T, src, dst string) bool {
	m := copyUntil(t, src, dst, func(sure *os.Process) {
		if err := sure.Signal(syscall.SIGINT); err != nil {
			t.Logf("SIGINT: %v", err)
		}
	})
	code, reported := m.code, m.reported
	if code == 0 {
		t.Logf("copy of %s completed before SIGINT: %s", src, m.stderr)
		return false
	}
	if code != exitInterrupted {
		t.Fatalf("sure exited with %d, want %d; stderr:\n%s", code, exitInterrupted, m.stderr)
	}
	if !strings.Contains(m.stderr, "interrupted") {
		t.Errorf("stderr does not say interrupted:\n%s", m.stderr)
	}
	if len(reported) == 0 {
		t.Fatal("no file reported durable")
	}
	if temps := findTemps(dst); len(temps) > 0 {
		t.Errorf("temporary files left after SIGINT: %s", strings.Join(temps, ", "))
	}
	for _, r := range reported {
		a, err := entry(r[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := entry(r[1])
		if err != nil || a != b {
			t.Errorf("%s reported durable, but it is %s (%v); its source %s is %s", r[1], b, err, r[0], a)
		}
	}
	// Nothing partial under any final name either.
	copied, err := tree(dst)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for p, e := range copied {
		if e == "dir" {
			continue
		}
		files++
		if se, err := entry(filepath.Join(src, p)); err != nil || se != e {
			t.Errorf("%s: %s, but its source is %s (%v)", filepath.Join(dst, p), e, se, err)
		}
	}
	t.Logf("%d files reported durable, %d in place; stderr:\n%s", len(reported), files, m.stderr)
	return true
}

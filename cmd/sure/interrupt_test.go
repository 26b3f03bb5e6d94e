//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
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
	cmd := exec.Command(sureBinary(t), "cp", "-r", "-v", "--batch-files", "1", "--workers", "1", src, dst)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reported [][2]string
	sc := bufio.NewScanner(out)
	signaled := false
	for sc.Scan() {
		m := durableLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Errorf("unexpected output line %q", sc.Text())
			continue
		}
		reported = append(reported, [2]string{m[1], m[2]})
		if !signaled {
			signaled = true
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Logf("SIGINT: %v", err)
			}
		}
	}
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code == 0 {
		t.Logf("copy of %s completed before SIGINT: %s", src, stderr.String())
		return false
	}
	if code != exitInterrupted {
		t.Fatalf("sure exited with %d (%v), want %d; stderr:\n%s", code, err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say interrupted:\n%s", stderr.String())
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
	t.Logf("%d files reported durable, %d in place; stderr:\n%s", len(reported), files, stderr.String())
	return true
}

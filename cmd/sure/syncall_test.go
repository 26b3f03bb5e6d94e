//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// TestSyncAll runs `sure sync` without a path while an exFAT stick (a FUSE
// file system over a loop device) is mounted: syncfs cannot reach its
// server, so sure must flush it file by file and then through the device,
// say so, and exit 0 unless some other file system failed. Other test packages mount and unmount file systems
// meanwhile; a run during which the mount table changed is repeated.
func TestSyncAll(t *testing.T) {
	stick := fsimage.ForTest(t, "exfat")
	if err := os.WriteFile(filepath.Join(stick.Dir, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		before, _ := os.ReadFile("/proc/self/mountinfo")
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(sureBinary(t), "sync")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		after, _ := os.ReadFile("/proc/self/mountinfo")
		if !bytes.Equal(before, after) {
			continue
		}
		// Other test packages run at once, and the power-cut lab pulls
		// virtual sticks that are still mounted: sure rightly reports
		// those as failed. Only this test's stick and / must succeed, and
		// the exit code must say whether anything failed.
		failed := 0
		for _, line := range strings.Split(stderr.String(), "\n") {
			if !strings.HasPrefix(line, "sure: sync: ") {
				continue
			}
			failed++
			if strings.HasPrefix(line, "sure: sync: / (") || strings.HasPrefix(line, "sure: sync: "+stick.Dir+" (") {
				t.Errorf("flush failed: %s", line)
			}
		}
		wantCode := 0
		if failed > 0 {
			wantCode = exitFailed
		}
		if code := cmd.ProcessState.ExitCode(); code != wantCode {
			t.Errorf("sure sync: exit %d (%v) with %d failures reported, want %d; stderr:\n%s", code, err, failed, wantCode, stderr.String())
		}
		if stdout.Len() > 0 {
			t.Errorf("stdout: %q", stdout.String())
		}
		if !strings.Contains(stderr.String(), "sure: flushed / (") {
			t.Errorf("the root file system is not said flushed:\n%s", stderr.String())
		}
		want := "sure: flushed " + stick.Dir + " (fuseblk on " + stick.Device + "): fsync of 2 files and directories under " +
			stick.Dir + " (syncfs does not reach a FUSE server), then of the device " + stick.Device
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the exFAT stick is not flushed through its device; want %q in:\n%s", want, stderr.String())
		}
		return
	}
	t.Skip("the mount table changed during every run of sure sync")
}

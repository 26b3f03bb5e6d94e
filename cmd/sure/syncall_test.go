package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sure-tools/sure/fsinfo"
)

// TestSyncAll runs `sure sync` without a path: it flushes every file
// system backed by a device and exits 0, unless a FUSE file system is
// mounted, which syncfs cannot flush: then it exits 1 and names it. Other
// tests mount and unmount file systems meanwhile; a run during which the
// mount table changed is repeated.
func TestSyncAll(t *testing.T) {
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
		ms, merr := fsinfo.Mounts()
		if merr != nil {
			t.Fatal(merr)
		}
		var fuse []fsinfo.Mount
		for _, m := range ms {
			if m.IsFUSE() {
				fuse = append(fuse, m)
			}
		}
		code := cmd.ProcessState.ExitCode()
		if stdout.Len() > 0 {
			t.Errorf("stdout: %q", stdout.String())
		}
		if !strings.Contains(stderr.String(), "sure: flushed / (") {
			t.Errorf("the root file system is not said flushed:\n%s", stderr.String())
		}
		if len(fuse) == 0 {
			if code != 0 {
				t.Errorf("sure sync: exit %d (%v), want 0; stderr:\n%s", code, err, stderr.String())
			}
			return
		}
		if code != exitFailed {
			t.Errorf("sure sync with FUSE mounts: exit %d, want %d; stderr:\n%s", code, exitFailed, stderr.String())
		}
		for _, m := range fuse {
			if !strings.Contains(stderr.String(), m.MountPoint+" ("+m.FSType+"): syncfs does not reach a FUSE server") {
				t.Errorf("FUSE mount %s not named:\n%s", m.MountPoint, stderr.String())
			}
		}
		return
	}
	t.Skip("the mount table changed during every run of sure sync")
}

package fsimage_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// TestForkingServerFound checks, over many mounts since the race is rare,
// that the pid of exfat-fuse's server is the daemon that serves the mount,
// not the parent that forked it and exited a moment later.
func TestForkingServerFound(t *testing.T) {
	for range 200 {
		m := fsimage.ForTest(t, "exfat")
		pid := m.ServerPID()
		fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
		if err != nil {
			t.Fatalf("server pid %d: %v", pid, err)
		}
		holds := false
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name())); l == "/dev/fuse" {
				holds = true
			}
		}
		if !holds {
			t.Fatalf("server pid %d does not hold /dev/fuse", pid)
		}
		if err := m.Unmount(); err != nil {
			t.Fatal(err)
		}
	}
}

package proc_test

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/proc"
)

// FUSEServers finds the server of a real FUSE mount, by its mount point
// and by its device, and not a process that merely names the mount point.
func TestFUSEServers(t *testing.T) {
	for _, kind := range []string{"vfat", "exfat"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			// It says when it runs: until exec has completed, its
			// arguments read as empty.
			bystander := exec.Command("sh", "-c", "echo up; read x", "sh", m.Dir)
			in, err := bystander.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := bystander.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := bystander.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Close(); bystander.Wait() })
			if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(proc.Cmdline(bystander.Process.Pid), m.Dir) {
				t.Fatalf("the bystander's arguments %q do not name %s", proc.Cmdline(bystander.Process.Pid), m.Dir)
			}
			want := []int{m.ServerPID()}
			if got := pids(proc.FUSEServers(m.Dir, "")); !slices.Equal(got, want) {
				t.Errorf("FUSEServers(%s) = %v, want %v", m.Dir, got, want)
			}
			if got := pids(proc.FUSEServers("", m.Device)); !slices.Equal(got, want) {
				t.Errorf("FUSEServers(device %s) = %v, want %v", m.Device, got, want)
			}
			if got := proc.FUSEServers(t.TempDir(), "/dev/null"); len(got) != 0 {
				t.Errorf("FUSEServers of a plain directory = %v, want none", got)
			}
		})
	}
}

func pids(ps []proc.Process) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out
}

func TestSelf(t *testing.T) {
	self := os.Getpid()
	if !slices.Contains(proc.PIDs(), self) {
		t.Errorf("PIDs() lacks this process, %d", self)
	}
	if got := proc.Cmdline(self); !slices.Equal(got, os.Args) {
		t.Errorf("Cmdline(self) = %q, want %q", got, os.Args)
	}
	if wd, _ := os.Getwd(); proc.Cwd(self) != wd {
		t.Errorf("Cwd(self) = %q, want %q", proc.Cwd(self), wd)
	}
	if !proc.Alive(self) {
		t.Error("Alive(self) is false")
	}
}

func TestParseMountInfo(t *testing.T) {
	got, ok := proc.ParseMountInfo(`42 27 7:3 / /media/my\040stick ro,nosuid - fuseblk /dev/loop\1343 rw,user_id=0`)
	want := proc.MountInfo{Major: 7, Minor: 3, MountPoint: "/media/my stick", MountOptions: "ro,nosuid", FSType: "fuseblk", Source: `/dev/loop\3`, SuperOptions: "rw,user_id=0"}
	if !ok || got != want {
		t.Errorf("ParseMountInfo = %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range []string{"garbage", "1 2 3:4 / - ext4 /dev/x rw", "1 2 3:4 / /m rw - ext4"} {
		if _, ok := proc.ParseMountInfo(bad); ok {
			t.Errorf("ParseMountInfo(%q) accepted it", bad)
		}
	}
	if got := proc.Unescape(`a\040b\011c\134\12`); got != "a b\tc\\\\12" {
		t.Errorf("Unescape = %q", got)
	}
}

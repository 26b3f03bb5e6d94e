package fsinfo

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

func TestParseMountInfo(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Mount
	}{
		{`36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue`,
			Mount{MountPoint: "/mnt/parent", FSType: "ext3", Source: "/dev/root", Options: "rw,errors=continue", Major: 98}},
		{`42 27 7:3 / /media/my\040stick rw,nosuid - fuseblk /dev/loop3 rw,user_id=0`,
			Mount{MountPoint: "/media/my stick", FSType: "fuseblk", Source: "/dev/loop3", Options: "rw,user_id=0", Major: 7, Minor: 3}},
		{`43 27 0:39 / /tmp/m2 rw,relatime shared:5 master:2 - fuse.fusefat fusefat rw`,
			Mount{MountPoint: "/tmp/m2", FSType: "fuse.fusefat", Source: "fusefat", Options: "rw", Minor: 39}},
	} {
		got, ok := parseMountInfo(tc.line)
		if !ok || got != tc.want {
			t.Errorf("parseMountInfo(%q) = %+v, %v; want %+v", tc.line, got, ok, tc.want)
		}
	}
	if _, ok := parseMountInfo("garbage"); ok {
		t.Error("parseMountInfo accepted a line without a separator")
	}
}

// TestBarrierOnRealFileSystems checks, on real mounts, that a kernel file
// system gets one syncfs per batch and a FUSE one gets per-file flushes:
// the decision that keeps the commit protocol honest on exFAT and FAT sticks.
func TestBarrierOnRealFileSystems(t *testing.T) {
	for _, tc := range []struct {
		kind, fstype string
		barrier      Barrier
	}{
		{"ext4", "ext4", BarrierSyncFS},
		{"exfat", "fuseblk", BarrierPerFile},
		{"vfat", "fuse.fusefat", BarrierPerFile},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			m := fsimage.ForTest(t, tc.kind)
			got, err := ForPath(filepath.Join(m.Dir, "."))
			if err != nil {
				t.Fatal(err)
			}
			if got.MountPoint != m.Dir || got.FSType != tc.fstype {
				t.Fatalf("ForPath(%s) = %+v, want mount point %s type %s", m.Dir, got, m.Dir, tc.fstype)
			}
			b, why := BarrierFor(got)
			if b != tc.barrier {
				t.Errorf("BarrierFor(%s) = %v (%s), want %v", tc.fstype, b, why, tc.barrier)
			}
			if b == BarrierPerFile && !strings.Contains(why, "FUSE") {
				t.Errorf("reason %q does not say FUSE", why)
			}
			dev, ok := BackingDevice(got)
			if tc.barrier == BarrierPerFile && (!ok || dev != m.Device) {
				t.Errorf("BackingDevice = %q, %v; want the loop device %s", dev, ok, m.Device)
			}
		})
	}
}

func TestForPathMissing(t *testing.T) {
	if _, err := ForPath(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("ForPath of a missing path succeeded")
	}
}

package fsinfo_test

// These tests mount real file systems with internal/fsimage, which itself
// reads the mount table through fsinfo: they live outside the package.

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/fsimage"
)

// TestBarrierOnRealFileSystems checks, on real mounts, that a kernel file
// system gets one syncfs per batch and a FUSE one gets per-file flushes:
// the decision that keeps the commit protocol honest on exFAT and FAT sticks.
func TestBarrierOnRealFileSystems(t *testing.T) {
	for _, tc := range []struct {
		kind, fstype string
		barrier      fsinfo.Barrier
	}{
		{"ext4", "ext4", fsinfo.BarrierSyncFS},
		{"exfat", "fuseblk", fsinfo.BarrierServerFsync},
		{"vfat", "fuse.fusefat", fsinfo.BarrierPerFile},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			m := fsimage.ForTest(t, tc.kind)
			got, err := fsinfo.ForPath(filepath.Join(m.Dir, "."))
			if err != nil {
				t.Fatal(err)
			}
			if got.MountPoint != m.Dir || got.FSType != tc.fstype {
				t.Fatalf("fsinfo.ForPath(%s) = %+v, want mount point %s type %s", m.Dir, got, m.Dir, tc.fstype)
			}
			b, why := fsinfo.BarrierFor(got)
			if b != tc.barrier {
				t.Errorf("fsinfo.BarrierFor(%s) = %v (%s), want %v", tc.fstype, b, why, tc.barrier)
			}
			if tc.fstype != "ext4" && !strings.Contains(why, "FUSE") {
				t.Errorf("reason %q does not say FUSE", why)
			}
			dev, ok := fsinfo.BackingDevice(got)
			if tc.fstype != "ext4" && (!ok || dev != m.Device) {
				t.Errorf("BackingDevice = %q, %v; want the loop device %s", dev, ok, m.Device)
			}
		})
	}
}

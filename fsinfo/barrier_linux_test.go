package fsinfo

import (
	"strings"
	"testing"
)

// TestBarrierForKernel checks the decision that keeps batches honest on old
// kernels: before 5.8 syncfs(2) returns 0 even when writeback failed, so
// only per-file fsync may vouch for the data. FUSE file systems get per-file
// flushing whatever the kernel, since syncfs never reaches their server.
func TestBarrierForKernel(t *testing.T) {
	ext4 := Mount{MountPoint: "/media/stick", FSType: "ext4", Source: "/dev/sdb1"}
	fuse := Mount{MountPoint: "/media/stick", FSType: "fuseblk", Source: "/dev/sdb1"}
	vfat := Mount{MountPoint: "/media/stick", FSType: "vfat", Source: "/dev/sdb1"}
	withDev := func(Mount) (string, bool) { return "/dev/sdb1", true }
	noDev := func(Mount) (string, bool) { return "", false }
	for _, tc := range []struct {
		name    string
		m       Mount
		reports bool
		backing func(Mount) (string, bool)
		all     bool
		want    Barrier
		why     string
	}{
		{"ext4 on 5.8+", ext4, true, noDev, false, BarrierSyncFS, "one syncfs"},
		{"ext4 before 5.8", ext4, false, noDev, false, BarrierPerFile, "older than 5.8"},
		{"FUSE with a device", fuse, true, withDev, false, BarrierPerFile, "then the device /dev/sdb1"},
		{"FUSE without a device", fuse, true, noDev, false, BarrierPerFile, "rests on its server"},
		{"FUSE before 5.8", fuse, false, withDev, false, BarrierPerFile, "FUSE"},
		{"vfat", vfat, true, noDev, false, BarrierSyncFSFlush, "sends the drive no cache flush; an fsync of a directory"},
		{"msdos", Mount{MountPoint: "/m", FSType: "msdos"}, true, noDev, false, BarrierSyncFSFlush, "no cache flush"},
		{"ntfs3", Mount{MountPoint: "/m", FSType: "ntfs3"}, true, noDev, false, BarrierSyncFSFlush, "no cache flush"},
		{"ntfs", Mount{MountPoint: "/m", FSType: "ntfs"}, true, noDev, false, BarrierSyncFSFlush, "no cache flush"},
		{"exfat", Mount{MountPoint: "/m", FSType: "exfat"}, true, noDev, false, BarrierSyncFSFlush, "only when it clears the volume-dirty flag"},
		{"vfat before 5.8", vfat, false, noDev, false, BarrierPerFile, "older than 5.8"},
		{"exfat-fuse", Mount{MountPoint: "/m", FSType: "fuseblk"}, true, withDev, true, BarrierServerFsync, "one fsync of a directory"},
		{"exfat-fuse before 5.8", Mount{MountPoint: "/m", FSType: "fuseblk"}, false, noDev, true, BarrierServerFsync, "flushes its device on every fsync"},
		{"another fuseblk server", Mount{MountPoint: "/m", FSType: "fuseblk"}, true, withDev, false, BarrierPerFile, "FUSE"},
		{"fusefat", Mount{MountPoint: "/m", FSType: "fuse.fusefat"}, true, withDev, false, BarrierPerFile, "FUSE"},
		{"xfs", Mount{MountPoint: "/m", FSType: "xfs"}, true, noDev, false, BarrierSyncFS, "one syncfs"},
		{"btrfs", Mount{MountPoint: "/m", FSType: "btrfs"}, true, noDev, false, BarrierSyncFS, "one syncfs"},
	} {
		b, why := barrierFor(tc.m, tc.reports, "5.4.0-old", tc.backing, tc.all)
		if b != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("%s: barrierFor = %v, %q; want %v, containing %q", tc.name, b, why, tc.want, tc.why)
		}
	}
	if _, why := barrierFor(ext4, false, "5.4.0-old", noDev, false); !strings.Contains(why, "5.4.0-old") {
		t.Errorf("the reason does not name the running kernel: %q", why)
	}
}

// TestBarrierForThisKernel ties the decision to the running kernel: on
// 5.8 or newer a kernel file system gets syncfs, before it per-file fsync.
func TestBarrierForThisKernel(t *testing.T) {
	rel, major, minor := Kernel()
	if major == 0 {
		t.Fatalf("kernel release %q not understood", rel)
	}
	b, why := BarrierFor(Mount{MountPoint: "/", FSType: "ext4"})
	want := BarrierPerFile
	if major > 5 || major == 5 && minor >= 8 {
		want = BarrierSyncFS
	}
	if b != want {
		t.Errorf("kernel %s: BarrierFor(ext4) = %v (%s), want %v", rel, b, why, want)
	}
}

package verdict

import (
	"strings"
	"testing"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/sysfs"
)

func TestDiagnosePlan(t *testing.T) {
	ext4 := fsinfo.Mount{MountPoint: "/media/stick", FSType: "ext4"}
	fuse := fsinfo.Mount{MountPoint: "/media/stick", FSType: "fuseblk"}
	stick := &device.Disk{Device: sysfs.Device{Path: "/dev/sdb"}, Transport: "usb", Removable: true, WriteCache: "write back"}
	for _, c := range []struct {
		name  string
		chain device.Chain
		// barrier is a phrase of the plan's second step, eject one of its
		// last ("" when there is no disk and so no eject step).
		barrier, eject string
	}{
		{"tmpfs, no block device",
			device.Chain{Mount: fsinfo.Mount{MountPoint: "/tmp", FSType: "tmpfs"}, Barrier: fsinfo.BarrierSyncFS},
			"/tmp (tmpfs) has no block device under it: a flush reaches no media", ""},
		{"syncfs on a removable stick",
			device.Chain{Mount: ext4, Barrier: fsinfo.BarrierSyncFS, Device: "/dev/sdb1", Disk: stick},
			"one syncfs of /media/stick before the renames", "sure eject /dev/sdb flushes, unmounts and powers the drive off"},
		{"syncfs then a directory fsync on a vfat stick",
			device.Chain{Mount: fsinfo.Mount{MountPoint: "/media/stick", FSType: "vfat"}, Barrier: fsinfo.BarrierSyncFSFlush, Device: "/dev/sdb1", Disk: stick},
			"then an fsync of a directory on it flushes the drive's cache, since syncfs on vfat does not", "powers the drive off"},
		{"exfat-fuse, whose every fsync flushes everything",
			device.Chain{Mount: fuse, Barrier: fsinfo.BarrierServerFsync, Device: "/dev/sdb1", Disk: stick},
			"one fsync of a directory on /media/stick before the renames", "powers the drive off"},
		{"FUSE with its block device",
			device.Chain{Mount: fuse, Barrier: fsinfo.BarrierPerFile, Device: "/dev/sdb1", Disk: stick},
			"the block device /dev/sdb1 itself is flushed", "powers the drive off"},
		{"FUSE without a block device",
			device.Chain{Mount: fsinfo.Mount{MountPoint: "/mnt/sshfs", FSType: "fuse.sshfs"}, Barrier: fsinfo.BarrierPerFile},
			"durability rests on the server implementing fsync", ""},
		{"per-file on a kernel file system",
			device.Chain{Mount: fsinfo.Mount{MountPoint: "/media/stick", FSType: "vfat"}, Barrier: fsinfo.BarrierPerFile,
				BarrierReason: "syncfs does not report writeback errors before Linux 5.8", Device: "/dev/sdb1", Disk: stick},
			"each file and each changed directory is flushed with fsync: syncfs does not report writeback errors before Linux 5.8", "powers the drive off"},
		{"a loop device",
			device.Chain{Mount: ext4, Barrier: fsinfo.BarrierSyncFS, Device: "/dev/loop3",
				Disk: &device.Disk{Device: sysfs.Device{Path: "/dev/loop3"}, Transport: "loop", Removable: true}},
			"one syncfs", "detaches the loop device; its image file then holds everything reported durable"},
		{"a fixed disk",
			device.Chain{Mount: ext4, Barrier: fsinfo.BarrierSyncFS, Device: "/dev/nvme0n1p2",
				Disk: &device.Disk{Device: sysfs.Device{Path: "/dev/nvme0n1"}, Transport: "nvme"}},
			"one syncfs", "/dev/nvme0n1 is not removable: sure writes here durably, but it is not a stick to eject"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Diagnose(c.chain).Plan
			if !strings.HasPrefix(p[0], "each file is written under a temporary name") {
				t.Errorf("the plan starts with %q, not the temporary name", p[0])
			}
			if !strings.Contains(p[1], c.barrier) {
				t.Errorf("barrier step %q lacks %q", p[1], c.barrier)
			}
			want := 5 // temporary name, barrier, write-behind, failed flush, eject
			if c.eject == "" {
				want = 4
			} else if !strings.Contains(p[4], c.eject) {
				t.Errorf("eject step %q lacks %q", p[4], c.eject)
			}
			if len(p) != want {
				t.Errorf("plan has %d steps, want %d: %q", len(p), want, p)
			}
		})
	}
}

func TestDiagnoseLimits(t *testing.T) {
	for _, c := range []struct {
		name  string
		disk  *device.Disk
		claim bool // the drive's own claim of no volatile cache is named
	}{
		{"no disk", nil, false},
		{"write back", &device.Disk{Device: sysfs.Device{Path: "/dev/sdb"}, Transport: "usb", WriteCache: "write back"}, false},
		{"write through", &device.Disk{Device: sysfs.Device{Path: "/dev/sdb"}, Transport: "usb", WriteCache: "write through"}, true},
		{"write through loop", &device.Disk{Device: sysfs.Device{Path: "/dev/loop3"}, Transport: "loop", WriteCache: "write through"}, false},
		{"cache mode unknown", &device.Disk{Device: sysfs.Device{Path: "/dev/sdb"}, Transport: "usb"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := Diagnose(device.Chain{Mount: fsinfo.Mount{MountPoint: "/m", FSType: "ext4"}, Disk: c.disk}).Limits
			if len(l) < 3 || !strings.HasPrefix(l[0], "a flush is a request") || !strings.HasPrefix(l[1], "reading back (verify)") ||
				!strings.HasPrefix(l[2], "a drive pulled before") {
				t.Fatalf("limits lack the three that hold everywhere: %q", l)
			}
			got := len(l) == 4 && strings.Contains(l[3], c.disk.Path+" reports no volatile write cache")
			if got != c.claim || (!c.claim && len(l) != 3) {
				t.Errorf("limits = %q; the drive's claim named: %v, want %v", l, got, c.claim)
			}
		})
	}
}

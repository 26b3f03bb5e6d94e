//go:build linux

package device_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/device/devicetest"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/blkid"
	"github.com/sure-tools/sure/internal/fsimage"
)

// twoParts is a stick with a mounted ext4 partition and an unmounted FAT32
// one, as sticks come from a camera or a previous owner.
func twoParts(t *testing.T) *devicetest.Stick {
	return devicetest.Partitioned(t, 160,
		devicetest.Part{MiB: 80, Kind: "ext4", Label: "SUREDATA", Mount: true},
		devicetest.Part{Kind: "vfat", Label: "SUREFAT"})
}

func TestResolvePartitionedStick(t *testing.T) {
	s := twoParts(t)
	file := filepath.Join(s.Mounts[0], "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ arg, part string }{
		{s.Mounts[0], s.Parts[0]},
		{file, s.Parts[0]},
		{s.Parts[0], s.Parts[0]},
		{s.Parts[1], s.Parts[1]},
		{filepath.Base(s.Parts[1]), s.Parts[1]},
		{s.Disk, ""},
	} {
		d, p, err := device.ResolvePartition(tc.arg)
		if err != nil {
			t.Fatalf("Resolve(%s): %v", tc.arg, err)
		}
		if d.Path != s.Disk {
			t.Errorf("Resolve(%s) = %s, want %s", tc.arg, d.Path, s.Disk)
		}
		got := ""
		if p != nil {
			got = p.Path
		}
		if got != tc.part {
			t.Errorf("Resolve(%s): partition %q, want %q", tc.arg, got, tc.part)
		}
	}
	d, err := device.Resolve(s.Mounts[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Transport != "loop" || !d.Removable || d.BackingFile != s.Image {
		t.Errorf("disk: transport %q removable %v backing %q; want loop, true, %s", d.Transport, d.Removable, d.BackingFile, s.Image)
	}
	if d.Size != 160<<20 {
		t.Errorf("disk size %d, want %d", d.Size, 160<<20)
	}
	if len(d.Partitions) != 2 {
		t.Fatalf("partitions: %+v, want 2", d.Partitions)
	}
	p1, p2 := d.Partitions[0], d.Partitions[1]
	if p1.Number != 1 || p1.FSType != "ext4" || p1.Label != "SUREDATA" || p1.UUID == "" || p1.Size != 80<<20 {
		t.Errorf("partition 1: %+v", p1)
	}
	if len(p1.Mounts) != 1 || p1.Mounts[0].MountPoint != s.Mounts[0] || p1.Mounts[0].FSType != "ext4" || p1.Mounts[0].Device != s.Parts[0] {
		t.Errorf("partition 1 mounts: %+v, want ext4 on %s", p1.Mounts, s.Mounts[0])
	}
	if p2.Number != 2 || p2.FSType != "vfat" || p2.Label != "SUREFAT" || len(p2.Mounts) != 0 {
		t.Errorf("partition 2: %+v", p2)
	}
}

// TestResolveFUSEStick: a FUSE file system's mount table entry does not
// name its device (fusefat shows "fusefat"); Resolve must still find the
// stick, and List must count the mount as the stick's.
func TestResolveFUSEStick(t *testing.T) {
	for _, kind := range []string{"exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			d, err := device.Resolve(filepath.Join(m.Dir, "."))
			if err != nil {
				t.Fatal(err)
			}
			if d.Path != m.Device {
				t.Fatalf("Resolve(%s) = %s, want %s", m.Dir, d.Path, m.Device)
			}
			if d.FSType != kind || d.UUID == "" {
				t.Errorf("probe of %s: type %q uuid %q, want %s", d.Path, d.FSType, d.UUID, kind)
			}
			if len(d.Mounts) != 1 || d.Mounts[0].MountPoint != m.Dir {
				t.Errorf("mounts of %s: %+v, want %s", d.Path, d.Mounts, m.Dir)
			}
		})
	}
}

func TestResolveNoDevice(t *testing.T) {
	_, err := device.Resolve("/proc/self")
	if !errors.Is(err, device.ErrNoDevice) {
		t.Fatalf("Resolve(/proc/self) = %v, want ErrNoDevice", err)
	}
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != "/proc/self" {
		t.Errorf("error %v does not carry the path", err)
	}
	if _, err := device.Resolve("/no/such/path"); err == nil || !strings.Contains(err.Error(), "/no/such/path") {
		t.Errorf("Resolve of a missing path: %v", err)
	}
}

func TestListShowsStick(t *testing.T) {
	s := twoParts(t)
	disks, err := device.List(false)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(disks, func(d device.Disk) bool { return d.Path == s.Disk })
	if i < 0 {
		t.Fatalf("List(false) misses %s: %+v", s.Disk, disks)
	}
	d := disks[i]
	if len(d.Partitions) != 2 || len(d.Partitions[0].Mounts) != 1 || d.Partitions[0].Mounts[0].MountPoint != s.Mounts[0] {
		t.Errorf("listed %s: %+v", s.Disk, d)
	}
	for _, d := range disks {
		if !d.Removable {
			t.Errorf("List(false) lists %s, which is not removable", d.Path)
		}
		if d.Transport == "loop" && d.BackingFile == "" {
			t.Errorf("List(false) lists the unattached %s", d.Path)
		}
	}
	root, err := device.Resolve("/")
	if err != nil {
		t.Logf("/ has no block device here (%v): not checking --all for it", err)
		return
	}
	all, err := device.List(true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(d device.Disk) bool { return d.Path == root.Path }) {
		t.Errorf("List(true) misses %s, which holds /", root.Path)
	}
	if !root.Removable && slices.ContainsFunc(disks, func(d device.Disk) bool { return d.Path == root.Path }) {
		t.Errorf("List(false) lists %s, which holds /", root.Path)
	}
}

func TestJudge(t *testing.T) {
	t.Run("mounted partition", func(t *testing.T) {
		s := twoParts(t)
		d, err := device.Resolve(s.Disk)
		if err != nil {
			t.Fatal(err)
		}
		obj := device.Judge(d)
		if len(obj) != 1 || obj[0].Fatal || !strings.Contains(obj[0].Reason, s.Mounts[0]) || !strings.Contains(obj[0].Reason, s.Parts[0]) {
			t.Errorf("Judge(%s) = %+v, want one non-fatal objection naming %s on %s", s.Disk, obj, s.Parts[0], s.Mounts[0])
		}
	})
	t.Run("idle stick", func(t *testing.T) {
		s := devicetest.Partitioned(t, 64, devicetest.Part{Kind: "ext4"})
		d, err := device.Resolve(s.Disk)
		if err != nil {
			t.Fatal(err)
		}
		if obj := device.Judge(d); len(obj) != 0 {
			t.Errorf("Judge(%s) = %+v, want none for an unmounted stick", s.Disk, obj)
		}
	})
	t.Run("root", func(t *testing.T) {
		d, err := device.Resolve("/")
		if errors.Is(err, device.ErrNoDevice) {
			t.Skipf("/ is not on a block device here: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		obj := device.Judge(d)
		if !slices.ContainsFunc(obj, func(o device.Objection) bool {
			return o.Fatal && strings.Contains(o.Reason, "holds / ")
		}) {
			t.Errorf("Judge(%s) = %+v, want a fatal objection: it holds /", d.Path, obj)
		}
	})
	t.Run("swap", func(t *testing.T) {
		s := devicetest.Partitioned(t, 64, devicetest.Part{MiB: 32, Kind: "swap"}, devicetest.Part{Kind: "ext4"})
		d, err := device.Resolve(s.Disk)
		if err != nil {
			t.Fatal(err)
		}
		if obj := device.Judge(d); len(obj) != 0 {
			t.Fatalf("Judge(%s) before swapon = %+v, want none", s.Disk, obj)
		}
		if d.Partitions[0].FSType != "swap" {
			t.Errorf("partition 1 probed as %q, want swap", d.Partitions[0].FSType)
		}
		devicetest.Swapon(t, s.Parts[0])
		if got := d.Swaps(); !slices.Equal(got, []string{s.Parts[0]}) {
			t.Errorf("Swaps() = %q, want %s", got, s.Parts[0])
		}
		obj := device.Judge(d)
		if len(obj) != 1 || !obj[0].Fatal || !strings.Contains(obj[0].Reason, "swap") {
			t.Errorf("Judge(%s) with swap on = %+v, want one fatal swap objection", s.Disk, obj)
		}
	})
}

// TestProbeMatchesBlkid compares the superblock probe with blkid on images
// made by the real mkfs tools.
func TestProbeMatchesBlkid(t *testing.T) {
	if _, err := exec.LookPath("blkid"); err != nil {
		t.Skip("blkid is not installed")
	}
	for _, kind := range append(slices.Clone(fsimage.Kinds), "swap") {
		t.Run(kind, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			if kind == "swap" {
				if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("mkswap", "-L", "SURESWAP", img).CombinedOutput(); err != nil {
					t.Fatalf("mkswap: %v: %s", err, out)
				}
			} else {
				fsimage.Require(t, kind)
				if err := os.WriteFile(img, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(img, fsimage.MinSize(kind)); err != nil {
					t.Fatal(err)
				}
				if err := devicetest.Mkfs(kind, "SURE"+strings.ToUpper(kind), img); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("blkid", "-p", "-o", "export", img).Output()
			if err != nil {
				t.Fatalf("blkid %s: %v", img, err)
			}
			want := map[string]string{}
			for _, l := range strings.Split(string(out), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					want[k] = v
				}
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			typ, label, uuid := blkid.Probe(f)
			if want["LABEL"] == "" {
				t.Fatalf("blkid found no label on %s: %s", kind, out)
			}
			if typ != want["TYPE"] || label != want["LABEL"] || !strings.EqualFold(uuid, want["UUID"]) {
				t.Errorf("Probe = %q %q %q, blkid says %q %q %q", typ, label, uuid, want["TYPE"], want["LABEL"], want["UUID"])
			}
		})
	}
}

func TestTraceLoopStick(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	c, err := device.Trace(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Device != m.Device || c.Disk == nil || c.Disk.Path != m.Device || c.Partition != nil {
		t.Fatalf("Trace(%s): device %q disk %+v partition %+v, want the whole disk %s", m.Dir, c.Device, c.Disk, c.Partition, m.Device)
	}
	if c.Barrier != fsinfo.BarrierSyncFS || c.Server != nil {
		t.Errorf("Trace(%s): barrier %v server %+v, want syncfs and no FUSE server", m.Dir, c.Barrier, c.Server)
	}
	if want := fmt.Sprintf("%d:%d", c.Disk.Major, c.Disk.Minor); c.DiskBDI == nil || c.DiskBDI.ID != want || c.MountBDI != nil {
		t.Errorf("Trace(%s): disk bdi %+v mount bdi %+v, want only %s", m.Dir, c.DiskBDI, c.MountBDI, want)
	}
	if c.Backing == nil || c.Backing.Path != m.Image {
		t.Fatalf("Trace(%s): backing %+v, want the chain of %s", m.Dir, c.Backing, m.Image)
	}
	if want, err := fsinfo.ForPath(m.Image); err != nil || c.Backing.Mount.MountPoint != want.MountPoint {
		t.Errorf("backing file on %q, want %q (%v)", c.Backing.Mount.MountPoint, want.MountPoint, err)
	}
}

func TestTraceFUSEStick(t *testing.T) {
	for _, kind := range []string{"exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			c, err := device.Trace(m.Dir)
			if err != nil {
				t.Fatal(err)
			}
			want := fsinfo.BarrierPerFile
			if kind == "exfat" {
				want = fsinfo.BarrierServerFsync // exfat-fuse
			}
			if string(c.Kind) != kind || c.Barrier != want {
				t.Errorf("Trace(%s): kind %q barrier %v, want %s and %v", m.Dir, c.Kind, c.Barrier, kind, want)
			}
			if c.Server == nil || c.Server.PID != m.ServerPID() {
				t.Errorf("Trace(%s): server %+v, want pid %d", m.Dir, c.Server, m.ServerPID())
			}
			if c.Device != m.Device || c.Disk == nil || c.Backing == nil || c.Backing.Path != m.Image {
				t.Errorf("Trace(%s): device %q backing %+v, want %s on %s", m.Dir, c.Device, c.Backing, m.Device, m.Image)
			}
			if c.MountBDI == nil || !c.MountBDI.StrictLimit {
				t.Errorf("Trace(%s): FUSE bdi %+v, want strict_limit on", m.Dir, c.MountBDI)
			}
		})
	}
}

package sysfs_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/sysfs"
)

// A real loop device: its /dev path, device numbers and name lead to one
// directory, which is its own disk, with a stat and a size.
func TestLoopDevice(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	var st unix.Stat_t
	if err := unix.Stat(m.Device, &st); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(m.Device)
	dir, err := sysfs.DevDirOf(m.Device)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sysfs.Name(unix.Major(st.Rdev), unix.Minor(st.Rdev)); err != nil || got != name {
		t.Errorf("Name = %q, %v; want %q", got, err, name)
	}
	if dev, err := sysfs.Dev(sysfs.Dir(name)); err != nil || dev != st.Rdev {
		t.Errorf("Dev = %v, %v; want %v", dev, err, st.Rdev)
	}
	disk, err := sysfs.Disk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(sysfs.DiskDir(name)); disk != want || sysfs.IsPartition(disk) {
		t.Errorf("Disk(%s) = %s, want %s, not a partition", dir, disk, want)
	}
	if sysfs.Int(disk, "size")*512 != fsimage.MinSize("ext4") {
		t.Errorf("size %d sectors, want %d bytes", sysfs.Int(disk, "size"), fsimage.MinSize("ext4"))
	}
	if s, err := sysfs.ReadStat(disk); err != nil || len(s) < 11 {
		t.Errorf("ReadStat = %v, %v", s, err)
	}
	if _, err := sysfs.DevDirOf("/dev/null"); err == nil {
		t.Error("DevDirOf(/dev/null) succeeded; it is not a block device")
	}
}

func TestParseStat(t *testing.T) {
	s, err := sysfs.ParseStat("stat", " 1228266 6438 24473644 148736 382888 2287159 93708550 506792 0 213836 682499 1360 0 365239038 451 83346 26518\n")
	if err != nil || s[sysfs.WriteIOs] != 382888 || s[sysfs.WriteSectors] != 93708550 {
		t.Fatalf("%v %v", s, err)
	}
	if n, ok := s.Flushes(); !ok || n != 83346 {
		t.Errorf("Flushes = %d, %v", n, ok)
	}
	s, _ = sysfs.ParseStat("stat", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15")
	if _, ok := s.Flushes(); ok {
		t.Error("flushes counted before Linux 5.5's fields")
	}
	if _, err := sysfs.ParseStat("stat", "1 2"); err == nil {
		t.Error("a short line was accepted")
	}
}

func TestBDIStats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats")
	os.WriteFile(path, []byte("BdiWriteback:            12 kB\nBdiDirtied:        3 kB\nBdiWriteBandwidth:   100 kBps\nb_dirty:                     3\nstate:                       a\n"), 0o644)
	st, err := sysfs.BDIStats(path)
	want := map[string]int64{"BdiWriteback": 12 << 10, "BdiDirtied": 3 << 10, "BdiWriteBandwidth": 100 << 10, "b_dirty": 3}
	if err != nil || len(st) != len(want) {
		t.Fatalf("BDIStats = %v, %v; want %v", st, err, want)
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s = %d, want %d", k, st[k], v)
		}
	}
}

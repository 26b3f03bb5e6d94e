//go:build linux

package drivecache

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/device/devicetest"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/sysfs"
)

func parseStat(path, s string) (Counters, error) {
	st, err := sysfs.ParseStat(path, s)
	if err != nil {
		return Counters{}, err
	}
	return countersOf(st), nil
}

func TestParseStat(t *testing.T) {
	c, err := parseStat("stat", " 1228266 6438 24473644 148736 382888 2287159 93708550 506792 0 213836 682499 1360 0 365239038 451 83346 26518\n")
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counters{Writes: 382888, WriteSectors: 93708550, Flushes: 83346, HasFlushes: true}) {
		t.Fatalf("%+v", c)
	}
	// Before Linux 5.5 there are no flush fields, and nothing is made up.
	c, err = parseStat("stat", "1 2 3 4 5 6 7 8 9 10 11")
	if err != nil || c.HasFlushes || c.Writes != 5 || c.WriteSectors != 7 {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := parseStat("stat", "1 2"); err == nil {
		t.Fatal("a short line was accepted")
	}
}

// On a real loop device: no record, then a record after a flush, then
// "written since" once the drive completes a write.
func TestRecord(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	mt, err := fsinfo.ForPath(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DiskFor(mt)
	if err != nil {
		t.Fatal(err)
	}
	if d.Path != m.Device {
		t.Fatalf("disk %+v, want %s", d, m.Device)
	}
	t.Cleanup(func() {
		if p, err := recordPath(d); err == nil {
			os.Remove(p)
		}
	})
	if st, _, err := Check(d); err != nil || st != Unknown {
		t.Fatalf("fresh device: %v, %v; want Unknown", st, err)
	}
	f := filepath.Join(m.Dir, "f")
	if err := os.WriteFile(f, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	syncfs(t, m.Dir)
	flushes := 0
	if err := MarkFlushed(d, start, func() error { flushes++; return syncDev(d.Path) }); err != nil {
		t.Fatal(err)
	}
	if flushes != 1 {
		t.Fatalf("the drive was flushed %d times, want 1", flushes)
	}
	st, r, err := Check(d)
	if err != nil || st != Flushed || !r.Start.Equal(start) {
		t.Fatalf("after the flush: %v %+v %v; want Flushed", st, r, err)
	}
	// Written, and on the device (fdatasync without the drive flush is
	// not available from user space, so write through the page cache and
	// wait for writeback only).
	fd, err := unix.Open(f, unix.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, []byte("changed"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER); err != nil {
		t.Fatal(err)
	}
	if st, _, err := Check(d); err != nil || st != WrittenSince {
		t.Fatalf("after a write reached the drive: %v, %v; want WrittenSince", st, err)
	}
}

// A write completed while the record is made means no record.
func TestNoRecordWhenWrittenMeanwhile(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	mt, _ := fsinfo.ForPath(m.Dir)
	d, err := DiskFor(mt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p, err := recordPath(d); err == nil {
			os.Remove(p)
		}
	})
	err = MarkFlushed(d, time.Now(), func() error {
		f, err := os.Create(filepath.Join(m.Dir, "meanwhile"))
		if err != nil {
			return err
		}
		f.Write(make([]byte, 64<<10))
		defer f.Close()
		return f.Sync()
	})
	if err != ErrNotRecorded {
		t.Fatalf("MarkFlushed = %v, want ErrNotRecorded", err)
	}
	if st, _, _ := Check(d); st != Unknown {
		t.Fatalf("state %v, want Unknown", st)
	}
}

func syncfs(t *testing.T, dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		t.Fatal(err)
	}
}

func syncDev(dev string) error {
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// A record another user could have written is not believed, and none is
// written where another user could change it.
func TestRecordTrust(t *testing.T) {
	recordBase = t.TempDir()
	t.Cleanup(func() { recordBase = "" })
	d := Disk{Device: sysfs.Device{Major: 7, Minor: 999}, DiskSeq: "42"}
	r := Record{BootID: bootID(), DiskSeq: d.DiskSeq, Writes: 1}
	if err := save(d, r); err != nil {
		t.Fatal(err)
	}
	path, _ := recordPath(d)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o022 != 0 {
		t.Fatalf("record %v, %v; want writable by its owner only", fi, err)
	}
	if _, ok := Last(d); !ok {
		t.Fatal("own record not found")
	}
	dir := filepath.Dir(path)
	for _, c := range []struct {
		name        string
		spoil, heal func() error
	}{
		{"dir writable by all", func() error { return os.Chmod(dir, 0o777) }, func() error { return os.Chmod(dir, 0o755) }},
		{"parent writable by all", func() error { return os.Chmod(filepath.Dir(dir), 0o777) }, func() error { return os.Chmod(filepath.Dir(dir), 0o755) }},
		{"record writable by all", func() error { return os.Chmod(path, 0o666) }, func() error { return os.Chmod(path, 0o644) }},
		{"record of another user", func() error { return os.Lchown(path, 12345, 12345) }, func() error { return os.Lchown(path, os.Geteuid(), os.Getegid()) }},
		{"record a link", func() error {
			if err := os.Rename(path, path+".real"); err != nil {
				return err
			}
			return os.Symlink(path+".real", path)
		}, func() error { os.Remove(path); return os.Rename(path+".real", path) }},
	} {
		if err := c.spoil(); err != nil {
			t.Fatal(err)
		}
		if _, ok := Last(d); ok {
			t.Errorf("%s: record trusted", c.name)
		}
		if c.name == "dir writable by all" {
			if err := save(d, r); err == nil {
				t.Errorf("%s: record written", c.name)
			}
		}
		if err := c.heal(); err != nil {
			t.Fatal(err)
		}
		if _, ok := Last(d); !ok {
			t.Fatalf("%s: record not trusted again once healed", c.name)
		}
	}
}

// A user's status also believes root's record (a flush made with sudo),
// and of two records takes the newer.
func TestRootRecordSeen(t *testing.T) {
	recordBase = t.TempDir()
	root := filepath.Join(t.TempDir(), "flushed")
	old := rootRecords
	rootRecords = root
	t.Cleanup(func() { recordBase, rootRecords = "", old })
	d := Disk{Device: sysfs.Device{Major: 7, Minor: 998}, DiskSeq: "7"}
	if _, ok := Last(d); ok {
		t.Fatal("a record found where none was made")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(Record{BootID: bootID(), DiskSeq: d.DiskSeq, Writes: 5, Made: time.Now()})
	if err := os.WriteFile(filepath.Join(root, d.ID()), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if r, ok := Last(d); !ok || r.Writes != 5 {
		t.Fatalf("root's record: %+v, %v; want it found", r, ok)
	}
	if err := save(d, Record{BootID: bootID(), DiskSeq: d.DiskSeq, Writes: 9, Made: time.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if r, ok := Last(d); !ok || r.Writes != 9 {
		t.Fatalf("with a newer own record: %+v, %v; want the newer", r, ok)
	}
}

// DiskFor finds the whole disk device.Resolve finds, under a partition
// and under a FUSE server reading a loop device.
func TestDiskForIsResolvesDisk(t *testing.T) {
	s := devicetest.Partitioned(t, 64, devicetest.Part{MiB: 40, Kind: "ext4", Mount: true})
	fuse := fsimage.ForTest(t, "exfat")
	for _, dir := range []string{s.Mounts[0], fuse.Dir} {
		mt, err := fsinfo.ForPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		d, err := DiskFor(mt)
		if err != nil {
			t.Fatal(err)
		}
		want, err := device.Resolve(dir)
		if err != nil {
			t.Fatal(err)
		}
		if d.Device != want.Device {
			t.Errorf("DiskFor(%s) = %+v, want %+v", dir, d.Device, want.Device)
		}
	}
	if d, err := DiskFor(fsinfo.Mount{MountPoint: "/proc", FSType: "proc", Source: "proc"}); err == nil {
		t.Errorf("DiskFor(/proc) = %+v, want an error", d)
	}
}

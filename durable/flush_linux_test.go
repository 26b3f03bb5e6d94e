package durable_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/conformance"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/oplog"
	"github.com/sure-tools/sure/lab/vdisk"
	"golang.org/x/sys/unix"
)

// count returns how many operations of kind on path ("" for any) the server
// answered.
func count(t *testing.T, m *oplog.Mount, kind, path string) int {
	t.Helper()
	ops, err := m.Ops()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range ops {
		if o.Op == kind && (path == "" || o.Path == path) {
			n++
		}
	}
	return n
}

func setFault(t *testing.T, m *oplog.Mount, name string, on bool) {
	t.Helper()
	if err := m.SetFault(name, on); err != nil {
		t.Fatal(err)
	}
}

// TestFailedFileFlushIsFinal makes a real fsync fail (the FUSE server
// answers EIO), then lets the file system recover: the kernel would now
// report success for the same file, but SyncFile must keep returning the
// original error, for every descriptor of that file, without asking again.
func TestFailedFileFlushIsFinal(t *testing.T) {
	m := oplog.Start(t)
	name := filepath.Join(m.Dir, "f")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("data"); err != nil {
		t.Fatal(err)
	}

	setFault(t, m, oplog.FaultFsync, true)
	first := durable.SyncFile(f)
	var pe *os.PathError
	if !errors.Is(first, unix.EIO) || !errors.As(first, &pe) || pe.Path != name {
		t.Fatalf("SyncFile with the server failing fsync: %#v, want EIO naming %s", first, name)
	}
	setFault(t, m, oplog.FaultFsync, false)

	// The file system works again: a plain fsync of the same file succeeds.
	if err := f.Sync(); err != nil {
		t.Fatalf("plain fsync after the fault was cleared: %v", err)
	}
	sent := count(t, m, oplog.OpFsync, "f")
	if err := durable.SyncFile(f); err != first {
		t.Errorf("SyncFile after the failure: %v, want the original error %v", err, first)
	}
	g, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := durable.SyncFile(g); err != first {
		t.Errorf("SyncFile of another descriptor of the file: %v, want the original error %v", err, first)
	}
	if n := count(t, m, oplog.OpFsync, "f"); n != sent {
		t.Errorf("SyncFile sent %d more FSYNC after the failure; it must not ask again", n-sent)
	}

	// The failure belongs to that file: another file still flushes.
	other, err := os.Create(filepath.Join(m.Dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := durable.SyncFile(other); err != nil {
		t.Errorf("SyncFile of another file: %v", err)
	}
	if count(t, m, oplog.OpFsync, "other") != 1 {
		t.Errorf("SyncFile of another file did not reach the server")
	}
}

// TestFailedDirFlushIsFinal is the same for FSYNCDIR and SyncDir.
func TestFailedDirFlushIsFinal(t *testing.T) {
	m := oplog.Start(t)
	dir := filepath.Join(m.Dir, "d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	setFault(t, m, oplog.FaultFsyncdir, true)
	first := durable.SyncDir(dir)
	var pe *os.PathError
	if !errors.Is(first, unix.EIO) || !errors.As(first, &pe) || pe.Path != dir {
		t.Fatalf("SyncDir with the server failing fsyncdir: %#v, want EIO naming %s", first, dir)
	}
	setFault(t, m, oplog.FaultFsyncdir, false)
	if err := durable.SyncDir(m.Dir); err != nil {
		t.Errorf("SyncDir of another directory: %v", err)
	}
	if err := durable.SyncDir(dir); err != first {
		t.Errorf("SyncDir after the failure: %v, want the original error %v", err, first)
	}
	if n := count(t, m, oplog.OpFsyncdir, "d"); n != 1 {
		t.Errorf("the server saw %d FSYNCDIR of d, want 1: SyncDir must not ask again", n)
	}
}

// TestCommitFlushFails: when the flush of the temporary file fails, Commit
// fails, the final name keeps its old content and the temporary file goes.
func TestCommitFlushFails(t *testing.T) {
	m := oplog.Start(t)
	name := filepath.Join(m.Dir, "f")
	conformance.Write(t, name, "old")
	p, err := durable.Create(name, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cleanup()
	if _, err := p.WriteString("new"); err != nil {
		t.Fatal(err)
	}
	setFault(t, m, oplog.FaultFsync, true)
	err = p.Commit()
	setFault(t, m, oplog.FaultFsync, false)
	if !errors.Is(err, unix.EIO) {
		t.Errorf("Commit with a failing flush: %v, want EIO", err)
	}
	conformance.WantContent(t, name, "old")
	conformance.WantNames(t, m.Dir, "f")
	if n := count(t, m, oplog.OpRename, ""); n != 0 {
		t.Errorf("Commit renamed after a failed flush")
	}
}

// TestSyncFSOnFUSE: syncfs(2) on a FUSE mount succeeds without asking the
// server to flush anything, so it proves nothing; SyncFS must say it cannot
// flush.
func TestSyncFSOnFUSE(t *testing.T) {
	m := oplog.Start(t)
	name := filepath.Join(m.Dir, "f")
	conformance.Write(t, name, "data")
	d, err := os.Open(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Syncfs(int(d.Fd()))
	d.Close()
	if err != nil {
		t.Fatalf("syncfs on the FUSE mount: %v", err)
	}
	if err := durable.SyncFS(m.Dir); !errors.Is(err, durable.ErrFSSyncUnsupported) {
		t.Errorf("SyncFS on a FUSE mount: %v, want ErrFSSyncUnsupported", err)
	}
}

// TestFailedFSFlushIsFinal makes syncfs fail for real: ext4 on a loop
// device whose image is a file on the oplog mount. The loop driver turns
// the journal's cache FLUSH into fsync of the image, which the server fails.
// Later SyncFS calls must return that same error, not a new verdict.
func TestFailedFSFlushIsFinal(t *testing.T) {
	fsimage.Require(t, "ext4")
	m := oplog.Start(t)
	// Made in the backing directory: mkfs's writes need no logging.
	if err := fsimage.Create("ext4", filepath.Join(m.Backing, "disk.img"), 64<<20); err != nil {
		t.Fatal(err)
	}
	dev, err := fsimage.Attach(filepath.Join(m.Dir, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsimage.Detach(dev); err != nil {
			t.Error(err)
		}
	})
	mnt := t.TempDir()
	ext4, err := fsimage.Mount("ext4", dev, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ext4.Unmount(); err != nil {
			t.Error(err)
		}
	})
	conformance.Write(t, filepath.Join(mnt, "f"), "data")

	setFault(t, m, oplog.FaultFsync, true)
	first := durable.SyncFS(mnt)
	setFault(t, m, oplog.FaultFsync, false)
	var pe *os.PathError
	if !errors.Is(first, unix.EIO) || !errors.As(first, &pe) || pe.Path != mnt {
		t.Fatalf("SyncFS with the device failing its flush: %#v, want EIO naming %s", first, mnt)
	}
	if count(t, m, oplog.OpFsync, "disk.img") == 0 {
		t.Fatalf("the failure did not come from a flush of the device")
	}
	t.Logf("plain syncfs after the fault was cleared: %v", syncfs(t, mnt))
	if err := durable.SyncFS(mnt); err != first {
		t.Errorf("SyncFS after the failure: %v, want the original error %v", err, first)
	}
	if err := durable.SyncFS(filepath.Join(mnt, "f")); err != first {
		t.Errorf("SyncFS of another path on the file system: %v, want the original error %v", err, first)
	}

	// A new mount on the same device (same device number, as a replaced
	// stick or a reused loop device gets) is judged afresh.
	if err := ext4.Unmount(); err != nil {
		t.Fatal(err)
	}
	again, err := fsimage.Mount("ext4", dev, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := again.Unmount(); err != nil {
			t.Error(err)
		}
	})
	if err := durable.SyncFS(mnt); err != nil {
		t.Errorf("SyncFS of a new mount of the device: %v, want the old failure forgotten", err)
	}
}

// TestFailureNotInheritedByReusedInode: after a failed flush, the
// temporary file is removed and the file system may give its inode number
// to the next file. That file's flush must not return the old failure.
func TestFailureNotInheritedByReusedInode(t *testing.T) {
	m := oplog.Start(t)
	f, err := os.Create(filepath.Join(m.Dir, "failed"))
	if err != nil {
		t.Fatal(err)
	}
	ino, _ := stat(t, f.Name())
	setFault(t, m, oplog.FaultFsync, true)
	err = durable.SyncFile(f)
	setFault(t, m, oplog.FaultFsync, false)
	if !errors.Is(err, unix.EIO) {
		t.Fatalf("SyncFile with the server failing fsync: %v, want EIO", err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		t.Fatal(err)
	}
	// Free inode numbers are handed out again soon; look for the reuse.
	for i := range 200 {
		g, err := os.Create(filepath.Join(m.Dir, fmt.Sprint("new", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		if n, _ := stat(t, g.Name()); n == ino {
			if err := durable.SyncFile(g); err != nil {
				t.Errorf("SyncFile of a new file with the inode number of a failed one: %v", err)
			}
			return
		}
	}
	t.Skipf("the backing file system did not reuse inode %d; nothing to check", ino)
}

func stat(t *testing.T, name string) (ino uint64, size int64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino, st.Size
}

func syncfs(t *testing.T, name string) error {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// TestFlushAfterJournalAbort: when a failed cache flush aborts ext4's
// journal, the transactions it drops count as finished, and from then on
// fsync and syncfs return 0 for changes that never reached the media
// (seen on Linux 6.18), while statfs does not say read-only. The first
// failure here goes past durable, as it would in another process (a
// desktop's own sync, an earlier sure): durable's own flushes must still
// fail.
func TestFlushAfterJournalAbort(t *testing.T) {
	s := vstick.New(t, "ext4", 0)
	name := filepath.Join(s.Dir, "f")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("lost with the journal"); err != nil {
		t.Fatal(err)
	}
	s.Faults(t, vdisk.Faults{FailFlush: 1})
	if err := syncfs(t, s.Dir); err == nil {
		t.Fatal("syncfs succeeded with the stick failing its flush")
	}
	s.Faults(t, vdisk.Faults{})
	t.Logf("plain syncfs after the abort: %v; plain fsync: %v", syncfs(t, s.Dir), unix.Fsync(int(f.Fd())))
	for what, err := range map[string]error{
		"SyncFile": durable.SyncFile(f),
		"SyncDir":  durable.SyncDir(s.Dir),
		"SyncFS":   durable.SyncFS(s.Dir),
	} {
		var pe *os.PathError
		if err == nil || !errors.As(err, &pe) {
			t.Errorf("%s after the journal aborted: %v, want an error naming the path", what, err)
		}
	}
}

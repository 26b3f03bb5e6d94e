//go:build linux

package oplog_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sure-tools/sure/lab/oplog"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	oplog.Main()
	os.Exit(m.Run())
}

// find returns the first successful op after seq from matching kind and
// path, or fails the test.
func find(t *testing.T, ops []oplog.Op, from int, kind, path string) oplog.Op {
	t.Helper()
	for _, o := range ops[from+1:] {
		if o.Op == kind && o.Path == path && o.OK() {
			return o
		}
	}
	t.Fatalf("no %s %s after #%d in the log:\n%s", kind, path, from, dump(ops))
	return oplog.Op{}
}

func dump(ops []oplog.Op) string {
	var b bytes.Buffer
	for _, o := range ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestOrder writes, syncs and renames a file the way an atomic write does
// and checks that every step reached the server, in program order.
func TestOrder(t *testing.T) {
	m := oplog.Start(t)
	if err := os.Mkdir(filepath.Join(m.Dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(m.Dir, "d", "f.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 4096)
	for range 3 {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.Dir, "d", "f")); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(filepath.Join(m.Dir, "d"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	d.Close()

	ops, err := m.Ops()
	if err != nil {
		t.Fatal(err)
	}
	mk := find(t, ops, -1, oplog.OpMkdir, "d")
	cr := find(t, ops, mk.Seq, oplog.OpCreate, "d/f.tmp")
	if cr.Dir != mk.Ino {
		t.Errorf("CREATE names dir %d, MKDIR made %d", cr.Dir, mk.Ino)
	}
	next := cr.Seq
	for i := range 3 {
		w := find(t, ops, next, oplog.OpWrite, "d/f.tmp")
		if w.Off != int64(i*4096) || w.Len != 4096 || w.Ino != cr.Ino {
			t.Errorf("write %d: got %v, want [%d+4096] ino %d", i, w, i*4096, cr.Ino)
		}
		next = w.Seq
	}
	fs := find(t, ops, next, oplog.OpFsync, "d/f.tmp")
	rn := find(t, ops, fs.Seq, oplog.OpRename, "d/f.tmp")
	if rn.New != "d/f" || rn.Ino != cr.Ino || rn.Dir != mk.Ino || rn.NewDir != mk.Ino {
		t.Errorf("rename: got %v, want d/f.tmp -> d/f of ino %d in dir %d", rn, cr.Ino, mk.Ino)
	}
	sd := find(t, ops, rn.Seq, oplog.OpFsyncdir, "d")
	if sd.Ino != mk.Ino {
		t.Errorf("FSYNCDIR of ino %d, want %d", sd.Ino, mk.Ino)
	}
	if got, err := os.ReadFile(filepath.Join(m.Backing, "d", "f")); err != nil || len(got) != 3*4096 {
		t.Errorf("backing file: %d bytes, %v; want %d", len(got), err, 3*4096)
	}
}

// TestRenameNoReplace checks that renameat2 flags reach the server and that
// RENAME_NOREPLACE onto an existing name fails with EEXIST, target intact.
func TestRenameNoReplace(t *testing.T) {
	m := oplog.Start(t)
	a, b := filepath.Join(m.Dir, "a"), filepath.Join(m.Dir, "b")
	if err := os.WriteFile(a, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("renameat2(NOREPLACE) onto an existing file: %v, want EEXIST", err)
	}
	if got, _ := os.ReadFile(b); string(got) != "old" {
		t.Errorf("target holds %q, want %q", got, "old")
	}
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, filepath.Join(m.Dir, "c"), unix.RENAME_NOREPLACE); err != nil {
		t.Fatalf("renameat2(NOREPLACE) onto a free name: %v", err)
	}
	ops, err := m.Ops()
	if err != nil {
		t.Fatal(err)
	}
	var renames []oplog.Op
	for _, o := range ops {
		if o.Op == oplog.OpRename {
			renames = append(renames, o)
		}
	}
	// The kernel refuses the first rename itself (it knows b exists), so
	// only the second reaches the server, with its flag.
	if len(renames) != 1 {
		t.Fatalf("renames logged:\n%s\nwant 1", dump(renames))
	}
	if r := renames[0]; r.Flags != unix.RENAME_NOREPLACE || !r.OK() || r.Path != "a" || r.New != "c" {
		t.Errorf("rename logged as %v, want a -> c flags=RENAME_NOREPLACE, success", r)
	}
}

// TestFaults checks the fault switches: FSYNC and FSYNCDIR fail with EIO
// while switched on, and the kernel keeps sending them once switched off.
func TestFaults(t *testing.T) {
	m := oplog.Start(t)
	f, err := os.Create(filepath.Join(m.Dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := os.Open(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct {
		fault string
		file  *os.File
	}{{oplog.FaultFsync, f}, {oplog.FaultFsyncdir, d}} {
		if err := m.SetFault(c.fault, true); err != nil {
			t.Fatal(err)
		}
		if err := c.file.Sync(); !errors.Is(err, unix.EIO) {
			t.Errorf("%s fault on: fsync of %s: %v, want EIO", c.fault, c.file.Name(), err)
		}
		if err := m.SetFault(c.fault, false); err != nil {
			t.Fatal(err)
		}
		if err := c.file.Sync(); err != nil {
			t.Errorf("%s fault off: fsync of %s: %v", c.fault, c.file.Name(), err)
		}
	}
	ops, err := m.Ops()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range ops {
		if o.Op == oplog.OpFsync || o.Op == oplog.OpFsyncdir {
			got = append(got, fmt.Sprintf("%s %s %d", o.Op, o.Path, o.Errno))
		}
	}
	want := []string{"FSYNC f 5", "FSYNC f 0", "FSYNCDIR . 5", "FSYNCDIR . 0"}
	if !slices.Equal(got, want) {
		t.Errorf("flushes logged: %q, want %q", got, want)
	}
}

// TestRemovals: an unlink and an rmdir each reach the log with the inode
// they removed and the directory they removed it from, and a failed one
// with its errno.
func TestRemovals(t *testing.T) {
	m := oplog.Start(t)
	d := filepath.Join(m.Dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(d, "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Rmdir(d); !errors.Is(err, unix.ENOTEMPTY) {
		t.Fatalf("rmdir of a full directory: %v, want ENOTEMPTY", err)
	}
	if err := os.Remove(filepath.Join(d, "f")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(d, "e")); err != nil {
		t.Fatal(err)
	}
	ops, err := m.Ops()
	if err != nil {
		t.Fatal(err)
	}
	mk := find(t, ops, -1, oplog.OpMkdir, "d")
	cr := find(t, ops, mk.Seq, oplog.OpCreate, "d/f")
	me := find(t, ops, mk.Seq, oplog.OpMkdir, "d/e")
	failed := slices.IndexFunc(ops, func(o oplog.Op) bool { return o.Op == oplog.OpRmdir && o.Path == "d" })
	if failed < 0 || ops[failed].Errno != int(unix.ENOTEMPTY) || ops[failed].Ino != mk.Ino {
		t.Errorf("no failed RMDIR d of ino %d with ENOTEMPTY in the log:\n%s", mk.Ino, dump(ops))
	}
	ul := find(t, ops, me.Seq, oplog.OpUnlink, "d/f")
	if ul.Ino != cr.Ino || ul.Dir != mk.Ino {
		t.Errorf("unlink: got %v, want ino %d in dir %d", ul, cr.Ino, mk.Ino)
	}
	rd := find(t, ops, ul.Seq, oplog.OpRmdir, "d/e")
	if rd.Ino != me.Ino || rd.Dir != mk.Ino {
		t.Errorf("rmdir: got %v, want ino %d in dir %d", rd, me.Ino, mk.Ino)
	}
}

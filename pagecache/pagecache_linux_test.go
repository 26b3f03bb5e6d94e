//go:build linux

package pagecache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/fsimage"
)

// A kernel without cachestat answers ENOSYS; the message says what is
// needed and which kernel runs.
func TestExplainNoCachestat(t *testing.T) {
	err := cachestatError("/media/usb/f", unix.ENOSYS)
	if !errors.Is(err, ErrNoCachestat) || !errors.Is(err, unix.ENOSYS) {
		t.Fatalf("%v: not recognized as ErrNoCachestat and ENOSYS", err)
	}
	msg := Explain(err)
	rel, _, _ := fsinfo.Kernel()
	for _, want := range []string{"cachestat(2)", "Linux 6.5", rel, "sure sync"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Explain = %q, want it to mention %q", msg, want)
		}
	}
	if other := cachestatError("/f", unix.EBADF); errors.Is(other, ErrNoCachestat) {
		t.Errorf("EBADF taken for a missing cachestat: %v", other)
	}
}

// A file written without a flush is dirty on a real ext4; after fsync it
// is cached and clean. The tree sums its files.
func TestDirtyUntilSynced(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	a := filepath.Join(m.Dir, "a")
	b := filepath.Join(m.Dir, "d", "b")
	if err := os.Mkdir(filepath.Dir(b), 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := File(a)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending() == 0 || s.Cached < 1<<20 {
		t.Fatalf("just written, %+v: want dirty or writeback bytes, 1 MiB cached", s)
	}
	tr, err := TreeOf(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Files != 2 || tr.Pending() < 2<<20 || tr.Unreadable != 0 {
		t.Fatalf("tree %+v: want 2 files, at least 2 MiB pending", tr)
	}
	for _, p := range []string{a, b} {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	tr, err = TreeOf(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Pending() != 0 || tr.Cached < 2<<20 {
		t.Fatalf("after fsync, tree %+v: want nothing pending, 2 MiB cached", tr)
	}
}

// Walking a tree must not itself change the file system: under relatime,
// reading a directory whose access time is older than its change updates
// it, unless opened with O_NOATIME.
func TestTreeKeepsAccessTimes(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	d := filepath.Join(m.Dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{d, filepath.Join(d, "f")} {
		if err := os.Chtimes(p, old, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := TreeOf(m.Dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d, filepath.Join(d, "f")} {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if at := time.Unix(st.Atim.Unix()); !at.Equal(old) {
			t.Errorf("%s: access time moved from %v to %v", p, old, at)
		}
	}
}

// The tree stays on its file system: a file system mounted below it is
// not walked.
func TestTreeStaysOnFS(t *testing.T) {
	outer := fsimage.ForTest(t, "ext4")
	sub := filepath.Join(outer.Dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(t.TempDir(), "inner.img")
	if err := fsimage.Create("ext4", inner, fsimage.MinSize("ext4")); err != nil {
		t.Fatal(err)
	}
	im, err := fsimage.MountImage("ext4", inner, sub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := im.Unmount(); err != nil {
			t.Error(err)
		}
	})
	if err := os.WriteFile(filepath.Join(sub, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := TreeOf(outer.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Files != 0 {
		t.Errorf("walked %d files of the file system mounted below", tr.Files)
	}
}

func TestMeminfo(t *testing.T) {
	s, err := Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	if s.Dirty < 0 || s.Writeback < 0 || s.Dirty%1024 != 0 {
		t.Fatalf("%+v", s)
	}
}

// With debugfs mounted, the bdi of an ext4 on a loop device is the loop
// disk's, and it counts a dirty file until it is flushed, roughly.
func TestBDIStats(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	if _, err := debugfsDir(); err != nil {
		dir := t.TempDir()
		if err := unix.Mount("none", dir, "debugfs", 0, ""); err != nil {
			t.Skipf("cannot mount debugfs: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(dir, 0) })
	}
	mt, err := fsinfo.ForPath(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	names := BDINames(mt)
	var st unix.Stat_t
	if err := unix.Stat(m.Device, &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	if len(names) != 1 || names[0] != want {
		t.Fatalf("BDINames = %q, want [%s]", names, want)
	}
	f, err := os.Create(filepath.Join(m.Dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	b, err := BDIStats(want)
	if err != nil {
		t.Fatal(err)
	}
	if b.Dirty()+b.Writeback() == 0 {
		t.Fatalf("%+v: 4 MiB just written, nothing dirty", b)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	// The bdi counters are per-CPU sums read without folding (their
	// error can stay for good), so "drained" is less than the 4 MiB.
	if b, err = BDIStats(want); err != nil || b.Dirty()+b.Writeback() >= 1<<20 {
		t.Fatalf("after syncfs: %+v, %v", b, err)
	}
}

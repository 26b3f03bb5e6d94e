//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
)

// commandHeapAt runs `sure cp -r` (and the extra flags) in this process on
// a tree of n tiny files, perDir to a directory, onto ext4 on a loop file
// in dir, and returns the heap in use after a collection once nine tenths
// of the files were reported durable: what the command, its progress and
// its events keep at that point, with the engine's own state.
func commandHeapAt(t *testing.T, dir string, n, perDir int, extra ...string) uint64 {
	t.Helper()
	dir, err := os.MkdirTemp(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	buf := make([]byte, 4096)
	for i := range n {
		// A hundred directories to a parent: the walk reads a whole
		// directory at once, which is not what this measures.
		d := i / perDir
		p := filepath.Join(src, fmt.Sprintf("d%03d", d/100), fmt.Sprintf("e%05d", d))
		if i%perDir == 0 {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		buf[0] = byte(i)
		if err := os.WriteFile(filepath.Join(p, fmt.Sprintf("f%07d", i)), buf[:i*7919%4096], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "ext4.img")
	// mkfs gives an inode to every 16 KiB.
	if err := fsimage.Create("ext4", img, int64(n)*16<<10+256<<20); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := fsimage.MountImage("ext4", img, mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	var durable int
	var inUse uint64
	testHookDurable = func() {
		// Events come one at a time from the engine's commit.
		if durable++; durable == n*9/10 {
			// Twice: the first moves sync.Pool's buffers aside, the
			// second frees them.
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			inUse = ms.HeapAlloc
		}
	}
	defer func() { testHookDurable = nil }()
	// One worker and small batches: what the files in flight hold is
	// bounded by their number, and is not what this measures.
	args := append([]string{"cp", "-r", "--workers", "1", "--batch-files", "100"}, extra...)
	args = append(args, src, filepath.Join(mnt, "dst"))
	if code := run(args, io.Discard, io.Discard); code != 0 {
		t.Fatalf("sure %v: exit code %d", args, code)
	}
	if inUse == 0 {
		t.Fatalf("the probe did not run: %d of %d files reported durable", durable, n)
	}
	return inUse
}

// TestCommandMemoryPerFile: what `sure cp -r` keeps while it copies grows
// with neither its files nor, in a plain copy, its directories: not in
// the engine, nor in the command's progress, reports and events around
// it. Ten times the files may add a few bytes per file (the files in
// flight at the probe), not a record per file (a path alone is about a
// hundred bytes).
func TestCommandMemoryPerFile(t *testing.T) {
	fsimage.Require(t, "ext4")
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2g"); err != nil {
		t.Skipf("mounting a tmpfs: %v", err)
	}
	defer unix.Unmount(dir, 0)
	for _, c := range []struct {
		name  string
		flags []string
	}{{"progress", nil}, {"json", []string{"--json"}}, {"verbose", []string{"-v"}}} {
		t.Run(c.name, func(t *testing.T) {
			const small, large = 2000, 20000
			h1 := commandHeapAt(t, dir, small, 10, c.flags...)
			h2 := commandHeapAt(t, dir, large, 10, c.flags...)
			perFile := (float64(h2) - float64(h1)) / (large - small)
			t.Logf("heap in use at nine tenths: %d files %d B, %d files %d B: %.1f B per file", small, h1, large, h2, perFile)
			if perFile > 64 {
				t.Errorf("the heap grows by %.1f B per file", perFile)
			}
		})
	}
}

//go:build linux

package copier

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// heapProbe hears a job's files become durable and, at the file it was
// told, collects the garbage and notes what the heap still holds: the
// state the job keeps at that point of the copy.
type heapProbe struct {
	mu      sync.Mutex
	n, at   int
	inUse   uint64
	objects uint64
}

func (p *heapProbe) Durable(src, dst string, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.n == p.at {
		// Twice: the first moves sync.Pool's buffers aside, the second
		// frees them; only what the job holds on to is left.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		p.inUse, p.objects = ms.HeapAlloc, ms.HeapObjects
	}
}
func (p *heapProbe) Skipped(src, dst, why string)      {}
func (p *heapProbe) Failed(src, dst string, err error) {}

// liveHeapAt copies a tree of n tiny files, perDir to a directory, onto
// ext4 on a loop file in a tmpfs and returns the heap in use, after a
// collection, once nine tenths of the files are durable, with the number
// of objects.
func liveHeapAt(t *testing.T, dir string, n, perDir int, opt Options) (uint64, uint64) {
	t.Helper()
	dir, err := os.MkdirTemp(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, fmt.Sprintf("src%d", n))
	for i := range n {
		// A hundred directories to a parent: the walk reads a whole
		// directory at once, which is not what this measures.
		d := i / perDir
		writeFile(t, filepath.Join(src, fmt.Sprintf("d%03d", d/100), fmt.Sprintf("e%05d", d), fmt.Sprintf("f%07d", i)), int64(i*7919%4096), uint64(i))
	}
	img := filepath.Join(dir, fmt.Sprintf("ext4-%d.img", n))
	// mkfs gives an inode to every 16 KiB.
	if err := fsimage.Create("ext4", img, int64(n)*16<<10+256<<20); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, fmt.Sprintf("mnt%d", n))
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := fsimage.MountImage("ext4", img, mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	p := &heapProbe{at: n * 9 / 10}
	// One worker and small batches: what the files in flight hold is
	// bounded by their number, and is not what this measures.
	opt.Recursive, opt.Events, opt.Workers, opt.BatchFiles = true, p, 1, 100
	if _, err := Copy(context.Background(), []string{src}, filepath.Join(mnt, "dst"), opt); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(src)
	if p.inUse == 0 {
		t.Fatalf("the probe did not run: %d of %d files reported durable", p.n, n)
	}
	return p.inUse, p.objects
}

// heapGrowth is what the live heap grows by per file from a copy of
// 2,000 files to one of 20,000, perDir to a directory, on a tmpfs.
func heapGrowth(t *testing.T, perDir int, opt Options) float64 {
	t.Helper()
	fsimage.Require(t, "ext4")
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2g"); err != nil {
		t.Skipf("mounting a tmpfs: %v", err)
	}
	defer unix.Unmount(dir, 0)
	const small, large = 2000, 20000
	h1, o1 := liveHeapAt(t, dir, small, perDir, opt)
	h2, o2 := liveHeapAt(t, dir, large, perDir, opt)
	perFile := (float64(h2) - float64(h1)) / (large - small)
	t.Logf("heap in use at nine tenths: %d files %d B (%d objects), %d files %d B (%d objects): %.1f B per file",
		small, h1, o1, large, h2, o2, perFile)
	return perFile
}

// TestMemoryPerFile: what a copy keeps grows with its directories, not
// with its files. Ten times the files (in ten times the directories of
// a hundred) may add a few bytes per file, for the directories' records,
// not what each file's own record would cost (several hundred bytes).
func TestMemoryPerFile(t *testing.T) {
	if perFile := heapGrowth(t, 100, Options{Archive: true}); perFile > 64 {
		t.Errorf("the heap grows by %.1f B per file", perFile)
	}
}

// TestMemoryPerDirectory: a plain copy (no -a) keeps nothing for a
// directory it made whose mode is already the one it should have, so a
// tree of many small directories costs no more heap than a small tree.
// With five files to a directory, keeping each directory's record (its
// names and stat) showed as 108 B per file; the files in flight at the
// probe add up to about 30 B per file of noise.
func TestMemoryPerDirectory(t *testing.T) {
	if perFile := heapGrowth(t, 5, Options{}); perFile > 64 {
		t.Errorf("the heap grows by %.1f B per file in directories of five", perFile)
	}
}

// TestSmallFileSmallBuffer: a file of a few KiB is copied through a
// buffer of its own size class, not through the 1 MiB one a big file
// takes: a tree of small files would otherwise hold 1 MiB per worker,
// allocated again after every collection (which empties the pools).
func TestSmallFileSmallBuffer(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "small")
	writeFile(t, src, 3000, 1)
	dst := filepath.Join(dir, "copy")
	// Twice: the pools' buffers go aside, then away.
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Copy(context.Background(), []string{src}, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	n := after.TotalAlloc - before.TotalAlloc
	t.Logf("copying a 3000-byte file allocated %d KiB", n>>10)
	if n >= bufSize {
		t.Errorf("copying a 3000-byte file allocated %d KiB; the big files' buffer alone is %d", n>>10, bufSize>>10)
	}
}

// TestStagedFilesBounded: when staging outruns the barriers (a stick
// whose flushes take 20 ms, files of a few KiB), the walk waits, so that
// the files staged and waiting for a barrier stay within two batches,
// plus those the workers and their queue held when it began to wait.
func TestStagedFilesBounded(t *testing.T) {
	s := newStick(t, "ext4", 512<<20, vdisk.Faults{FlushLatency: 20 * time.Millisecond})
	src := filepath.Join(t.TempDir(), "src")
	const files = 3000
	for i := range files {
		writeFile(t, filepath.Join(src, fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%04d", i)), int64(i*7919%4096), uint64(i))
	}
	var mu sync.Mutex
	most := 0
	testHookPending = func(n int) {
		mu.Lock()
		most = max(most, n)
		mu.Unlock()
	}
	defer func() { testHookPending = nil }()
	opt := Options{Recursive: true, BatchFiles: 100, Workers: 8}
	sum, err := Copy(context.Background(), []string{src}, filepath.Join(s.Dir, "dst"), opt)
	if err != nil || sum.Files != files {
		t.Fatalf("copied %d of %d files: %v", sum.Files, files, err)
	}
	// The queue to the workers holds 4 per worker.
	bound := maxStagedBatches*opt.BatchFiles + 4*opt.Workers + opt.Workers
	t.Logf("at most %d files staged at once (bound %d)", most, bound)
	if most > bound {
		t.Errorf("%d files were staged at once, waiting for a barrier; want at most %d", most, bound)
	}
}

// flushProbe notes the heap in use, after a collection, at each barrier:
// the last one it saw is the job's last barrier.
type flushProbe struct {
	mu    sync.Mutex
	inUse uint64
}

func (p *flushProbe) Durable(src, dst string, size int64) {}
func (p *flushProbe) Skipped(src, dst, why string)        {}
func (p *flushProbe) Failed(src, dst string, err error)   {}
func (p *flushProbe) Planned(files int, bytes int64)      {}
func (p *flushProbe) Copying(src, dst string, size int64) {}
func (p *flushProbe) OnDevice(dst string, n int64)        {}

func (p *flushProbe) Flushing(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.inUse = ms.HeapAlloc
}

// TestHeldReportsCompact: on fusefat every file is reported only after
// the job's last barrier, so each is remembered until then; what it
// costs is its two paths and a few numbers, not its whole record.
func TestHeldReportsCompact(t *testing.T) {
	m := fsimage.ForTest(t, "vfat")
	var pathBytes, files int
	heapAt := func(n int) uint64 {
		src := filepath.Join(t.TempDir(), "src")
		dst := filepath.Join(m.Dir, fmt.Sprint(n))
		for i := range n {
			rel := filepath.Join(fmt.Sprintf("d%02d", i/100), fmt.Sprintf("file-%06d.dat", i))
			writeFile(t, filepath.Join(src, rel), 100, uint64(i))
			pathBytes += len(filepath.Join(src, rel)) + len(filepath.Join(dst, rel))
		}
		files += n
		p := &flushProbe{}
		sum, err := Copy(context.Background(), []string{src}, dst, Options{Recursive: true, Workers: 1, BatchFiles: 100, Events: p})
		if err != nil || sum.Files != n {
			t.Fatalf("copied %d of %d files: %v", sum.Files, n, err)
		}
		return p.inUse
	}
	const small, large = 100, 1000
	h1 := heapAt(small)
	h2 := heapAt(large)
	perFile := (float64(h2) - float64(h1)) / (large - small)
	// The paths, a record of a few words, and what appending may leave
	// unused (up to as much again).
	bound := 2 * (float64(pathBytes)/float64(files) + 48)
	t.Logf("heap in use at the last barrier: %d files %d B, %d files %d B: %.0f B per file (bound %.0f)", small, h1, large, h2, perFile, bound)
	if perFile > bound {
		t.Errorf("each file held for the last barrier costs %.0f B of heap; want at most %.0f", perFile, bound)
	}
}

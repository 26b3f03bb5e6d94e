//go:build linux

package copier

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/lab/vdisk"
)

// dirtySampler watches the page cache of every file under dir while a
// job runs and keeps the largest sum of dirty and under-writeback pages
// it saw. The kernel answers per file (cachestat), so a sweep is not one
// instant: a sum may count a page already clean in one file and a new one
// in another, which the tests allow for with some slack.
type dirtySampler struct {
	dir  string
	stop chan struct{}
	done sync.WaitGroup
	max  int64
	n    int
}

func sampleDirty(t *testing.T, dir string) *dirtySampler {
	s := &dirtySampler{dir: dir, stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			if b := s.sweep(t); b > s.max {
				s.max = b
			}
			s.n++
			time.Sleep(time.Millisecond)
		}
	}()
	return s
}

func (s *dirtySampler) sweep(t *testing.T) int64 {
	var pages uint64
	filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOATIME, 0)
		if err != nil {
			return nil // renamed or removed under us
		}
		var cs unix.Cachestat_t
		if err := unix.Cachestat(uint(fd), &unix.CachestatRange{}, &cs, 0); err != nil {
			unix.Close(fd)
			t.Errorf("cachestat %s: %v", p, err)
			return filepath.SkipAll
		}
		unix.Close(fd)
		pages += cs.Dirty + cs.Writeback
		return nil
	})
	return int64(pages) * int64(os.Getpagesize())
}

func (s *dirtySampler) finish() int64 {
	close(s.stop)
	s.done.Wait()
	return s.max
}

// TestDirtyBounded copies onto a stick slower than memory, where the page
// cache would fill with the copy's data up to vm.dirty_ratio (gigabytes
// here), and checks that the dirty and under-writeback pages of the copy
// stay within Options.MaxDirty: for large files in parallel (write-behind
// windows shrink to fit) and for many small staged files (committed early
// when they hold the budget).
func TestDirtyBounded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    int
		size     int64
		workers  int
		maxDirty int64
		slack    int64
	}{
		{"large files", 3, 48 << 20, 3, 8 << 20, 2 << 20},
		{"small files", 400, 96 << 10, 8, 1 << 20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStick(t, "ext4", 512<<20, vdisk.Faults{BandwidthMBps: 60})
			src := filepath.Join(t.TempDir(), "src")
			for i := range tc.files {
				writeFile(t, filepath.Join(src, "f"+string(rune('a'+i%26))+string(rune('a'+i/26%26))), tc.size, uint64(i))
			}
			dest := filepath.Join(s.Dir, "src")
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			sampler := sampleDirty(t, dest)
			opt := Options{Recursive: true, Workers: tc.workers, MaxDirty: tc.maxDirty, BatchFiles: 1 << 20, BatchBytes: 1 << 40}
			_, err := Copy(context.Background(), []string{src}, s.Dir, opt)
			peak := sampler.finish()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d files of %d KiB: peak %d KiB dirty or under writeback in %d samples (limit %d KiB)",
				tc.files, tc.size>>10, peak>>10, sampler.n, tc.maxDirty>>10)
			if peak > tc.maxDirty+tc.slack {
				t.Errorf("peak of %d KiB dirty or under writeback, over the limit of %d KiB (+%d KiB for sampling)", peak>>10, tc.maxDirty>>10, tc.slack>>10)
			}
			if peak == 0 {
				t.Error("no dirty page ever seen: the sampler sees nothing")
			}
			equalTrees(t, src, dest)
		})
	}
}

// TestSizing checks the arithmetic that keeps workers from waiting on each
// other forever: two windows per worker fit in the budget.
func TestSizing(t *testing.T) {
	for _, tc := range []struct {
		maxDirty      int64
		workers       int
		window        int64
		workersWanted int
	}{
		{64 << 20, 8, 4<<20 - pageSize, 8},
		{1 << 30, 8, maxWindow, 8},
		{8 << 20, 3, ((8<<20)/6 - pageSize) &^ (pageSize - 1), 3},
		{2 << 20, 8, 124 << 10, 8},
		{1 << 20, 8, 68 << 10, 7},
		{256 << 10, 8, 124 << 10, 1},
	} {
		window, w := sizing(tc.maxDirty, tc.workers)
		if window != tc.window || w != tc.workersWanted {
			t.Errorf("sizing(%d, %d) = %d, %d; want %d, %d", tc.maxDirty, tc.workers, window, w, tc.window, tc.workersWanted)
		}
		if 2*int64(w)*(window+pageSize) > tc.maxDirty {
			t.Errorf("sizing(%d, %d): %d workers with two windows of %d overrun the budget", tc.maxDirty, tc.workers, w, window)
		}
	}
}

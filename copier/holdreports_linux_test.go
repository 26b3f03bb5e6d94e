//go:build linux

package copier

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// barrierRecorder records events, and at each barrier (Flushing) how many
// of the job's sources are still in place; waitFlushing lets a test wait
// for the nth barrier.
type barrierRecorder struct {
	recorder
	srcs    []string
	mu      sync.Mutex
	barrier []chan struct{} // closed at the first, second, ... Flushing
	n       int
	inPlace []int // sources in place at each Flushing
	atFirst int   // sources in place at the first Durable, -1 before it
}

func (b *barrierRecorder) present() int {
	n := 0
	for _, s := range b.srcs {
		if _, err := os.Lstat(s); err == nil {
			n++
		}
	}
	return n
}

func (b *barrierRecorder) Flushing(files int, bytes int64) {
	b.recorder.Flushing(files, bytes)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inPlace = append(b.inPlace, b.present())
	if b.n < len(b.barrier) {
		close(b.barrier[b.n])
	}
	b.n++
}

func (b *barrierRecorder) Durable(src, dst string, size int64) {
	b.mu.Lock()
	if b.atFirst < 0 {
		b.atFirst = b.present()
	}
	b.mu.Unlock()
	b.recorder.Durable(src, dst, size)
}

// TestFusefatReportsOnlyAtEnd moves ten files in batches of two, each
// batch held back until the barrier of the one before has begun, so that
// the job spans at least three barriers. On fusefat, whose later writes
// can take an already flushed file with them, no file may be reported
// durable and no source removed before the job's last barrier; on ext4
// files are still reported batch by batch.
func TestFusefatReportsOnlyAtEnd(t *testing.T) {
	for _, kind := range []string{"vfat", "ext4"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			src := filepath.Join(t.TempDir(), "src")
			rec := &barrierRecorder{atFirst: -1, barrier: []chan struct{}{make(chan struct{}), make(chan struct{})}}
			for i := range 10 {
				p := filepath.Join(src, fmt.Sprintf("f%02d", i))
				writeFile(t, p, 4096+int64(i), uint64(i))
				rec.srcs = append(rec.srcs, p)
			}
			var started atomic.Int32
			testHookFileStart = func(string) {
				switch started.Add(1) {
				case 3:
					<-rec.barrier[0]
				case 5:
					<-rec.barrier[1]
				}
			}
			t.Cleanup(func() { testHookFileStart = nil })
			sum, err := Move(context.Background(), []string{src}, m.Dir, Options{Workers: 1, BatchFiles: 2, Events: rec})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Files != 10 {
				t.Errorf("%d files moved, want 10", sum.Files)
			}
			log := rec.events()
			lastFlush, firstDurable, durable := -1, -1, 0
			for i, e := range log {
				switch e.kind {
				case "flushing":
					lastFlush = i
				case "durable":
					durable++
					if firstDurable < 0 {
						firstDurable = i
					}
				}
			}
			if durable != 10 {
				t.Fatalf("%d Durable events, want 10", durable)
			}
			if len(rec.inPlace) < 3 {
				t.Fatalf("%d barriers, want at least 3", len(rec.inPlace))
			}
			if kind != "vfat" {
				if firstDurable > lastFlush {
					t.Errorf("%s: no file reported before the last barrier (events %d, %d)", kind, firstDurable, lastFlush)
				}
				return
			}
			if firstDurable < lastFlush {
				t.Errorf("a file was reported durable (event %d) before the job's last barrier began (event %d)", firstDurable, lastFlush)
			}
			for i, n := range rec.inPlace {
				if n != len(rec.srcs) {
					t.Errorf("barrier %d: %d of %d sources left, want all", i+1, n, len(rec.srcs))
				}
			}
			if rec.atFirst != len(rec.srcs) {
				t.Errorf("first report: %d of %d sources left, want all", rec.atFirst, len(rec.srcs))
			}
			if _, err := os.Stat(src); !os.IsNotExist(err) {
				t.Errorf("source still there after the move: %v", err)
			}
		})
	}
}

// TestFusefatInterruptedReportsAfterBarrier interrupts a move onto
// fusefat once its second barrier has begun: what the barriers covered is
// reported after the job's last one, each reported file's source is
// removed, and every other source is left in place.
func TestFusefatInterruptedReportsAfterBarrier(t *testing.T) {
	m := fsimage.ForTest(t, "vfat")
	src := filepath.Join(t.TempDir(), "src")
	rec := &barrierRecorder{atFirst: -1, barrier: []chan struct{}{make(chan struct{}), make(chan struct{})}}
	for i := range 10 {
		p := filepath.Join(src, fmt.Sprintf("f%02d", i))
		writeFile(t, p, 4096+int64(i), uint64(i))
		rec.srcs = append(rec.srcs, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started atomic.Int32
	testHookFileStart = func(string) {
		switch started.Add(1) {
		case 3:
			<-rec.barrier[0]
		case 5:
			<-rec.barrier[1]
			cancel()
		}
	}
	t.Cleanup(func() { testHookFileStart = nil })
	sum, err := Move(ctx, []string{src}, m.Dir, Options{Workers: 1, BatchFiles: 2, Events: rec})
	if err == nil || !sum.Interrupted {
		t.Fatalf("Move = %v, interrupted %v; want interrupted", err, sum.Interrupted)
	}
	log := rec.events()
	lastFlush := -1
	for i, e := range log {
		if e.kind == "flushing" {
			lastFlush = i
		}
	}
	reported := map[string]bool{}
	for i, e := range log {
		if e.kind != "durable" {
			continue
		}
		if i < lastFlush {
			t.Errorf("%s reported (event %d) before the last barrier began (event %d)", e.dst, i, lastFlush)
		}
		reported[e.src] = true
	}
	// The first batch's barrier was done before the cut.
	if len(reported) < 2 {
		t.Errorf("%d files reported, want at least the first batch's 2", len(reported))
	}
	for i, n := range rec.inPlace {
		if n != len(rec.srcs) {
			t.Errorf("barrier %d: %d of %d sources left, want all", i+1, n, len(rec.srcs))
		}
	}
	for _, s := range rec.srcs {
		_, err := os.Lstat(s)
		if reported[s] && err == nil {
			t.Errorf("%s: reported durable, source still there", s)
		}
		if !reported[s] && err != nil {
			t.Errorf("%s: not reported, source gone: %v", s, err)
		}
	}
}

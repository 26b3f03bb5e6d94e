package copier

import (
	"context"
	"sync"
)

// budget bounds the dirty memory a job creates, so that a slow stick cannot
// fill the host's RAM with sure's data and stall it: every page sure
// writes is charged before the write and credited back only once it is
// known clean, that is once its writeback finished (a window of write-
// behind, a per-window fdatasync) or a barrier covered it (the staged
// files of a batch). Whatever vm.dirty_* allows, the page cache then never
// holds more than limit bytes of sure's data waiting for the device.
type budget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	changed chan struct{} // closed, and replaced, whenever used drops
	// starved is called when a charge has to wait: what is held by staged
	// files comes back only through a commit, so it asks for one early.
	starved func()
}

func newBudget(limit int64, starved func()) *budget {
	return &budget{limit: limit, changed: make(chan struct{}), starved: starved}
}

// charge takes n bytes, waiting until they fit or ctx is done. A charge
// larger than the whole budget is granted when nothing else is held, so it
// cannot wait forever.
func (b *budget) charge(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		if b.starved != nil {
			b.starved()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// credit gives back n bytes that are clean now (or gone).
func (b *budget) credit(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		panic("copier: dirty budget credited more than it was charged")
	}
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// inUse is what is charged now.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// sizing derives the write-behind window and the number of workers from
// the dirty budget: each worker holds at most two windows (the one being
// written, and the one before it whose writeback is waited for), each at
// most a page over its size when a write starts mid-page, so two such
// windows per worker must fit in the budget, or workers could each hold
// part of it and wait for each other forever.
func sizing(maxDirty int64, workers int) (window int64, w int) {
	const minWindow = 64 << 10
	w = workers
	if most := int(maxDirty / (2 * (minWindow + pageSize))); w > most {
		w = max(most, 1)
	}
	window = min(maxWindow, maxDirty/int64(2*w)-pageSize)
	window = max(window&^(pageSize-1), minWindow)
	return window, w
}

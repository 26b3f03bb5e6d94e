// The lander on Linux: a file's last windows are handed to one goroutine
// that waits for their writeback (sync_file_range), so that a worker goes
// on with the next file while the device takes this one. It gives their
// dirty budget back and reports them on the device (land.go).

package copier

import (
	"context"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/commit"
)

// handOff starts the writeback of the file's last window and hands the
// waiting for it, and for the window before, to the lander, so that the
// worker can go on with the next file while the device takes this one.
// Without it, the budget held by a file's last windows came back only at
// the batch's barrier, and a job of many small files kept the device idle
// while it filled the next batch. A file system where windows are flushed
// one by one (syncEach) has none left to hand on.
func (c *fileCopy) handOff() error {
	l := c.eng.land
	if l == nil || c.syncEach || commit.SkipLandedWait {
		return nil
	}
	var spans []span
	for _, s := range []span{c.prev, c.cur} {
		if s.held > 0 {
			spans = append(spans, s)
		}
	}
	if len(spans) == 0 {
		return nil
	}
	fd := int(c.out.Fd())
	if cur := c.cur; cur.end > cur.start {
		if err := unix.SyncFileRange(fd, cur.start, cur.end-cur.start, unix.SYNC_FILE_RANGE_WRITE); err != nil {
			return &os.PathError{Op: "sync_file_range", Path: c.out.Name(), Err: err}
		}
	}
	// Its own descriptor, since the worker closes the file when it stages
	// it; on failure the barrier settles the file, as it always can.
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	var held int64
	for _, s := range spans {
		held += s.held
	}
	l.held.Add(held)
	done := make(chan struct{})
	c.t.mu.Lock()
	c.t.tail = done
	c.t.mu.Unlock()
	select {
	case l.tails <- tail{fd: dup, name: c.out.Name(), t: c.t, spans: spans, held: held, done: done}:
		c.prev, c.cur = span{}, span{}
	case <-c.ctx.Done():
		l.held.Add(-held)
		unix.Close(dup)
		close(done)
	}
	return nil
}

// lander waits, in the order files were handed to it, for the writeback
// of their last windows, then reports them on the device, drops them from
// the page cache and gives their budget back.
type lander struct {
	ctx   context.Context
	eng   *engine
	tails chan tail
	held  atomic.Int64 // budget of the windows handed on and not yet landed
	done  sync.WaitGroup
}

type tail struct {
	fd    int
	name  string
	t     *tracker
	spans []span
	held  int64
	done  chan struct{} // closed once the tail is landed or given up
}

// keepCached is the size up to which a landed file's clean pages stay in
// the page cache, as cp leaves them: dropping them costs a call per file
// and frees little, and the kernel reclaims clean pages anyway. Beyond
// it, a file's pages would push other caches out.
const keepCached = bufSize

// landerQueue bounds the files whose writeback the lander has still to
// wait for, and so the descriptors it holds open.
const landerQueue = 256

func startLander(ctx context.Context, e *engine) *lander {
	l := &lander{ctx: ctx, eng: e, tails: make(chan tail, landerQueue)}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		for tl := range l.tails {
			l.landTail(tl)
		}
	}()
	return l
}

func (l *lander) landTail(tl tail) {
	defer close(tl.done)
	defer unix.Close(tl.fd)
	defer l.held.Add(-tl.held)
	var err error
	for _, s := range tl.spans {
		if err == nil && l.ctx.Err() == nil {
			err = unix.SyncFileRange(tl.fd, s.start, s.end-s.start,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
			if err != nil {
				err = &os.PathError{Op: "sync_file_range", Path: tl.name, Err: err}
			} else if s.end > keepCached {
				unix.Fadvise(tl.fd, s.start, s.end-s.start, unix.FADV_DONTNEED)
			}
		}
		if l.ctx.Err() != nil && err == nil {
			// The job is over; the barrier, or the removal of the
			// temporary file, settles what is left.
			return
		}
		l.eng.landed(tl.t, s, err)
	}
}

// holding is the budget the lander will give back without a barrier.
func (l *lander) holding() int64 {
	if l == nil {
		return 0
	}
	return l.held.Load()
}

// stop waits for the lander to finish what it was handed.
func (l *lander) stop() {
	if l == nil {
		return
	}
	close(l.tails)
	l.done.Wait()
}

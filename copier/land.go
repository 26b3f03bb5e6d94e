// Land: one file's bytes on their way from write() to the device. What
// reached it is reported (Progress.OnDevice) and its pages given back to
// the dirty budget, as a window's writeback finishes (writeback_*.go,
// lander_*.go) or a barrier covers the rest (settle). Apart from the copy
// loop because the worker, the lander and the flusher all meet here,
// under the tracker's lock.

package copier

import (
	"sync"
)

// tracker follows one file's bytes from write() to the device: what
// progress has reported of it, and what it holds of the dirty budget.
// A worker owns it while copying; Stage hands it to the flusher.
type tracker struct {
	dst  string
	size int64

	// The worker, then the lander and the barrier (settle), which may
	// meet: whichever comes first reports and credits, the other finds
	// nothing left.
	mu       sync.Mutex
	onDevice int64 // bytes reported through Progress.OnDevice
	held     int64 // dirty budget charged and not yet credited
	wbErr    error // the writeback of a window failed after the worker handed it on
	settled  bool  // the barrier decided the file's fate; nothing more is reported
	// tail, once the worker handed the file's last windows to the lander,
	// is closed when the lander is done with them, landed or not.
	tail chan struct{}
}

// waitLanded waits for the lander to be done with t's file and says
// whether every byte of it completed to the device (L1) without a
// writeback error, before any barrier settled it. A cloned, sparse or
// resumed file, whose bytes were not all waited for here, says no.
func (t *tracker) waitLanded() bool {
	t.mu.Lock()
	tail := t.tail
	t.mu.Unlock()
	if tail != nil {
		<-tail
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wbErr == nil && !t.settled && t.onDevice == t.size
}

// span is a stretch of the destination file written as one window.
type span struct {
	start, end int64
	data       int64 // bytes written in it (holes excluded)
	held       int64 // budget charged for it
}

// landed reports a window whose writeback finished: its bytes are on the
// device (L1) and its pages no longer count against the budget.
func (c *fileCopy) landed(s span) { c.eng.landed(c.t, s, nil) }

// landed reports span s of t's file written back, or, with err, failed
// to: its pages are clean either way (Linux marks them clean after a
// writeback error), but only data that reached the device is reported
// there. What the barrier already settled is not counted again.
func (e *engine) landed(t *tracker, s span, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil && t.wbErr == nil {
		t.wbErr = err
	}
	if n := min(s.data, t.size-t.onDevice); n > 0 && err == nil && !t.settled {
		t.onDevice += n
		e.progress.OnDevice(t.dst, n)
	}
	n := min(s.held, t.held)
	t.held -= n
	e.budget.credit(n)
}

// copying starts following j's bytes and says a worker is on it.
func (r *run) copying(j *job, size int64) {
	j.track = &tracker{dst: j.dst, size: size}
	r.eng.progress.Copying(j.src, j.dst, size)
}

// settle closes j's accounts once its batch's data barrier is done (and
// again, with nothing left to do, after the second): when the barrier
// covered it (ok), the bytes not yet reported on the device are, since the
// barrier made them reach it; whatever the outcome, its pages no longer
// count against the dirty budget (written back, or removed with the
// temporary file). It comes before the Durable event.
func (r *run) settle(j *job, ok bool) {
	t := j.track
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.settled = true
	if rest := t.size - t.onDevice; ok && rest > 0 {
		t.onDevice += rest
		r.eng.progress.OnDevice(t.dst, rest)
	}
	r.eng.budget.credit(t.held)
	t.held = 0
}

// writebackErr is the error the lander met waiting for the writeback of
// j's last windows, if any.
func (j *job) writebackErr() error {
	t := j.track
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wbErr
}

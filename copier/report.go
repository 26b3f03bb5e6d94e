// Report: the outcome of each file once its barrier is done (where later
// writes could still undo it, after the job's last barrier: held.go). It
// is counted in the Summary and told to Events and Progress, one call at
// a time; a move removes a source here, once its copy is durable (and,
// with Verify, read back equal).

package copier

import (
	"sync"

	"github.com/sure-tools/sure/commit"
)

func (r *run) skip(src, dst, why string) {
	r.mu.Lock()
	r.sum.Skipped++
	r.mu.Unlock()
	r.events.Skipped(src, dst, why)
}

func (r *run) fail(src, dst string, err error) {
	r.mu.Lock()
	r.sum.Failed++
	r.mu.Unlock()
	r.events.Failed(src, dst, err)
	r.checkDest(err)
}

func (r *run) attrsNotKept(notKept bool) {
	if notKept {
		r.mu.Lock()
		r.sum.AttrsNotKept++
		r.mu.Unlock()
	}
}

// releaseHeld reports the files held back for the job's last barrier,
// once it is done: err is its failure, and then none of them is durable.
func (r *run) releaseHeld(err error) {
	r.held.each(err, r.report)
}

// report tells the outcome of files whose barrier is done.
func (r *run) report(results []commit.Result) {
	for i := range results {
		res := &results[i]
		j := res.Entry.Tag.(*job)
		switch {
		case res.Err == nil && j.upToDate:
			r.mu.Lock()
			r.sum.UpToDate++
			r.mu.Unlock()
			r.events.Skipped(j.src, j.dst, "up to date (durable)")
		case res.Err == nil:
			// The rename reset the times and they could not be set again.
			r.attrsNotKept(res.TimesLost && !j.notKept)
			r.mu.Lock()
			r.sum.Files++
			r.sum.Bytes += res.Entry.Size
			r.mu.Unlock()
			r.events.Durable(j.src, j.dst, res.Entry.Size)
			if r.opt.move && r.vr == nil {
				r.removeSource(j.src, j.dst)
			}
		case res.Exists:
			r.mu.Lock()
			r.sum.Skipped++
			r.mu.Unlock()
			r.events.Skipped(j.src, j.dst, "exists (-n)")
		default:
			r.fail(j.src, j.dst, res.Err)
		}
	}
	// Verify, Manifest: with them a move removes a source only here.
	checks := r.readBack(results)
	for i, res := range results {
		j := res.Entry.Tag.(*job)
		if res.Err != nil || !r.verdict(j, checks, i) {
			continue
		}
		if r.opt.move && r.vr != nil && !j.upToDate {
			r.removeSource(j.src, j.dst)
		}
		if !j.upToDate && r.vr != nil {
			// Journaled only once read back and found equal.
			r.journal.record(r.root, j)
		}
	}
	r.journal.flush(false)
}

type nopEvents struct{}

func (nopEvents) Durable(src, dst string, size int64) {}
func (nopEvents) Skipped(src, dst, why string)        {}
func (nopEvents) Failed(src, dst string, err error)   {}

type lockedEvents struct {
	mu sync.Mutex
	e  Events
}

func (l *lockedEvents) Durable(src, dst string, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.e.Durable(src, dst, size)
}

func (l *lockedEvents) Skipped(src, dst, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.e.Skipped(src, dst, why)
}

func (l *lockedEvents) Failed(src, dst string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.e.Failed(src, dst, err)
}

type nopProgress struct{}

func (nopProgress) Planned(files int, bytes int64)      {}
func (nopProgress) Copying(src, dst string, size int64) {}
func (nopProgress) OnDevice(dst string, n int64)        {}
func (nopProgress) Flushing(files int, bytes int64)     {}

// lockedProgress serializes Progress calls with the other events.
type lockedProgress struct {
	l *lockedEvents
	p Progress
}

func (lp lockedProgress) Planned(files int, bytes int64) {
	lp.l.mu.Lock()
	defer lp.l.mu.Unlock()
	lp.p.Planned(files, bytes)
}

func (lp lockedProgress) Copying(src, dst string, size int64) {
	lp.l.mu.Lock()
	defer lp.l.mu.Unlock()
	lp.p.Copying(src, dst, size)
}

func (lp lockedProgress) OnDevice(dst string, n int64) {
	lp.l.mu.Lock()
	defer lp.l.mu.Unlock()
	lp.p.OnDevice(dst, n)
}

func (lp lockedProgress) Flushing(files int, bytes int64) {
	lp.l.mu.Lock()
	defer lp.l.mu.Unlock()
	lp.p.Flushing(files, bytes)
}

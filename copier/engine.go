// The engine: what the copies of one job share, set up before any worker
// starts: the dirty budget (budget.go) and the write-behind window it
// allows, the lander, where progress goes, and the pairs of file systems
// that refused to clone.

package copier

import (
	"fmt"
	"sync"

	"github.com/sure-tools/sure/commit"
)

// minMaxDirty is the smallest dirty budget: one worker with two windows of
// the smallest size (see sizing), rounded up.
const minMaxDirty = 256 << 10

// dirtyDefaults fills in MaxDirty and fits the number of workers into it.
func (o *Options) dirtyDefaults() error {
	if o.MaxDirty == 0 {
		o.MaxDirty = DefaultMaxDirty
	}
	if o.MaxDirty < minMaxDirty {
		return &UsageError{fmt.Sprintf("the dirty memory limit must be at least %d KiB", minMaxDirty>>10)}
	}
	_, o.Workers = sizing(o.MaxDirty, o.Workers)
	return nil
}

// startEngine sets up what the copies share and tells Progress what the
// job holds. It runs before any worker starts.
func (r *run) startEngine() {
	r.eng.window, _ = sizing(r.opt.MaxDirty, r.opt.Workers)
	r.eng.budget = newBudget(r.opt.MaxDirty, r.starved)
	r.eng.land = startLander(r.ctx, &r.eng)
	r.eng.progress = nopProgress{}
	if p, ok := r.opt.Events.(Progress); ok {
		r.eng.progress = lockedProgress{l: r.events.(*lockedEvents), p: p}
	}
	r.c.BeforeBarrier = r.eng.progress.Flushing
	r.c.Landed = func(e *commit.Entry) bool {
		j, ok := e.Tag.(*job)
		return ok && j.track != nil && j.track.waitLanded()
	}
	r.c.DataBarrierDone = func(e *commit.Entry, err error) {
		if j, ok := e.Tag.(*job); ok {
			r.settle(j, err == nil)
		}
	}
	if r.opt.plan != nil && !r.opt.told {
		r.eng.progress.Planned(r.opt.plan.Files+r.opt.plan.Symlinks, r.opt.plan.Bytes)
	}
}

// starved is called when a write has to wait for the dirty budget. What
// staged files hold comes back through a barrier, so it asks for one
// early; unless the lander holds most of it, which comes back as the
// device takes it, barrier or not: a barrier then would only cost a cache
// flush.
func (r *run) starved() {
	if r.eng.land.holding() > r.opt.MaxDirty/2 {
		return
	}
	r.requestFlush()
}

// engine is what the copies of one job share: the dirty budget, the
// window size derived from it, where progress goes, and which pairs of
// file systems refused to clone.
type engine struct {
	budget   *budget
	window   int64
	progress Progress
	clones   cloneMemo
	land     *lander // waits for the writeback of files' last windows (lander_linux.go); nil elsewhere
}

// cloneMemo remembers the pairs of devices (source, destination) where
// FICLONE is not supported, so that a job tries it once per pair, not
// once per file.
type cloneMemo struct{ refused sync.Map }

// Commit: the barrier steps of the commit protocol (package commit).
// Staged files are committed in batches, every checkpointEvery or sooner
// when a batch fills; the walk is held while staging outruns the
// barriers; directories get their final attributes before the job's last
// barrier. Each batch's results then go to report.go.

package copier

import (
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/sure-tools/sure/commit"
)

// testHookPending, set by tests, hears how many files are staged each
// time a file is.
var testHookPending func(n int)

func (r *run) maybeFlush() {
	n, b := r.c.Pending()
	if testHookPending != nil {
		testHookPending(n)
	}
	if n >= r.opt.BatchFiles || b >= r.opt.BatchBytes {
		select {
		case r.flushCh <- struct{}{}:
		default:
		}
	}
}

// checkpointEvery is the longest a staged or renamed file waits for its
// next barrier, unless a batch fills first. A barrier costs the same few
// cache flushes whatever it covers (on ext4 two to six, each 10 ms or more
// on a USB stick), so barriers much more often than this cost throughput;
// much less often, and an interruption loses more work, and files are
// reported durable later.
const checkpointEvery = time.Second

// flusher runs the pipeline's barriers (commit.Step) as batches fill, or
// every checkpointEvery while files wait, until flushCh is closed; what is
// left then is Copy's to commit.
func (r *run) flusher() {
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case _, ok := <-r.flushCh:
			if !ok {
				return
			}
		case <-tick.C:
			if n, _ := r.c.Pending(); n == 0 && r.c.Renamed() == 0 {
				continue
			}
		}
		r.settleBatch(r.c.Step())
		r.signalStep()
		tick.Reset(checkpointEvery)
	}
}

// maxStagedBatches bounds the files staged and not yet taken by a
// barrier step, in batches (Options.BatchFiles).
const maxStagedBatches = 2

// admit holds the walk while the files staged wait for a step and are
// more than maxStagedBatches batches: staging then outruns the barriers
// (a slow flush, a loaded machine), and every staged file keeps its
// records (names, stat, temporary file) until its barrier. Without it a
// copy of 200,000 small files was seen holding 12,000 staged. The
// workers finish the files they have; the flusher, asked by maybeFlush,
// takes the batch.
func (r *run) admit() {
	limit := maxStagedBatches * r.opt.BatchFiles
	if n, _ := r.c.Pending(); n < limit {
		return
	}
	r.maybeFlush()
	r.stepMu.Lock()
	defer r.stepMu.Unlock()
	for r.ctx.Err() == nil {
		if n, _ := r.c.Pending(); n < limit {
			return
		}
		r.stepped.Wait()
	}
}

func (r *run) signalStep() {
	r.stepMu.Lock()
	r.stepped.Broadcast()
	r.stepMu.Unlock()
}

// settleBatch tells the outcome of every file a barrier decided.
func (r *run) settleBatch(results []commit.Result) {
	for i := range results {
		res := &results[i]
		j := res.Entry.Tag.(*job)
		if err := j.writebackErr(); err != nil && res.Err == nil {
			// The barrier should have reported it; a copy whose data
			// did not reach the device is never called durable.
			res.Err = fmt.Errorf("%s is in place but its data did not reach the device: %w", j.dst, err)
		}
		r.settle(j, res.Err == nil && !j.upToDate)
	}
	if !r.holdReports {
		r.report(results)
		return
	}
	// Failures are told now (a dead stick stops the job); what the
	// barrier covered waits for the job's last one (releaseHeld).
	var failed []commit.Result
	for _, res := range results {
		if res.Err == nil {
			r.held.add(res, r.vr != nil)
		} else {
			failed = append(failed, res)
		}
	}
	r.report(failed)
}

// flushFinishing commits the job's last batch. Where the destination's
// file system logs its metadata in order (fsinfo.Caps.CommitCoversLanded),
// the directories' attributes and the journal's removal go before the
// batch's barrier, which makes them durable with the files: one barrier
// fewer. Not with Verify, whose mismatches are known only after it, nor
// where reports wait for the last barrier. finished says whether
// finishJob ran; dirErr is then the barrier's failure for the directories.
func (r *run) flushFinishing() (finished bool, dirErr error) {
	caps, err := r.c.Caps(r.destDir)
	if err != nil || !caps.CommitCoversLanded || r.vr != nil || r.holdReports {
		r.settleBatch(r.c.Flush())
		return false, nil
	}
	res, finished, dirErr := r.c.FlushFinishing(r.finishJob)
	r.settleBatch(res)
	return finished, dirErr
}

// finishJob gives the directories their final attributes and, when the
// job is complete (renamed: no file of the last batch failed before its
// barrier), removes the journal, before the last barrier, which makes its
// removal durable with the directories.
func (r *run) finishJob(renamed bool) {
	r.finishDirs()
	if renamed && r.sum.Failed == 0 && r.sum.Mismatched == 0 && r.ctx.Err() == nil {
		r.removeJournal(true)
	}
}

// lastBarrier flushes the directories changed since the last Flush; where
// reports wait for it, it flushes the destination's file system even when
// no directory changed, since everything is reported on its success.
func (r *run) lastBarrier() error {
	if r.holdReports {
		if err := r.c.DirChanged(r.destDir); err != nil {
			return err
		}
	}
	return r.c.FlushDirs()
}

// finishDirs gives directories their final mode (and, with -a, owner and
// times), deepest first so that setting a parent's times comes after its
// children changed it, and records them for the last barrier.
func (r *run) finishDirs() {
	for i := len(r.dirs) - 1; i >= 0; i-- {
		d := r.dirs[i]
		if !d.created && !r.opt.Preserve.any() {
			continue
		}
		perm := d.perm
		if r.opt.Preserve.Mode {
			perm = d.info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		unread := r.unread[d.dst]
		notKept, err := r.setDirAttrs(d.src, d.dst, d.info, perm, d.created || r.opt.Preserve.Mode, !unread)
		r.attrsNotKept(notKept && r.opt.Preserve.any())
		if err != nil {
			r.fail(d.src, d.dst, err)
			continue
		}
		if unread {
			// Nothing was written into it, and with its source's mode it
			// may not be opened again; its entry is its parent's.
			continue
		}
		if err := r.c.DirChanged(d.dst); err != nil {
			r.fail(d.src, d.dst, err)
		}
	}
}

// setDirAttrs sets the attributes of the directory dst through
// descriptors opened beneath the root: a directory swapped for a link is
// not reached.
func (r *run) setDirAttrs(src, dst string, info fs.FileInfo, perm fs.FileMode, setMode, xattrs bool) (bool, error) {
	dir, err := r.root.Dir(dst)
	if err != nil {
		return false, err
	}
	defer dir.Release()
	parent, name, err := r.root.Parent(dst)
	if err != nil {
		return false, err
	}
	defer parent.Release()
	notKept, err := setDirAttrs(dir, parent, name, info, perm, setMode, r.opt.Preserve)
	if err == nil && r.opt.Preserve.Xattr && xattrs {
		var in *os.File
		if in, err = os.Open(src); err == nil {
			var x bool
			x, err = copyXattrs(in, dir.File())
			in.Close()
			notKept = notKept || x
		}
	}
	return notKept, err
}

// requestFlush asks the flusher for a commit, without waiting.
func (r *run) requestFlush() {
	select {
	case r.flushCh <- struct{}{}:
	default:
	}
}

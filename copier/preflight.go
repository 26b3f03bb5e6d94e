package copier

import "github.com/sure-tools/sure/preflight"

// preflight describes the job to package preflight as the copier will run
// it, so that what is judged is what is done.
func (o *jobSpec) preflight() preflight.Options {
	return preflight.Options{
		Recursive: o.Recursive, Follow: o.followOperand(),
		NoClobber: o.NoClobber, Move: o.move, TimesKept: o.Preserve.Timestamps || o.move,
		SkipInvalid: o.SkipInvalid, RenameInvalid: o.RenameInvalid,
		NoSpaceCheck: o.NoSpaceCheck, KeepsHoles: o.Sparse != Never,
	}
}

// planned applies the pre-flight plan to one entry: where it goes, or
// false once it is reported as left out.
func (r *run) planned(src, dst string) (string, bool) {
	if why := r.opt.plan.SkipReason(src); why != "" {
		r.mu.Lock()
		r.sum.Skipped++
		r.mu.Unlock()
		r.events.Skipped(src, dst, why)
		return dst, false
	}
	d, _ := r.opt.plan.Target(src, dst)
	return d, true
}

package copier

import "io/fs"

// DryRunEvents hears, in a dry run, what the job would do with each
// file: what is "copy", "replace", "keep" (complete from an earlier run)
// or "move". Calls come from one goroutine at a time.
type DryRunEvents interface {
	Would(src, dst, what string, size int64)
}

// would tells what a dry run found for one file.
func (r *run) would(src, dst string, info, existing fs.FileInfo, done bool) {
	what := "copy"
	switch {
	case done:
		r.mu.Lock()
		r.sum.UpToDate++
		r.mu.Unlock()
		what = "keep"
	case existing != nil:
		what = "replace"
	}
	if what != "keep" {
		r.mu.Lock()
		r.sum.Would++
		if info.Mode().IsRegular() {
			r.sum.WouldBytes += info.Size()
		}
		r.mu.Unlock()
	}
	if d, ok := r.opt.Events.(DryRunEvents); ok {
		if l, ok := r.events.(*lockedEvents); ok {
			l.mu.Lock()
			defer l.mu.Unlock()
		}
		d.Would(src, dst, what, info.Size())
	}
}

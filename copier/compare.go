// The up-to-date checks: whether an existing destination file already
// holds its source, so that it is kept and only made durable instead of
// replaced (the job's journal, rsync's quick check, the size alone, or
// the content with --checksum), and -u's test of age. The walk asks them
// for each file before any is written (walk.go).

package copier

import (
	"io/fs"

	"github.com/sure-tools/sure/fsinfo"
)

// upToDate reports whether dst already holds src as a copy with its times
// kept (-a, mv) leaves it: a regular file of the same size and mtime. A
// destination that stores times coarsely (f, its format) holds the
// source's time cut down to its granularity, so that exact cut
// also counts, but only when the earlier run kept times (timesKept): a
// copy stamped with the time it was made could otherwise match a source
// changed within the same second.
func upToDate(src, dst fs.FileInfo, f fsinfo.Format, timesKept bool) bool {
	if !src.Mode().IsRegular() || !dst.Mode().IsRegular() || src.Size() != dst.Size() {
		return false
	}
	if src.ModTime().Equal(dst.ModTime()) {
		return true
	}
	if !timesKept {
		return false
	}
	for _, g := range f.TimeGranularity {
		if dst.ModTime().Equal(src.ModTime().Truncate(g)) {
			return true
		}
	}
	return false
}

// complete is the resume test: dst already holds src. By default a
// regular file of the same size and modification time (as -a and mv leave
// it); with Checksum, of the same size and content. A move never resumes
// this way (it would leave the source in place).
func (r *run) complete(info, existing fs.FileInfo, src, dst string) (bool, *sums) {
	switch {
	case existing == nil || r.opt.move:
		return false, nil
	case r.opt.Checksum:
		return r.sameContent(src, dst, info, existing)
	case r.opt.SizeOnly:
		return info.Mode().IsRegular() && existing.Mode().IsRegular() && info.Size() == existing.Size(), nil
	case r.opt.QuickCheck:
		return upToDate(info, existing, r.opt.plan.Kind.Format(), r.opt.Preserve.Timestamps), nil
	}
	// By default a file is kept only when this job's journal proves it
	// is a copy an earlier run of sure completed; anything else is
	// replaced, as cp replaces it.
	return r.journal.done(src, info, existing, r.rel(dst)), nil
}

// sameContent is the resume test of --checksum: dst, of src's size, holds
// src's content. The hashes of src are kept for the read-back and the
// manifest.
func (r *run) sameContent(src, dst string, info, existing fs.FileInfo) (bool, *sums) {
	if !info.Mode().IsRegular() || !existing.Mode().IsRegular() || info.Size() != existing.Size() {
		return false, nil
	}
	ds, err := r.hashPath(dst)
	if err != nil {
		return false, nil
	}
	ss, err := r.hashPath(src)
	if err != nil || ss.xxh != ds.xxh {
		return false, nil
	}
	return true, ss
}

// dstNotOlder reports whether the existing destination is at least as
// new as the source: -u then keeps it.
func dstNotOlder(src, dst fs.FileInfo) bool {
	return !dst.ModTime().Before(src.ModTime())
}

package copier

import (
	"fmt"

	"github.com/sure-tools/sure/commit"
)

// heldFiles are the files that barriers covered and that are reported
// only after the job's last barrier (fsinfo.ReportsOnlyAtEnd): a tree of
// many files keeps each one's record until the end. Those records are
// kept compactly, the paths of all in one arena and a few numbers each,
// instead of each file's commit entry and job (with its stat, about a
// kilobyte). Files that are read back (Verify, Manifest) keep their
// entries whole: the check needs their sums and stat.
type heldFiles struct {
	paths []byte // each file's source then destination, back to back
	recs  []heldRec
	whole []commit.Result
}

type heldRec struct {
	src, dst int // lengths in paths
	size     int64
	upToDate bool
}

// heldChunk is how many compact records are turned back into results at
// a time when they are reported.
const heldChunk = 1024

func (h *heldFiles) add(res commit.Result, whole bool) {
	if whole {
		h.whole = append(h.whole, res)
		return
	}
	j := res.Entry.Tag.(*job)
	h.paths = append(h.paths, j.src...)
	h.paths = append(h.paths, j.dst...)
	h.recs = append(h.recs, heldRec{src: len(j.src), dst: len(j.dst), size: res.Entry.Size, upToDate: j.upToDate})
}

// each hands every held file to f as results, a chunk at a time, each
// with err as its error (nil: durable), and forgets them.
func (h *heldFiles) each(err error, f func([]commit.Result)) {
	fail := func(res *commit.Result) {
		if err != nil {
			res.Err = fmt.Errorf("%s is in place but not known durable: %w", res.Entry.Final, err)
		}
	}
	whole := h.whole
	for i := range whole {
		fail(&whole[i])
	}
	if len(whole) > 0 {
		f(whole)
	}
	paths, recs := h.paths, h.recs
	*h = heldFiles{}
	var at int
	for len(recs) > 0 {
		n := min(len(recs), heldChunk)
		out := make([]commit.Result, n)
		for i, rec := range recs[:n] {
			src := string(paths[at : at+rec.src])
			dst := string(paths[at+rec.src : at+rec.src+rec.dst])
			at += rec.src + rec.dst
			out[i] = commit.Result{Entry: &commit.Entry{Final: dst, Size: rec.size, Tag: &job{src: src, dst: dst, upToDate: rec.upToDate}}}
			fail(&out[i])
		}
		f(out)
		recs = recs[n:]
	}
}

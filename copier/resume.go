package copier

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
	"github.com/zeebo/xxh3"
)

// A big file is made durable in steps while it is written, each one noted
// in the job journal with its temporary file, so that a rerun after a
// crash, a pulled stick or a kill writes only what is past the last step.
// The temporary file keeps its temporary name until the whole file is
// written and goes through the commit protocol like any other.

// DefaultResumeEvery is the distance between two durable steps of one
// file when Options.ResumeEvery is 0: a step costs a flush of the drive
// or two, and a rerun rewrites at most this much.
const DefaultResumeEvery = 64 << 20

// resumeTail is how much of the data before a step the journal line
// hashes: a rerun reads that much of the temporary file back and compares
// it, a cheap proof that the file is the one the step made durable.
const resumeTail = 1 << 20

// partialLine is the format of a step's journal line: destination
// (relative), temporary file (base name), source (absolute), the
// source's device, inode, size, modification and change times, the
// durable length, and the xxh3 of the resumeTail bytes before it.
const partialLine = "P %q %q %q %d %d %d %d %d %d %d %d"

// partialEntry is the last durable step of a file an earlier run did not
// finish.
type partialEntry struct {
	temp, src string
	s         fileStamp
	off       int64
	tail      xxh3.Uint128
}

// testHookCheckpoint, set by tests, runs once a step of dst up to off is
// durable and journaled: tests cut the power there.
var testHookCheckpoint func(dst string, off int64)

// testHookWindow, set by tests, runs as each write-behind window of dst
// ends, off bytes written: tests cut the power between two steps.
var testHookWindow func(dst string, off int64)

// parsePartial reads a step's line.
func parsePartial(line string) (string, partialEntry, bool) {
	var rel string
	var p partialEntry
	_, err := fmt.Sscanf(line, partialLine, &rel, &p.temp, &p.src,
		&p.s.dev, &p.s.ino, &p.s.size, &p.s.mtimeNs, &p.s.ctimeNs, &p.off, &p.tail.Hi, &p.tail.Lo)
	return rel, p, err == nil && durable.IsTemp(p.temp) && p.off > 0
}

// resumeEvery is the step of a file of size bytes, 0 for none: a move
// (no journal) or a file no bigger than one step.
func (r *run) resumeEvery(size int64) int64 {
	every := r.opt.ResumeEvery
	if every == 0 {
		every = DefaultResumeEvery
	}
	if every < 0 || r.journal == nil || size <= every || !resumesFiles(r.sum.Dest) {
		return 0
	}
	return every
}

// resumesFiles reports whether a file system takes a kept file up again
// as it was left.
func resumesFiles(m fsinfo.Mount) bool {
	return !fsinfo.CapsOf(m).RewritesReopened
}

// checkpointer returns what fileCopy calls at each step of j's copy into
// e's temporary file out: flush the data up to off (and the directory
// entry, the first time), then journal it. A failed flush fails the copy:
// nothing written since the last good one is known durable.
// It reports whether the step's line is durable.
func (r *run) checkpointer(j *job, e *commit.Entry, out, in *os.File, src fileStamp) func(off int64) (bool, error) {
	named := false
	return func(off int64) (bool, error) {
		if err := durable.SyncFile(out); err != nil {
			return false, err
		}
		_, _, device := e.FileSystem()
		if device != "" {
			// A FUSE server may not pass the flush on to the drive.
			if err := durable.SyncPath(device); err != nil {
				return false, err
			}
		}
		if !named {
			if err := e.SyncDir(); err != nil {
				return false, err
			}
			named = true
		}
		tail, err := hashRange(in, off)
		if err != nil {
			return false, err
		}
		abs, ok := r.journal.abs(j.src)
		if !ok || !r.journal.checkpoint(fmt.Sprintf(partialLine+"\n", r.rel(j.dst), e.TempName(), abs,
			src.dev, src.ino, src.size, src.mtimeNs, src.ctimeNs, off, tail.Hi, tail.Lo)) {
			return false, nil
		}
		if testHookCheckpoint != nil {
			testHookCheckpoint(j.dst, off)
		}
		return true, nil
	}
}

// hashRange hashes the resumeTail bytes of f before off.
func hashRange(f *os.File, off int64) (xxh3.Uint128, error) {
	start := max(off-resumeTail, 0)
	h := xxh3.New128()
	if _, err := io.Copy(h, io.NewSectionReader(f, start, off-start)); err != nil {
		return xxh3.Uint128{}, err
	}
	return h.Sum128(), nil
}

// checkpoint appends a step's line and flushes it, creating the journal
// (and flushing its directory entry) first if needed. It reports whether
// the line is durable; one that is not only means a longer rerun.
func (jl *journal) checkpoint(line string) bool {
	jl.mu.Lock()
	defer jl.mu.Unlock()
	if jl.f == nil {
		done := jl.writing()
		f, err := jl.create()
		done()
		if err != nil {
			return false
		}
		jl.f = f
		if jl.syncDir == nil || jl.syncDir() != nil {
			return false
		}
	}
	jl.used = true
	done := jl.writing()
	_, err := jl.f.WriteString(line)
	done()
	if err != nil {
		return false
	}
	return durable.SyncFile(jl.f) == nil
}

// takePartial returns, and forgets, the last durable step an earlier
// run journaled for rel: it is taken up or removed now.
func (jl *journal) takePartial(rel string) (partialEntry, bool) {
	if jl == nil {
		return partialEntry{}, false
	}
	jl.mu.Lock()
	defer jl.mu.Unlock()
	p, ok := jl.partials[rel]
	delete(jl.partials, rel)
	return p, ok
}

// sameSource reports whether step p was of src as it is now, unchanged.
func (jl *journal) sameSource(p partialEntry, src string, info fs.FileInfo) bool {
	abs, ok := jl.abs(src)
	s, ok2 := stampOf(info)
	return ok && ok2 && abs == p.src && s == p.s && p.off <= int64(s.size)
}

// keepsTemp reports whether the temporary file name in the directory dir
// (relative to the destination directory) is a step a rerun may take up.
func (jl *journal) keepsTemp(dir, name string) bool {
	if jl == nil {
		return false
	}
	jl.mu.Lock()
	defer jl.mu.Unlock()
	for rel, p := range jl.partials {
		if p.temp == name && filepath.Dir(rel) == dir {
			return true
		}
	}
	return false
}

// createOrResume opens j's temporary file: the one an earlier run left durable up
// to a step, when its kept tail still matches the source's, else a new
// one. It returns where the copy resumes, 0 for a new file.
func (r *run) createOrResume(j *job, before fs.FileInfo, perm fs.FileMode) (*commit.Entry, *os.File, int64, error) {
	if p, ok := r.journal.takePartial(r.rel(j.dst)); ok {
		if e, out, err := r.c.Adopt(j.dst, p.temp, r.opt.NoClobber); err == nil {
			if r.journal.sameSource(p, j.src, before) && r.resumable(out, p) {
				return e, out, p.off, nil
			}
			// Of another source, or not what was made durable.
			r.c.Abort(e, out)
		}
	}
	e, out, err := r.c.Create(j.dst, perm, r.opt.NoClobber)
	return e, out, 0, err
}

// resumable checks a kept temporary file against its step: at least as
// long, its tail hashing as the journal says, which the source's must
// too. It is cut back to the step: what follows was never made durable.
func (r *run) resumable(out *os.File, p partialEntry) bool {
	fi, err := out.Stat()
	if err != nil || fi.Size() < p.off {
		return false
	}
	if h, err := hashRange(out, p.off); err != nil || h != p.tail {
		return false
	}
	return out.Truncate(p.off) == nil
}

// keepPartial leaves an interrupted copy's temporary file for a rerun when
// a step of it is durable and journaled and the user stopped the job (a
// stick that failed gets no say in what is trusted later).
func (r *run) keepPartial(e *commit.Entry, out *os.File, stepped bool) bool {
	if !stepped || !errors.Is(context.Cause(r.ctx), context.Canceled) {
		return false
	}
	if r.c.Keep(e, out) != nil {
		return false
	}
	r.mu.Lock()
	r.sum.Partial++
	r.mu.Unlock()
	return true
}

// feedPrefix hashes the source's first n bytes into sum, for a resumed
// copy whose verify or manifest needs the whole file's hash.
func (c *fileCopy) feedPrefix(n int64) error {
	if c.sum == nil || n == 0 {
		return nil
	}
	_, err := io.Copy(c.sum, io.NewSectionReader(c.in, 0, n))
	return err
}

// stepper takes the durable steps of one file's copy.
type stepper struct {
	every  int64
	save   func(off int64) (bool, error)
	armed  bool  // a plain copy from the start or from a step: steps apply
	next   int64 // the length at which the next step is taken
	stored bool  // a step was taken
}

// from arms the steps of a copy starting at off.
func (s *stepper) from(off int64) {
	if s != nil {
		s.armed, s.next = true, off+s.every
	}
}

// reached takes a step when the copy has written n bytes past the last.
func (s *stepper) reached(n int64) error {
	if s == nil || !s.armed || n < s.next {
		return nil
	}
	s.next = n + s.every
	ok, err := s.save(n)
	s.stored = s.stored || ok
	return err
}

// done reports whether a step was taken and journaled.
func (s *stepper) done() bool { return s != nil && s.stored }

// keptPartials is how many bytes the kept temporary files of the
// destination's journal hold, which a rerun resumes instead of writing
// again: the free-space check counts them as free.
func keptPartials(dest string, destIsDir bool) uint64 {
	dir := dest
	if !destIsDir {
		dir = filepath.Dir(dest)
	}
	root, err := beneath.Open(dir)
	if err != nil {
		return 0
	}
	defer root.Close()
	f, err := openJournalFile(root, filepath.Join(dir, JournalName), false)
	if err != nil {
		return 0
	}
	defer f.Close()
	partials := map[string]partialEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rel, p, ok := parsePartial(sc.Text()); ok {
			partials[rel] = p
		}
	}
	var n uint64
	for rel, p := range partials {
		if fi, err := root.Lstat(filepath.Join(dir, filepath.Dir(rel), p.temp)); err == nil && fi.Mode().IsRegular() {
			n += uint64(min(fi.Size(), p.off))
		}
	}
	return n
}

// runFrom goes on with a copy whose first off bytes an earlier run made
// durable: they are on the device already, and hashed again from the
// source when a hash of the whole file is wanted. Holes past off are
// written as zeros.
func (c *fileCopy) runFrom(off int64) (int64, error) {
	c.src0.open(c.in, c.t.size)
	if err := c.feedPrefix(off); err != nil {
		return 0, err
	}
	c.eng.landed(c.t, span{start: 0, end: off, data: off}, nil)
	c.charged = off &^ (pageSize - 1)
	c.written = off
	c.cur = span{start: off, end: off}
	c.step.from(off)
	n, err := c.copyRange(off, -1)
	if err != nil {
		return n, err
	}
	c.src0.dropBehind(n)
	return n, c.handOff()
}

// Verify: with Options.Verify, each durable copy is read back from its
// device and compared with the source as the copy read it; with a
// manifest, the BLAKE3 sums of the copies are written down. Compare does
// the read-back alone, for an earlier copy.

package copier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/manifest"
	"github.com/sure-tools/sure/readback"
)

// ErrMismatch is wrapped by the error of a job in which some copy, read
// back from the device after it was durable, differs from its source or
// could not be read (Options.Verify).
var ErrMismatch = errors.New("copies differ from their sources when read back from the device")

// MismatchError: dst, read back from its device, is not what was read
// from src while it was copied.
type MismatchError struct {
	Src, Dst       string
	Size, ReadBack int64  // bytes read from the source and back from the device
	Why            string // set when the difference is not in the content (missing, not a file, symlink target)
}

func (e *MismatchError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("'%s' %s", e.Dst, e.Why)
	}
	if e.Size != e.ReadBack {
		return fmt.Sprintf("'%s' read back from the device holds %d bytes, '%s' held %d", e.Dst, e.ReadBack, e.Src, e.Size)
	}
	return fmt.Sprintf("'%s' read back from the device differs from '%s'", e.Dst, e.Src)
}

// sums are the hashes of a source's content: xxh3 for the read-back
// (fast), BLAKE3 for the manifest (the format b3sum checks).
type sums struct {
	xxh  xxh3.Uint128
	b3   manifest.Sum
	size int64
}

// srcHasher hashes a source as the copy reads it. A nil *srcHasher hashes
// nothing, for jobs that neither verify nor write a manifest.
type srcHasher struct {
	x *xxh3.Hasher128
	b *blake3.Hasher
	n int64
}

func (r *run) newSrcHasher() *srcHasher {
	if !r.opt.Verify && r.opt.Manifest == "" && r.opt.man == nil && (r.journal == nil || !r.journal.hashed) {
		return nil
	}
	h := &srcHasher{x: xxh3.New128()}
	if r.opt.Manifest != "" || r.opt.man != nil {
		h.b = blake3.New()
	}
	return h
}

func (h *srcHasher) Write(p []byte) (int, error) {
	h.x.Write(p)
	if h.b != nil {
		h.b.Write(p)
	}
	h.n += int64(len(p))
	return len(p), nil
}

// writer is h as the sum argument of copyData: nil when there is nothing
// to hash (a nil *srcHasher in an io.Writer would not be nil).
func (h *srcHasher) writer() io.Writer {
	if h == nil {
		return nil
	}
	return h
}

func (h *srcHasher) sums() *sums {
	if h == nil {
		return nil
	}
	s := &sums{xxh: h.x.Sum128(), size: h.n}
	if h.b != nil {
		h.b.Sum(s.b3[:0])
	}
	return s
}

// hashPath hashes the file at path as it is read through the cache (a
// source, or a destination for --checksum).
func (r *run) hashPath(path string) (*sums, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := &srcHasher{x: xxh3.New128()}
	if r.opt.Manifest != "" || r.opt.man != nil {
		h.b = blake3.New()
	}
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.sums(), nil
}

// verifyRun is what a job with Verify or Manifest keeps.
type verifyRun struct {
	rb       *readback.Reader
	man      *manifest.Writer
	ownsMan  bool // created here, committed at the end of Copy
	verifier Verifier
}

// startVerify prepares the read-back and the manifest. The manifest is
// created before anything is copied, so that a name it cannot take fails
// the job up front.
func (r *run) startVerify() error {
	if !r.opt.Verify && r.opt.Manifest == "" && r.opt.man == nil {
		return nil
	}
	v := &verifyRun{rb: readback.New(), man: r.opt.man}
	if v.man == nil && r.opt.Manifest != "" {
		m, err := manifest.Create(r.opt.Manifest)
		if err != nil {
			return err
		}
		v.man, v.ownsMan = m, true
	}
	v.verifier, _ = r.opt.Events.(Verifier)
	r.vr = v
	return nil
}

// endVerify publishes the manifest (durably) with every file that reached
// the level asked for; an interrupted job publishes what it got that far.
func (r *run) endVerify() {
	if r.vr == nil || !r.vr.ownsMan {
		return
	}
	if err := r.vr.man.Commit(); err != nil {
		r.fail("", r.vr.man.Name(), fmt.Errorf("manifest '%s' not written: %w", r.vr.man.Name(), err))
	}
}

// checkResult is the read-back of one file of a batch.
type checkResult struct {
	done bool  // read back (or failed to be); false: not looked at (interrupted)
	err  error // nil: the device holds the source's content
}

// readBack reads the durable regular files of a flushed batch back from
// their devices (Verify) and hashes the sources of files that were already
// complete and never read (Verify, Manifest). It returns one result per
// entry of results, or nil when the job does neither.
func (r *run) readBack(results []commit.Result) []checkResult {
	if r.vr == nil {
		return nil
	}
	out := make([]checkResult, len(results))
	var idx []int
	var dsts []string
	for i, res := range results {
		j := res.Entry.Tag.(*job)
		if res.Err != nil || !j.info.Mode().IsRegular() {
			continue
		}
		idx = append(idx, i)
		dsts = append(dsts, j.dst)
	}
	var batchErr error
	if r.opt.Verify && len(dsts) > 0 {
		batchErr = r.vr.rb.Invalidate(dsts...)
	}
	// A few readers at once: small files on a stick are latency-bound.
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(4, len(idx)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i] = r.checkOne(results[i].Entry.Tag.(*job), batchErr)
			}
		}()
	}
	for _, i := range idx {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

func (r *run) checkOne(j *job, batchErr error) checkResult {
	if r.ctx.Err() != nil {
		return checkResult{}
	}
	if j.sums == nil {
		s, err := r.hashPath(j.src)
		if err != nil {
			return checkResult{done: true, err: fmt.Errorf("'%s' could not be read again to check its copy: %w", j.src, err)}
		}
		j.sums = s
	}
	if !r.opt.Verify {
		return checkResult{done: true}
	}
	if batchErr != nil {
		return checkResult{done: true, err: fmt.Errorf("'%s' cannot be read back from the device: %w", j.dst, batchErr)}
	}
	h := xxh3.New128()
	// Opened beneath the destination, as it was written: a link swapped
	// in since would have the check read some other file.
	n, err := r.vr.rb.CopyOpen(h, j.dst, func(flag int) (*os.File, error) {
		d, name, err := r.root.Parent(j.dst)
		if err != nil {
			return nil, err
		}
		defer d.Release()
		return d.OpenFile(name, flag)
	})
	switch {
	case err != nil:
		return checkResult{done: true, err: fmt.Errorf("'%s' could not be read back from the device: %w", j.dst, err)}
	case n != j.sums.size || h.Sum128() != j.sums.xxh:
		return checkResult{done: true, err: &MismatchError{Src: j.src, Dst: j.dst, Size: j.sums.size, ReadBack: n}}
	}
	return checkResult{done: true}
}

// verdict tells the outcome of the read-back of one durable file, counts
// it and lists it in the manifest when it reached the level asked for.
// It reports whether the file reached it: with Verify, only a verified
// file's source may be removed by a move.
func (r *run) verdict(j *job, c []checkResult, i int) bool {
	if r.vr == nil || !j.info.Mode().IsRegular() {
		return true
	}
	res := c[i]
	if !res.done {
		return false
	}
	if res.err != nil && !r.opt.Verify {
		// Only a manifest was asked for, and the source of a file found
		// complete could not be hashed: the copy is fine, its line missing.
		r.fail(j.src, j.dst, res.err)
		return false
	}
	if res.err != nil {
		r.mu.Lock()
		r.sum.Mismatched++
		r.mu.Unlock()
		r.events.(*lockedEvents).toVerifier(r.vr.verifier, func(v Verifier) { v.Mismatch(j.src, j.dst, res.err) })
		return false
	}
	if r.opt.Verify {
		r.mu.Lock()
		r.sum.Verified++
		r.mu.Unlock()
		r.events.(*lockedEvents).toVerifier(r.vr.verifier, func(v Verifier) { v.Verified(j.src, j.dst, j.sums.size) })
	}
	if r.vr.man != nil {
		if err := r.vr.man.Add(j.dst, j.sums.b3); err != nil {
			r.fail(j.src, j.dst, err)
		}
	}
	return true
}

// toVerifier tells v, if any, under the events' lock, as every other
// event is told.
func (l *lockedEvents) toVerifier(v Verifier, tell func(Verifier)) {
	if v == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tell(v)
}

// Compared is the check of one file by Compare.
type Compared struct {
	Src, Dst string
	Size     int64
	// Err is nil when dst, read back from its device, equals src; a
	// *MismatchError when it differs or is missing; anything else when
	// either could not be read.
	Err error
}

// Compare checks an earlier copy of src at dst by reading every copy back
// from its device (package readback) and comparing it with its source: dst
// is the copy of src itself, as diff -r takes its operands (for a file
// and a directory, the file of the same name in it). Regular files are
// compared by content, symlinks by target; files only in dst are not
// looked at. report hears every file in walk order. The error is for a
// job that could not start, or a context that ended.
func Compare(ctx context.Context, src, dst string, report func(Compared)) error {
	si, err := os.Stat(src)
	if err != nil {
		return err
	}
	if di, err := os.Stat(dst); err == nil && di.IsDir() && !si.IsDir() {
		dst = filepath.Join(dst, filepath.Base(src))
	}
	rb := readback.New()
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, werr error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		c := Compared{Src: p, Dst: filepath.Join(dst, rel)}
		switch {
		case werr != nil:
			c.Err = werr
		case d.IsDir():
			if fi, err := os.Stat(c.Dst); err == nil && !fi.IsDir() {
				c.Err = &MismatchError{Src: p, Dst: c.Dst, Why: "is not a directory"}
				report(c)
				return filepath.SkipDir
			}
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			c.Err = compareLink(p, c.Dst)
		case d.Type().IsRegular():
			c.Size, c.Err = compareFile(rb, p, c.Dst)
		default:
			return nil // FIFOs, devices: sure copies none
		}
		report(c)
		return nil
	})
}

func compareLink(src, dst string) error {
	want, err := os.Readlink(src)
	if err != nil {
		return err
	}
	got, err := os.Readlink(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &MismatchError{Src: src, Dst: dst, Why: "is missing"}
	case err != nil:
		if fi, serr := os.Lstat(dst); serr == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return &MismatchError{Src: src, Dst: dst, Why: "is not a symlink"}
		}
		return err
	case got != want:
		return &MismatchError{Src: src, Dst: dst, Why: fmt.Sprintf("points to '%s', not '%s'", got, want)}
	}
	return nil
}

func compareFile(rb *readback.Reader, src, dst string) (int64, error) {
	fi, err := os.Lstat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, &MismatchError{Src: src, Dst: dst, Why: "is missing"}
	case err != nil:
		return 0, err
	case !fi.Mode().IsRegular():
		return 0, &MismatchError{Src: src, Dst: dst, Why: "is not a regular file"}
	}
	f, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sh := xxh3.New128()
	size, err := io.Copy(sh, f)
	if err != nil {
		return 0, &os.PathError{Op: "read", Path: src, Err: err}
	}
	if err := rb.InvalidateOnce(dst); err != nil {
		return size, err
	}
	dh := xxh3.New128()
	n, err := rb.Copy(dh, dst)
	switch {
	case err != nil:
		return size, err
	case n != size || dh.Sum128() != sh.Sum128():
		return size, &MismatchError{Src: src, Dst: dst, Size: size, ReadBack: n}
	}
	return size, nil
}

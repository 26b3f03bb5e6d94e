// Stage: a worker copies one regular file into a temporary file beside
// its final name (the bytes: data.go), refuses it if the source changed
// meanwhile, sets its attributes and stages it. Nothing is under its
// final name yet; the barrier steps (commit.go) put it there.

package copier

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// testHookFileStart, set by tests, runs as a worker takes a file, before
// anything of it is written: tests hold files back to span barriers.
var testHookFileStart func(src string)

// copyFile writes one regular file to a temporary file and stages it.
func (r *run) copyFile(j job) {
	if r.ctx.Err() != nil {
		return
	}
	if testHookFileStart != nil {
		testHookFileStart(j.src)
	}
	in, err := openSource(j.src)
	if err != nil {
		r.fail(j.src, j.dst, err)
		return
	}
	defer in.Close()
	before, err := in.Stat()
	if err != nil {
		r.fail(j.src, j.dst, err)
		return
	}
	if !before.Mode().IsRegular() {
		r.fail(j.src, j.dst, fmt.Errorf("'%s' is no longer a regular file", j.src))
		return
	}
	// A new file gets the source's mode less the umask, as cp gives it
	// (newFileMode); one kept with -a or an existing file's is set once
	// the data is written, on a file private until then.
	perm, createPerm, setMode := newFileMode(before.Mode())
	switch {
	case r.opt.Preserve.Mode:
		perm = before.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		createPerm, setMode = 0o600, true
	case j.existing != nil && j.existing.Mode().IsRegular():
		// cp writes into an existing file and so keeps its mode.
		perm = j.existing.Mode().Perm()
		createPerm, setMode = 0o600, true
	}
	e, out, resumeAt, err := r.createOrResume(&j, before, createPerm)
	if err != nil {
		r.fail(j.src, j.dst, err)
		return
	}
	r.copying(&j, before.Size())
	e.Tag, e.Size = &j, before.Size()
	h := r.newSrcHasher()
	var step *stepper
	if every := r.resumeEvery(before.Size()); every > 0 {
		if s, ok := stampOf(before); ok {
			step = &stepper{every: every, save: r.checkpointer(&j, e, out, in, s)}
		}
	}
	n, err := r.copyData(&j, e, out, in, before, h.writer(), resumeAt, step)
	j.sums = h.sums()
	if err == nil {
		err = checkUnchanged(in, j.src, before, n)
	}
	if err == nil && (setMode || r.opt.Preserve.any()) {
		var notKept bool
		notKept, err = setAttrs(out, e.Chtimes, before, perm, setMode, r.opt.Preserve)
		if err == nil && r.opt.Preserve.Xattr {
			var xNotKept bool
			xNotKept, err = copyXattrs(in, out)
			notKept = notKept || xNotKept
		}
		j.notKept = notKept && r.opt.Preserve.any()
		r.attrsNotKept(j.notKept)
	}
	if err != nil {
		r.settle(&j, false)
		if r.ctx.Err() != nil && r.keepPartial(e, out, step.done()) {
			return
		}
		// A temporary file that cannot be removed is named, never hidden.
		rerr := r.c.Abort(e, out)
		if r.ctx.Err() == nil {
			if rerr != nil {
				err = errors.Join(err, rerr)
			}
			r.fail(j.src, j.dst, err)
		} else if rerr != nil {
			r.fail(j.src, j.dst, rerr)
		}
		return
	}
	if err := r.c.Stage(e, out); err != nil {
		r.settle(&j, false)
		r.fail(j.src, j.dst, err)
		return
	}
	j.staged(e)
	r.maybeFlush()
}

// checkUnchanged refuses a copy whose source changed while it was read:
// the copy would be neither the old nor the new content.
func checkUnchanged(in *os.File, src string, before fs.FileInfo, copied int64) error {
	after, err := in.Stat()
	if err != nil {
		return err
	}
	if copied != before.Size() || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		return fmt.Errorf("'%s' changed while it was being copied; copy discarded", src)
	}
	return nil
}

// The copy loop of a regular file, for the stage (stage.go): reads and
// writes of at most a window at a time, each page charged to the dirty
// budget before it is written, the source hashed in the same pass.

package copier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/sure-tools/sure/commit"
)

// bufSize is the size of one read and one write: large enough that a
// sequential copy is not bound by system calls, small enough that eight
// workers stay within a few MiB.
const bufSize = 1 << 20

// maxWindow is the largest write-behind unit: after each window is written
// its writeback starts, and the window before is waited for and
// dropped from the page cache, so a copy keeps about two windows dirty. A
// smaller dirty budget makes the windows smaller (see sizing).
const maxWindow = 8 << 20

// pageSize is the unit the page cache dirties: a 100-byte file dirties a
// whole page, and is charged for one.
const pageSize = 4096

// DefaultMaxDirty is the dirty memory a job may create when
// Options.MaxDirty is 0.
const DefaultMaxDirty = 64 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// smallBufSize is the buffer of a file smaller than it: a tree of small
// files would otherwise keep a 1 MiB buffer per worker for files of a few
// KiB, and the collector, which empties the pools, would make each worker
// allocate it again after every cycle.
const smallBufSize = 64 << 10

var smallBufPool = sync.Pool{New: func() any { b := make([]byte, smallBufSize); return &b }}

// fileCopy copies one file's data into its temporary file.
type fileCopy struct {
	ctx      context.Context
	eng      *engine
	t        *tracker
	in, out  *os.File
	src, dst string
	// before is the source's status once opened, and destFS the file
	// system of its temporary file: what cloning and holes need to know
	// of both, without asking the kernel again for every file.
	before  fs.FileInfo
	destFS  any
	sum     io.Writer
	buf     []byte
	writing func() (done func()) // around each write to the stick (commit.Committer.Writing)

	syncEach  bool   // fdatasync each window: sync_file_range does not reach the device here
	device    string // block device under a FUSE file system, whose writeback is waited for too
	holes     bool   // the destination keeps holes
	punch     bool   // --sparse=always: runs of zeros become holes too
	clone     bool   // source and destination may share extents (FICLONE)
	mustClone bool   // --reflink=always: a copy that cannot be a clone fails
	written   int64  // end of the last byte written; past it, holes left for zeros (punch)

	resume int64    // where a resumed copy starts: the earlier run's data before it is durable
	step   *stepper // durable steps of a big file, nil for none (resume.go)

	charged int64 // end of the last page charged to the budget
	cur     span  // the window being written
	prev    span  // the window whose writeback was started, not yet waited for
	src0    readAdvice
}

// copyData copies in to out for job j, whose temporary file is e's: by
// cloning where the file system can share extents, else by reading and
// writing with write-behind, keeping the source's holes where the
// destination keeps holes. Every byte of the source's content (zeros for
// holes) is also written to sum, when it is not nil, so that verify and
// manifests hash the source in the same pass; a cloned file's source is
// read for that alone. before is in's status, taken once opened. A resumed copy writes from resume on, and step,
// when set, makes the data durable in steps. It returns the source size
// it copied.
func (r *run) copyData(j *job, e *commit.Entry, out, in *os.File, before fs.FileInfo, sum io.Writer, resume int64, step *stepper) (int64, error) {
	caps, _, device := e.FileSystem()
	pool := &bufPool
	if j.track.size < smallBufSize {
		pool = &smallBufPool
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	c := &fileCopy{
		ctx: r.ctx, eng: &r.eng, t: j.track, in: in, out: out, src: j.src, dst: j.dst, sum: sum,
		before: before, destFS: e.FileSystemID(),
		buf:       (*bp)[:min(int64(len(*bp)), r.eng.window)],
		writing:   r.c.Writing,
		syncEach:  caps.SyncEachWindow,
		device:    device,
		holes:     caps.Holes && r.opt.Sparse != Never,
		clone:     caps.MayClone && r.opt.Reflink != Never,
		mustClone: r.opt.Reflink == Always,
		resume:    resume,
		step:      step,
	}
	c.punch = c.holes && r.opt.Sparse == Always
	if resume > 0 {
		return c.runFrom(resume)
	}
	return c.run()
}

func (c *fileCopy) run() (int64, error) {
	if n, ok, err := c.tryClone(); ok {
		return n, err
	}
	if c.mustClone {
		return 0, fmt.Errorf("failed to clone '%s' from '%s': %w", c.dst, c.src, errors.ErrUnsupported)
	}
	c.src0.open(c.in, c.t.size)
	if c.holes {
		if n, ok, err := c.copySparse(); ok {
			return n, err
		}
	}
	// Only a plain copy is resumed: a step's length is then the file's
	// length on the device.
	c.step.from(0)
	n, err := c.copyRange(0, -1)
	if err != nil {
		return n, err
	}
	if c.punch && c.written < n {
		// The file ends in zeros left as a hole.
		if err := c.out.Truncate(n); err != nil {
			return n, err
		}
	}
	c.src0.dropBehind(n)
	return n, c.handOff()
}

// copyRange copies [off, end) of the source, or from off to its end when
// end is negative. It returns where it stopped.
func (c *fileCopy) copyRange(off, end int64) (int64, error) {
	for end < 0 || off < end {
		if err := c.ctx.Err(); err != nil {
			return off, err
		}
		// A window ends exactly at its size, so that two of them per
		// worker fit in the budget (see sizing).
		n := int(min(int64(len(c.buf)), max(c.eng.window-c.cur.held, pageSize)))
		if end >= 0 {
			n = int(min(int64(n), end-off))
		}
		k, rerr := c.in.ReadAt(c.buf[:n], off)
		if k > 0 && c.punch && allZero(c.buf[:k]) {
			// Left as a hole: the content hashed is still the file's.
			if c.sum != nil {
				c.sum.Write(c.buf[:k])
			}
			off += int64(k)
		} else if k > 0 {
			if err := c.write(c.buf[:k], off); err != nil {
				return off, err
			}
			off += int64(k)
		}
		if errors.Is(rerr, io.EOF) {
			return off, nil
		}
		if rerr != nil {
			return off, rerr
		}
	}
	return off, nil
}

// write writes b at off, charging the pages it dirties to the budget
// first, and closes the window when it is full.
func (c *fileCopy) write(b []byte, off int64) error {
	if c.sum != nil {
		c.sum.Write(b)
	}
	end := off + int64(len(b))
	from := max(off&^(pageSize-1), c.charged)
	to := (end + pageSize - 1) &^ (pageSize - 1)
	if to > from {
		if err := c.eng.budget.charge(c.ctx, to-from); err != nil {
			return err
		}
		c.t.held += to - from
		c.cur.held += to - from
		c.charged = to
	}
	done := c.writing()
	_, err := c.out.WriteAt(b, off)
	done()
	if err != nil {
		return err
	}
	c.written = max(c.written, off+int64(len(b)))
	c.cur.end = end
	c.cur.data += int64(len(b))
	if c.cur.held >= c.eng.window {
		if err := c.windowFull(); err != nil {
			return err
		}
		if testHookWindow != nil {
			testHookWindow(c.dst, c.written)
		}
		return c.step.reached(c.written)
	}
	return nil
}

// zeros writes n zero bytes to sum, for a hole of the source: the content
// hashed is the file's content, holes read as zeros.
func (c *fileCopy) zeros(n int64) {
	if c.sum == nil {
		return
	}
	z := c.buf[:min(int64(len(c.buf)), max(n, 0))]
	clear(z)
	for n > 0 {
		k := min(n, int64(len(z)))
		c.sum.Write(z[:k])
		n -= k
	}
}

// hashSource feeds the source to sum alone, for a file whose data was
// cloned: the clone shares the source's extents, and checkUnchanged then
// makes sure the source did not change under either.
func (c *fileCopy) hashSource() (int64, error) {
	c.src0.open(c.in, c.t.size)
	var off int64
	for {
		if err := c.ctx.Err(); err != nil {
			return off, err
		}
		k, rerr := c.in.ReadAt(c.buf, off)
		c.sum.Write(c.buf[:k])
		off += int64(k)
		if errors.Is(rerr, io.EOF) {
			c.src0.dropBehind(off)
			return off, nil
		}
		if rerr != nil {
			return off, rerr
		}
		if off%maxWindow == 0 {
			c.src0.dropBehind(off)
		}
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

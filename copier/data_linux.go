package copier

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/commit"
)

// windowFull ends the window being written: its writeback starts, and the
// window before it is waited for, reported on the device and dropped from
// the page cache, so a copy keeps about two windows dirty, whatever
// vm.dirty_* allows. Where sync_file_range does not reach the
// device, the window is flushed with fdatasync instead, and under a FUSE
// file system the writeback of the block device below is waited for too,
// since the server wrote the data there.
func (c *fileCopy) windowFull() error {
	cur := c.cur
	c.cur = span{start: cur.end, end: cur.end}
	fd := int(c.out.Fd())
	if c.syncEach {
		if err := unix.Fdatasync(fd); err != nil {
			return &os.PathError{Op: "fdatasync", Path: c.out.Name(), Err: err}
		}
		if err := waitDeviceWriteback(c.device); err != nil {
			return err
		}
		c.landed(cur)
		c.src0.dropBehind(cur.end)
		return nil
	}
	if err := unix.SyncFileRange(fd, cur.start, cur.end-cur.start, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		return &os.PathError{Op: "sync_file_range", Path: c.out.Name(), Err: err}
	}
	if prev := c.prev; prev.end > prev.start {
		if err := unix.SyncFileRange(fd, prev.start, prev.end-prev.start,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER); err != nil {
			return &os.PathError{Op: "sync_file_range", Path: c.out.Name(), Err: err}
		}
		// The window is clean now; its pages only crowd out other caches.
		unix.Fadvise(fd, prev.start, prev.end-prev.start, unix.FADV_DONTNEED)
		c.landed(prev)
	}
	c.prev = cur
	c.src0.dropBehind(cur.end)
	return nil
}

// waitDeviceWriteback starts and waits for the writeback of the block
// device's dirty pages, without asking the drive to flush its cache: what
// a FUSE server wrote there is then on the device (L1), not yet durable.
func waitDeviceWriteback(device string) error {
	if device == "" {
		return nil
	}
	f, err := os.Open(device)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.SyncFileRange(int(f.Fd()), 0, 0,
		unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER); err != nil {
		return &os.PathError{Op: "sync_file_range", Path: device, Err: err}
	}
	return nil
}

// readAdvice reads the source without trashing the page cache: read-ahead
// is told the access is sequential, and pages sure brought in are dropped
// behind the reader. Only a file with no page cached when sure opened it
// is dropped, so that sure never evicts what someone else is using; where
// cachestat(2) is missing (Linux < 6.5), nothing is dropped.
type readAdvice struct {
	fd      int
	cold    bool
	dropped int64
}

func (a *readAdvice) open(in *os.File, size int64) {
	*a = readAdvice{fd: int(in.Fd())}
	if size > bufSize {
		unix.Fadvise(a.fd, 0, 0, unix.FADV_SEQUENTIAL)
	}
	var cs unix.Cachestat_t
	// A zero length means up to the end of the file.
	if err := unix.Cachestat(uint(a.fd), &unix.CachestatRange{}, &cs, 0); err == nil {
		a.cold = cs.Cache == 0
	}
}

// dropBehind drops the source's pages before off, if sure brought them in.
func (a *readAdvice) dropBehind(off int64) {
	if a.cold && off > a.dropped {
		unix.Fadvise(a.fd, a.dropped, off-a.dropped, unix.FADV_DONTNEED)
		a.dropped = off
	}
}

// copySparse copies only the data of a source with holes (SEEK_DATA,
// SEEK_HOLE) and sets the size last, so the copy has the same holes. ok is
// false when the source has no holes, or its file system cannot say: the
// caller then copies every byte.
func (c *fileCopy) copySparse() (n int64, ok bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(c.in.Fd()), &st); err != nil {
		return 0, false, nil
	}
	// A file that occupies as many blocks as its size has no holes; this
	// spares small files the seeks.
	if st.Blocks*512 >= st.Size {
		return 0, false, nil
	}
	fd := int(c.in.Fd())
	if h, err := unix.Seek(fd, 0, unix.SEEK_HOLE); err != nil || h >= st.Size {
		return 0, false, nil
	}
	var off int64
	for {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left, up to the end
		}
		if err != nil {
			return off, true, &os.PathError{Op: "lseek", Path: c.src, Err: err}
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return off, true, &os.PathError{Op: "lseek", Path: c.src, Err: err}
		}
		c.zeros(data - off)
		end, err := c.copyRange(data, hole)
		if err != nil {
			return end, true, err
		}
		off = end
		if end < hole {
			break // the source shrank; checkUnchanged says so
		}
	}
	size := st.Size
	if fi, err := c.in.Stat(); err == nil {
		size = fi.Size()
	}
	c.zeros(size - off)
	if err := c.out.Truncate(size); err != nil {
		return off, true, err
	}
	c.src0.dropBehind(size)
	return size, true, c.handOff()
}

// tryClone makes the temporary file share the source's extents (FICLONE:
// btrfs, xfs with reflink) instead of copying bytes. ok is false when
// cloning is not possible here; the caller then copies. The commit
// protocol is the same either way: the clone is a new file under a
// temporary name, flushed by the barrier, then renamed. The clone writes
// no data pages (the kernel writes the source's dirty pages back before
// cloning), so it charges nothing to the dirty budget, and its bytes are
// reported on the device once the barrier covered its extent map.
func (c *fileCopy) tryClone() (n int64, ok bool, err error) {
	if !c.clone {
		return 0, false, nil
	}
	var sst, dst unix.Stat_t
	if unix.Fstat(int(c.in.Fd()), &sst) != nil || unix.Fstat(int(c.out.Fd()), &dst) != nil {
		return 0, false, nil
	}
	pair := [2]uint64{sst.Dev, dst.Dev}
	if _, refused := c.eng.clones.refused.Load(pair); refused {
		return 0, false, nil
	}
	if err := unix.IoctlFileClone(int(c.out.Fd()), int(c.in.Fd())); err != nil {
		// Not these file systems: no use trying again. Other errors (EINVAL
		// for a file btrfs will not share, ETXTBSY) are about this file.
		switch {
		case errors.Is(err, unix.EXDEV), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOTTY),
			errors.Is(err, unix.ENOSYS):
			c.eng.clones.refused.Store(pair, true)
		}
		// Whatever went wrong, copying bytes may still work; a clone that
		// failed left the temporary file empty, but make sure.
		if terr := c.out.Truncate(0); terr != nil {
			return 0, true, terr
		}
		return 0, false, nil
	}
	// Verify and manifests need the content: the source is read for the
	// hash alone, which costs a read but no write (the point of cloning).
	if c.sum != nil {
		n, err := c.hashSource()
		return n, true, err
	}
	fi, err := c.out.Stat()
	if err != nil {
		return 0, true, err
	}
	return fi.Size(), true, nil
}

// handOff starts the writeback of the file's last window and hands the
// waiting for it, and for the window before, to the lander, so that the
// worker can go on with the next file while the device takes this one.
// Without it, the budget held by a file's last windows came back only at
// the batch's barrier, and a job of many small files kept the device idle
// while it filled the next batch. A file system where windows are flushed
// one by one (syncEach) has none left to hand on.
func (c *fileCopy) handOff() error {
	l := c.eng.land
	if l == nil || c.syncEach || commit.SkipLandedWait {
		return nil
	}
	var spans []span
	for _, s := range []span{c.prev, c.cur} {
		if s.held > 0 {
			spans = append(spans, s)
		}
	}
	if len(spans) == 0 {
		return nil
	}
	fd := int(c.out.Fd())
	if cur := c.cur; cur.end > cur.start {
		if err := unix.SyncFileRange(fd, cur.start, cur.end-cur.start, unix.SYNC_FILE_RANGE_WRITE); err != nil {
			return &os.PathError{Op: "sync_file_range", Path: c.out.Name(), Err: err}
		}
	}
	// Its own descriptor, since the worker closes the file when it stages
	// it; on failure the barrier settles the file, as it always can.
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	var held int64
	for _, s := range spans {
		held += s.held
	}
	l.held.Add(held)
	done := make(chan struct{})
	c.t.mu.Lock()
	c.t.tail = done
	c.t.mu.Unlock()
	select {
	case l.tails <- tail{fd: dup, name: c.out.Name(), t: c.t, spans: spans, held: held, done: done}:
		c.prev, c.cur = span{}, span{}
	case <-c.ctx.Done():
		l.held.Add(-held)
		unix.Close(dup)
		close(done)
	}
	return nil
}

// lander waits, in the order files were handed to it, for the writeback
// of their last windows, then reports them on the device, drops them from
// the page cache and gives their budget back.
type lander struct {
	ctx   context.Context
	eng   *engine
	tails chan tail
	held  atomic.Int64 // budget of the windows handed on and not yet landed
	done  sync.WaitGroup
}

type tail struct {
	fd    int
	name  string
	t     *tracker
	spans []span
	held  int64
	done  chan struct{} // closed once the tail is landed or given up
}

// keepCached is the size up to which a landed file's clean pages stay in
// the page cache, as cp leaves them: dropping them costs a call per file
// and frees little, and the kernel reclaims clean pages anyway. Beyond
// it, a file's pages would push other caches out.
const keepCached = bufSize

// landerQueue bounds the files whose writeback the lander has still to
// wait for, and so the descriptors it holds open.
const landerQueue = 256

func startLander(ctx context.Context, e *engine) *lander {
	l := &lander{ctx: ctx, eng: e, tails: make(chan tail, landerQueue)}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		for tl := range l.tails {
			l.landTail(tl)
		}
	}()
	return l
}

func (l *lander) landTail(tl tail) {
	defer close(tl.done)
	defer unix.Close(tl.fd)
	defer l.held.Add(-tl.held)
	var err error
	for _, s := range tl.spans {
		if err == nil && l.ctx.Err() == nil {
			err = unix.SyncFileRange(tl.fd, s.start, s.end-s.start,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
			if err != nil {
				err = &os.PathError{Op: "sync_file_range", Path: tl.name, Err: err}
			} else if s.end > keepCached {
				unix.Fadvise(tl.fd, s.start, s.end-s.start, unix.FADV_DONTNEED)
			}
		}
		if l.ctx.Err() != nil && err == nil {
			// The job is over; the barrier, or the removal of the
			// temporary file, settles what is left.
			return
		}
		l.eng.landed(tl.t, s, err)
	}
}

// holding is the budget the lander will give back without a barrier.
func (l *lander) holding() int64 {
	if l == nil {
		return 0
	}
	return l.held.Load()
}

// stop waits for the lander to finish what it was handed.
func (l *lander) stop() {
	if l == nil {
		return
	}
	close(l.tails)
	l.done.Wait()
}

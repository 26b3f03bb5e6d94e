// Holes on Linux: a source with holes is copied one data extent at a time
// (SEEK_DATA, SEEK_HOLE), so that the copy has the same holes. Elsewhere
// those seeks are not portable and holes are written as zeros.

package copier

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// copySparse copies only the data of a source with holes (SEEK_DATA,
// SEEK_HOLE) and sets the size last, so the copy has the same holes. ok is
// false when the source has no holes, or its file system cannot say: the
// caller then copies every byte.
func (c *fileCopy) copySparse() (n int64, ok bool, err error) {
	st, ok := c.before.Sys().(*syscall.Stat_t)
	if !ok {
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

// Clones on Linux: the temporary file shares the source's extents
// (FICLONE) where both file systems can, instead of copying bytes; the
// commit protocol is the same for a clone as for a copy.

package copier

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

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
	sst, ok := c.before.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false, nil
	}
	// The destination's file system, as the committer knows it, spares
	// an fstat of the temporary file per file.
	pair := clonePair{src: uint64(sst.Dev), dst: c.destFS}
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

// clonePair is a source device and a destination file system
// (commit.Entry.FileSystemID) whose clones were refused.
type clonePair struct {
	src uint64
	dst any
}

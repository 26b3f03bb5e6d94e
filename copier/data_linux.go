package copier

import (
	"os"

	"golang.org/x/sys/unix"
)

type writeBehind struct {
	f        *os.File
	name     string
	perFile  bool
	winOff   int64 // start of the window being written
	prevOff  int64 // start of the window whose writeback was started, or -1
	prevSize int64
}

// wrote is told the file's size after each write.
func (w *writeBehind) wrote(off int64) error {
	if off-w.winOff < window {
		return nil
	}
	fd := int(w.f.Fd())
	start, size := w.winOff, off-w.winOff
	w.winOff = off
	if w.perFile {
		if err := unix.Fdatasync(fd); err != nil {
			return &os.PathError{Op: "fdatasync", Path: w.name, Err: err}
		}
		return nil
	}
	if err := unix.SyncFileRange(fd, start, size, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		return &os.PathError{Op: "sync_file_range", Path: w.name, Err: err}
	}
	if w.prevOff >= 0 {
		if err := unix.SyncFileRange(fd, w.prevOff, w.prevSize,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER); err != nil {
			return &os.PathError{Op: "sync_file_range", Path: w.name, Err: err}
		}
		// The window is clean now; its pages only crowd out other caches.
		unix.Fadvise(fd, w.prevOff, w.prevSize, unix.FADV_DONTNEED)
	}
	w.prevOff, w.prevSize = start, size
	return nil
}

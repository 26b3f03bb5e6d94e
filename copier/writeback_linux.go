// Write-behind on Linux: each full window of a file's data is sent to the
// device (sync_file_range) and the window before it is waited for, so
// that a copy keeps about two windows dirty whatever vm.dirty_* allows.
// The copy loop (data.go) calls it; only this part asks the kernel's
// writeback.

package copier

import (
	"os"

	"golang.org/x/sys/unix"
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

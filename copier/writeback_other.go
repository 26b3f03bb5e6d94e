//go:build !linux

package copier

import "os"

// windowFull flushes each full window: there is no portable
// sync_file_range, and a flush is the only way to know the window left
// the page cache and to keep dirty memory bounded all the same.
func (c *fileCopy) windowFull() error {
	cur := c.cur
	c.cur = span{start: cur.end, end: cur.end}
	if err := c.out.Sync(); err != nil {
		return &os.PathError{Op: "sync", Path: c.out.Name(), Err: err}
	}
	c.landed(cur)
	return nil
}

//go:build !linux

package copier

import (
	"context"
	"os"
)

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

// readAdvice is Linux only (posix_fadvise, cachestat); elsewhere the
// source is read without advice.
type readAdvice struct{}

func (a *readAdvice) open(in *os.File, size int64) {}
func (a *readAdvice) dropBehind(off int64)         {}

// copySparse is Linux only (SEEK_DATA and SEEK_HOLE are not portable to
// Windows); elsewhere holes are copied as zeros.
func (c *fileCopy) copySparse() (int64, bool, error) { return 0, false, nil }

// tryClone is Linux only (FICLONE); elsewhere bytes are copied.
func (c *fileCopy) tryClone() (int64, bool, error) { return 0, false, nil }

// lander is Linux only (sync_file_range): elsewhere a file's last windows
// are settled by the barrier.
type lander struct{}

func startLander(ctx context.Context, e *engine) *lander { return nil }
func (l *lander) holding() int64                         { return 0 }
func (l *lander) stop()                                  {}
func (c *fileCopy) handOff() error                       { return nil }

package copier

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sure-tools/sure/durable"
)

// DestFailedError is why a job stopped before trying every file: the
// destination file system can no longer take writes (the stick was pulled,
// it went read-only after an error, its FUSE server died). Going on would
// only fail each remaining file the same way, one message each.
type DestFailedError struct {
	Dir string // the destination directory that was probed
	Err error  // what the probe met
}

func (e *DestFailedError) Error() string {
	return fmt.Sprintf("the destination %s can no longer be written (%v), so the remaining files were not tried", e.Dir, e.Err)
}

func (e *DestFailedError) Unwrap() error { return e.Err }

// checkDest decides, after a file failed with err, whether the whole
// destination is gone, and stops the job if so. An error of the kind a
// dead device gives is not enough on its own: it may come from the source
// (a bad sector in one file), or the destination may still take other
// files. So the destination itself is asked, with a write that has to
// reach the device.
func (r *run) checkDest(err error) {
	if r.destDir == "" || !deviceGone(err) || r.ctx.Err() != nil {
		return
	}
	r.probeMu.Lock()
	defer r.probeMu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	if perr := probeDest(r.destDir); perr != nil && deviceGone(perr) {
		r.stop(&DestFailedError{Dir: r.destDir, Err: perr})
	}
}

// probeDest writes, flushes and removes an empty temporary file in dir:
// the smallest change that has to reach the device. A probe file that
// cannot be removed has a temporary name, which the next run into dir
// clears away like any other.
func probeDest(dir string) error {
	f, err := durable.CreateTemp(dir, 0o600)
	if err != nil {
		return err
	}
	err = durable.SyncFile(f)
	f.Close()
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	return err
}

// destStopped returns the reason the job stopped on its own, or nil.
func (r *run) destStopped() *DestFailedError {
	var df *DestFailedError
	if errors.As(context.Cause(r.ctx), &df) {
		return df
	}
	return nil
}

//go:build !linux

package copier

import "os"

// writeBehind is Linux only (sync_file_range); elsewhere each full window
// is flushed so that dirty memory stays bounded all the same.
type writeBehind struct {
	f       *os.File
	name    string
	perFile bool
	winOff  int64
	prevOff int64
}

func (w *writeBehind) wrote(off int64) error {
	if off-w.winOff < window {
		return nil
	}
	w.winOff = off
	if err := w.f.Sync(); err != nil {
		return &os.PathError{Op: "sync", Path: w.name, Err: err}
	}
	return nil
}

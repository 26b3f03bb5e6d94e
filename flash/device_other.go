//go:build !linux && !darwin && !windows

package flash

import (
	"errors"
	"os"
)

// device is not implemented here: direct, exclusive device I/O differs on
// every system and sure is written for Linux, macOS and Windows.
type device struct {
	f                  *os.File
	path               string
	size               int64
	offAlign, memAlign int
}

func openDevice(path string) (*device, error) {
	return nil, &os.PathError{Op: "open", Path: path, Err: errors.ErrUnsupported}
}

func (d *device) sync() error  { return errors.ErrUnsupported }
func (d *device) close() error { return nil }

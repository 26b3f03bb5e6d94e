//go:build !linux && !darwin && !windows

package flash

import (
	"errors"
	"os"
)

type device struct{ deviceFile }

// openDevice is not implemented here: direct, exclusive device I/O
// differs on every system and sure is written for Linux, macOS and
// Windows.
func openDevice(path string) (*device, error) {
	return nil, &os.PathError{Op: "open", Path: path, Err: errors.ErrUnsupported}
}

func (d *device) sync() error  { return errors.ErrUnsupported }
func (d *device) close() error { return nil }

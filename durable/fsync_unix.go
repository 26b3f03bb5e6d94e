//go:build unix && !darwin

package durable

import (
	"errors"
	"os"
)

// fsync uses fsync, not fdatasync: the file's size and, for a new file,
// its inode must reach the media with the data. It returns the bare errno:
// the callers wrap it in the *os.PathError they name, and f.Sync's own
// wrapping would name the file twice.
func fsync(f *os.File) error {
	err := f.Sync()
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

//go:build unix

package copier

import (
	"errors"

	"golang.org/x/sys/unix"
)

// deviceGone reports whether err is what a file system answers when its
// device stopped working or went away under it.
func deviceGone(err error) bool {
	for _, e := range []unix.Errno{unix.EIO, unix.EROFS, unix.ENODEV, unix.ENXIO, unix.ENOTCONN, unix.ESHUTDOWN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errNotDir is what opening a file as a directory answers.
var errNotDir = unix.ENOTDIR

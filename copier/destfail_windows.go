package copier

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// deviceGone reports whether err is what Windows answers when a volume
// was removed or stopped working under an open job.
func deviceGone(err error) bool {
	for _, e := range []windows.Errno{windows.ERROR_DEVICE_NOT_CONNECTED, windows.ERROR_NOT_READY,
		windows.ERROR_WRITE_PROTECT, windows.ERROR_DEV_NOT_EXIST, windows.ERROR_IO_DEVICE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errNotDir is what opening a file as a directory answers.
var errNotDir = syscall.ENOTDIR

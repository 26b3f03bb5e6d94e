//go:build unix

package conformance

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// umask reads the process's umask, which has no getter but setting it.
func umask() fs.FileMode {
	old := unix.Umask(0)
	unix.Umask(old)
	return fs.FileMode(old)
}

//go:build unix

package copier

import (
	"os"

	"golang.org/x/sys/unix"
)

// openSource opens a file to copy for reading. os.Open would try to add
// a regular file to the runtime's poller, which the kernel refuses, and
// set and clear O_NONBLOCK around it: four calls per file that a copy of
// many small files pays for nothing. os.NewFile asks once.
func openSource(name string) (*os.File, error) {
	for {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

//go:build unix

package durable_test

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

func umask() fs.FileMode {
	old := unix.Umask(0)
	unix.Umask(old)
	return fs.FileMode(old)
}

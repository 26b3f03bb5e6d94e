//go:build unix

package copier

import (
	"errors"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

func inodeOf(info fs.FileInfo) (inode, uint64, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return inode{}, 0, false
	}
	return inode{dev: uint64(st.Dev), ino: uint64(st.Ino)}, uint64(st.Nlink), true
}

// linkUnsupported tells a destination that cannot hold this hard link
// (no hard links at all, too many links, another file system) from a
// failure of the destination.
func linkUnsupported(err error) bool {
	for _, e := range []error{unix.EPERM, unix.ENOTSUP, unix.EOPNOTSUPP, unix.EMLINK, unix.EXDEV, unix.ENOSYS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// deviceID is the device holding fi's file, for -x.
func deviceID(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true
}

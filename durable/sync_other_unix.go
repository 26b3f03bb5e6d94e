//go:build unix && !linux && !darwin

package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// The BSDs and other unixes get the portable calls only: fsync for each
// file and directory, and whatever fsync does on the file system there
// about the drive's cache (fsinfo's barrier reason says so). There is no
// whole file system flush that waits and reports errors.

func syncFile(f *os.File) error { return fsync(f) }

// fileIdentity has no birth time here: a failure remembered for a removed
// file may then fail a later file given its inode number, never the
// other way round.
func fileIdentity(fd int) (inodeKey, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return inodeKey{}, false
	}
	return inodeKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// syncFS: sync(2) only schedules the writes here and reports nothing, so
// no whole file system flush can be promised.
func syncFS(path string) error {
	return &os.PathError{Op: "syncfs", Path: path, Err: ErrFSSyncUnsupported}
}

func renameNoReplace(oldpath, newpath string) error {
	return linkNoReplace(oldpath, newpath)
}

package durable

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// syncFile uses fsync, not fdatasync: the file's size and, for a new file,
// its inode must reach the media with the data.
func syncFile(f *os.File) error {
	return f.Sync()
}

func syncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	key := fsKey{uint64(st.Dev)}
	if err := earlierFailure(key); err != nil {
		return err
	}
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return rememberFailure(key, &os.PathError{Op: "syncfs", Path: path, Err: err})
	}
	return nil
}

func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// Some file systems (FUSE servers without rename2 support, older
		// NFS) refuse the flag. A hard link fails if newpath exists and is
		// atomic, so link+unlink keeps the no-replace promise.
		if err := os.Link(oldpath, newpath); err != nil {
			return err
		}
		return os.Remove(oldpath)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

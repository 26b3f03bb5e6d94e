package durable

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// syncFile asks for F_FULLFSYNC, the only call on macOS that makes the drive
// flush its cache; plain fsync stops at the drive. File systems that refuse
// it (exFAT, SMB) answer ENOTSUP, EINVAL or ENOTTY, and then fsync is the
// strongest flush there is.
func syncFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			_, serr = unix.FcntlInt(fd, unix.F_FULLFSYNC, 0)
			if serr != unix.EINTR {
				break
			}
		}
		if errors.Is(serr, unix.ENOTSUP) || errors.Is(serr, unix.EINVAL) || errors.Is(serr, unix.ENOTTY) {
			for {
				serr = unix.Fsync(int(fd))
				if serr != unix.EINTR {
					break
				}
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

func fileIdentity(fd int) (inodeKey, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return inodeKey{}, false
	}
	return inodeKey{dev: uint64(st.Dev), ino: st.Ino, btime: uint64(st.Btim.Sec)*1e9 + uint64(st.Btim.Nsec)}, true
}

// syncFS has no syncfs on macOS: sync(2) schedules every file system's
// writes, and F_FULLFSYNC on the volume's root then flushes the drive.
func syncFS(path string) error {
	return withFile(path, func(f *os.File) error {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return &os.PathError{Op: "stat", Path: path, Err: err}
		}
		return flushOnce(fsKey{dev: uint64(st.Dev)}, "syncfs", path, func() error {
			unix.Sync()
			return syncFile(f)
		})
	})
}

func renameNoReplace(oldpath, newpath string) error {
	if err := unix.RenamexNp(oldpath, newpath, unix.RENAME_EXCL); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

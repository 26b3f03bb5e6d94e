package durable

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// syncFile is fsync, trusted only while the file system still takes a
// change (stillWritable).
func syncFile(f *os.File) error {
	err := fsync(f)
	if err == nil {
		err = stillWritableFile(f)
	}
	return err
}

// stillWritable opens an unnamed file (O_TMPFILE) in the directory dirfd
// and closes it. After an error aborts ext4's journal, the transactions it
// drops count as finished: fsync and syncfs then find nothing left to
// wait for and return 0, even for changes that never reached the media,
// and the file system reports itself read-only to statfs only later, if at
// all (Linux 6.18 marks it "emergency read-only" and statfs never says
// so). Any new change has to start a journal transaction, which fails from
// the abort on. So a flush that returned 0 proves something only if a new
// change was still possible after it. Where no such file can be made for
// other reasons (FUSE and others without O_TMPFILE, no permission, no free
// inode), nothing is proved either way and the flush's own answer stands.
func stillWritable(dirfd int) error {
	fd, err := unix.Openat(dirfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err == nil {
		unix.Close(fd)
		return nil
	}
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EIO) {
		return err
	}
	return nil
}

// stillWritableFile is stillWritable for the file system of f, through f
// itself when it is a directory, else through the directory its name is
// in, if that is still on the same file system. Block devices and other
// special files hold no file system of their own here.
func stillWritableFile(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return stillWritable(int(f.Fd()))
	case unix.S_IFREG:
	default:
		return nil
	}
	dir, err := unix.Open(filepath.Dir(f.Name()), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(dir)
	var dst unix.Stat_t
	if err := unix.Fstat(dir, &dst); err != nil || dst.Dev != st.Dev {
		return nil
	}
	return stillWritable(dir)
}

func fileIdentity(fd int) (inodeKey, bool) {
	var stx unix.Statx_t
	// The plain mount ID is given again to the next mount (seen on 6.18:
	// a stick mounted again got its old one); the unique one (Linux 6.8)
	// never is. Older kernels answer with the plain one.
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_BTIME|unix.STATX_MNT_ID_UNIQUE, &stx); err != nil {
		return inodeKey{}, false
	}
	k := inodeKey{dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), ino: stx.Ino}
	if stx.Mask&unix.STATX_BTIME != 0 {
		k.btime = uint64(stx.Btime.Sec)*1e9 + uint64(stx.Btime.Nsec)
	}
	if stx.Mask&(unix.STATX_MNT_ID|unix.STATX_MNT_ID_UNIQUE) != 0 {
		k.mnt = stx.Mnt_id
	}
	return k, true
}

func syncFS(path string) error {
	return withFile(path, syncFSOf)
}

func syncFSOf(f *os.File) error {
	path := f.Name()
	// STATX_MNT_ID_UNIQUE (Linux 6.8) is never reused; older kernels fill
	// in the plain mount ID, reused only after the mount is gone.
	var stx unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID_UNIQUE, &stx); err != nil {
		return &os.PathError{Op: "statx", Path: path, Err: err}
	}
	// On FUSE, syncfs writes back the kernel's page cache and sends nothing
	// to the server (the kernel sends FUSE_SYNCFS to virtiofs only), so the
	// server's device is never flushed: succeeding would be a lie.
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if sfs.Type == unix.FUSE_SUPER_MAGIC {
		return &os.PathError{Op: "syncfs", Path: path, Err: ErrFSSyncUnsupported}
	}
	key := fsKey{dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), mnt: stx.Mnt_id}
	return flushOnce(key, "syncfs", path, func() error {
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			return err
		}
		return stillWritableFile(f)
	})
}

func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// Some file systems (FUSE servers without rename2 support, older
		// NFS) refuse the flag.
		return linkNoReplace(oldpath, newpath)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

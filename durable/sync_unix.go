//go:build unix

package durable

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// fsKey and inodeKey name what a failed flush is remembered for. The
// device and inode numbers alone are not enough: a loop device or stick
// replaced by another gets the same device number, and a file system gives
// the inode number of a removed file (a failed temporary file) to the next
// one. A remembered failure must not fail those, so a file system is also
// known by its mount and a file by its birth time and its mount, where the
// platform reports them: a stick mounted again holds the same file, but
// what the failure lost went with the old mount's page cache.
type fsKey struct{ dev, mnt uint64 }
type inodeKey struct{ dev, ino, btime, mnt uint64 }

func fileKey(f *os.File) any {
	k, ok := fileIdentity(int(f.Fd()))
	if !ok {
		return nil
	}
	return k
}

func syncDir(dir string) error {
	return withFile(dir, syncDirOf)
}

func syncDirOf(d *os.File) error {
	return flushOnce(fileKey(d), "syncdir", d.Name(), func() error { return syncFile(d) })
}

func rename(oldpath, newpath string) error {
	return os.Rename(oldpath, newpath)
}

// linkNoReplace renames without replacing where the kernel has no
// rename flag for it: a hard link fails if newpath exists and is atomic,
// so link+unlink keeps the no-replace promise.
func linkNoReplace(oldpath, newpath string) error {
	err := os.Link(oldpath, newpath)
	if err == nil {
		return os.Remove(oldpath)
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// FAT and exFAT (exfat-fuse, fusefat: what sticks ship with) have
	// no hard links. Nothing atomic is left: check, then rename. A file
	// created at newpath in between is replaced.
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: unix.EEXIST}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return rename(oldpath, newpath)
}

//go:build unix

package durable

import (
	"os"
)

// fsKey and inodeKey name what a failed flush is remembered for. The
// device and inode numbers alone are not enough: a loop device or stick
// replaced by another gets the same device number, and a file system gives
// the inode number of a removed file (a failed temporary file) to the next
// one. A remembered failure must not fail those, so a file system is also
// known by its mount and a file by its birth time, where the platform
// reports them.
type fsKey struct{ dev, mnt uint64 }
type inodeKey struct{ dev, ino, btime uint64 }

func fileKey(f *os.File) any {
	k, ok := fileIdentity(int(f.Fd()))
	if !ok {
		return nil
	}
	return k
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return syncDirOf(d)
}

func syncDirOf(d *os.File) error {
	key := fileKey(d)
	if err := earlierFailure(key); err != nil {
		return err
	}
	if err := syncFile(d); err != nil {
		return rememberFailure(key, &os.PathError{Op: "syncdir", Path: d.Name(), Err: err})
	}
	return nil
}

func rename(oldpath, newpath string) error {
	return os.Rename(oldpath, newpath)
}

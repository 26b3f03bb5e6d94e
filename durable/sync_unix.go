//go:build unix

package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

type fsKey struct{ dev uint64 }
type inodeKey struct{ dev, ino uint64 }

func fileKey(f *os.File) any {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil
	}
	return inodeKey{uint64(st.Dev), uint64(st.Ino)}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	key := fileKey(d)
	if err := earlierFailure(key); err != nil {
		return err
	}
	if err := syncFile(d); err != nil {
		return rememberFailure(key, &os.PathError{Op: "syncdir", Path: dir, Err: err})
	}
	return nil
}

func rename(oldpath, newpath string) error {
	return os.Rename(oldpath, newpath)
}

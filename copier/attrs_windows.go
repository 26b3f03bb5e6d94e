package copier

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// umask does not exist on Windows: modes are mapped to the read-only
// attribute and nothing masks them.
func umask() fs.FileMode { return 0 }

func atime(fi fs.FileInfo) time.Time {
	if d, ok := fi.Sys().(*syscall.Win32FileAttributeData); ok {
		return time.Unix(0, d.LastAccessTime.Nanoseconds())
	}
	return fi.ModTime()
}

// setAttrs keeps what Windows can keep of a mode (read-only) and, with -a,
// the times; owners are ACLs there and are not copied.
func setAttrs(f *os.File, name string, src fs.FileInfo, perm fs.FileMode, archive bool) (bool, error) {
	if err := f.Chmod(perm); err != nil {
		return false, err
	}
	if archive {
		return false, os.Chtimes(f.Name(), atime(src), src.ModTime())
	}
	return false, nil
}

func setDirAttrs(dir string, src fs.FileInfo, perm fs.FileMode, archive bool) (bool, error) {
	if archive {
		return false, os.Chtimes(dir, atime(src), src.ModTime())
	}
	return false, nil
}

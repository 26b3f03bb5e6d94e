package copier

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// newFileMode: Windows has no umask; the mode maps to the read-only
// attribute, set once the data is written and the file complete.
func newFileMode(src fs.FileMode) (perm, create fs.FileMode, set bool) {
	return src.Perm(), 0o600, true
}

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

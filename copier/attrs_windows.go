package copier

import (
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/sure-tools/sure/internal/beneath"
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
func setAttrs(f *os.File, chtimes func(a, m time.Time) error, src fs.FileInfo, perm fs.FileMode, setMode bool, p Preserve) (bool, error) {
	if err := f.Chmod(perm); err != nil {
		return false, err
	}
	if p.Timestamps {
		return false, chtimes(atime(src), src.ModTime())
	}
	return false, nil
}

func setDirAttrs(dir, parent *beneath.Dir, name string, src fs.FileInfo, perm fs.FileMode, setMode bool, p Preserve) (bool, error) {
	if p.Timestamps {
		return false, parent.Chtimes(name, atime(src), src.ModTime())
	}
	return false, nil
}

// symlinkAttrs: Windows keeps no owner or times of a link that sure sets.
func (r *run) symlinkAttrs(src fs.FileInfo) func(d *beneath.Dir, temp string) error { return nil }

// copyXattrs: NTFS alternate streams are not copied.
func copyXattrs(in, out *os.File) (bool, error) { return false, nil }

// deviceID is not known on Windows; -x then enters every directory.
func deviceID(fi fs.FileInfo) (uint64, bool) { return 0, false }

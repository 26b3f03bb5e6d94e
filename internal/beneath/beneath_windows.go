package beneath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sure-tools/sure/durable"
)

// Windows has no openat: names are resolved by path, and every element
// beneath the root is first checked not to be a link or junction. A swap
// between that check and the use is not ruled out here.

var errNotDir = syscall.ENOTDIR

func linkErr(err error) error { return err }

func openBeneath(root *os.File, rel, name string) (*os.File, error) {
	cur := root.Name()
	for _, c := range strings.FieldsFunc(rel, func(r rune) bool { return r == '\\' || r == '/' }) {
		if c == "." {
			continue
		}
		if c == ".." {
			return nil, ErrOutside
		}
		cur = filepath.Join(cur, c)
		fi, err := os.Lstat(cur)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
			return nil, ErrSymlink
		}
		if !fi.IsDir() {
			return nil, errNotDir
		}
	}
	return os.Open(cur)
}

// dirBudget: Windows has no small limit of open handles.
func dirBudget() int { return 4096 }

func (d *Dir) CreateTemp(perm fs.FileMode) (*os.File, error) {
	return durable.CreateTemp(d.path, perm)
}

func (d *Dir) Mkdir(name string, perm fs.FileMode) error { return os.Mkdir(d.Name(name), perm) }

func (d *Dir) Open(name string) (*os.File, error) {
	fi, err := os.Lstat(d.Name(name))
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &os.PathError{Op: "open", Path: d.Name(name), Err: ErrSymlink}
	}
	return os.Open(d.Name(name))
}

func (d *Dir) OpenFile(name string, flag int) (*os.File, error) {
	fi, err := os.Lstat(d.Name(name))
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &os.PathError{Op: "open", Path: d.Name(name), Err: ErrSymlink}
	}
	return os.OpenFile(d.Name(name), flag, 0)
}

func (d *Dir) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(d.Name(name)) }

func (d *Dir) Remove(name string) error { return os.Remove(d.Name(name)) }

func (d *Dir) Symlink(target, name string) error { return os.Symlink(target, d.Name(name)) }

func (d *Dir) Link(from *Dir, oldname, newname string) error {
	return os.Link(from.Name(oldname), d.Name(newname))
}

func (d *Dir) Chtimes(name string, atime, mtime time.Time) error {
	return os.Chtimes(d.Name(name), atime, mtime)
}

func (d *Dir) ReadDir() ([]fs.DirEntry, error) { return os.ReadDir(d.path) }

func (d *Dir) Rename(oldname, newname string, noReplace bool) error {
	return durable.RenameUnflushed(d.Name(oldname), d.Name(newname), noReplace)
}

func (d *Dir) RemoveDir(name string) error { return os.Remove(d.Name(name)) }

// SameFile reports whether a and b describe the same file; Lstat here
// returns what package os returns.
func SameFile(a, b fs.FileInfo) bool { return os.SameFile(a, b) }

// Exchange: Windows has no call that swaps two directories in one step.
func (d *Dir) Exchange(oldname, newname string) error {
	return &os.LinkError{Op: "exchange", Old: d.Name(oldname), New: d.Name(newname), Err: errors.ErrUnsupported}
}

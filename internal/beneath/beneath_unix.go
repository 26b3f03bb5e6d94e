//go:build unix

package beneath

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/durable"
)

var errNotDir = unix.ENOTDIR

// linkErr names what O_NOFOLLOW or RESOLVE_NO_SYMLINKS answered when they
// met a link: ELOOP, or EMLINK on FreeBSD.
func linkErr(err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EMLINK) {
		return ErrSymlink
	}
	return err
}

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// walkFile opens the directory rel under root element by element, none
// of them followed if it is a link.
func walkFile(root *os.File, rel, name string) (*os.File, error) {
	fd, err := walk(int(root.Fd()), rel)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// walk opens rel from root one element at a time, none of them a link:
// where openat2 is missing.
func walk(root int, rel string) (int, error) {
	fd := -1
	at := root
	for _, c := range splitPath(rel) {
		if c == ".." {
			if fd >= 0 {
				unix.Close(fd)
			}
			return -1, ErrOutside
		}
		nfd, err := unix.Openat(at, c, dirFlags, 0)
		if errors.Is(err, unix.ENOTDIR) {
			// Linux answers a link opened with O_DIRECTORY|O_NOFOLLOW so;
			// say which it was. It is refused either way.
			var st unix.Stat_t
			if unix.Fstatat(at, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = ErrSymlink
			}
		}
		if fd >= 0 {
			unix.Close(fd)
		}
		if err != nil {
			return -1, err
		}
		fd, at = nfd, nfd
	}
	if fd < 0 {
		return unix.Openat(root, ".", dirFlags, 0)
	}
	return fd, nil
}

func splitPath(rel string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i == len(rel) || rel[i] == '/' {
			if c := rel[start:i]; c != "" && c != "." {
				out = append(out, c)
			}
			start = i + 1
		}
	}
	return out
}

func (d *Dir) fd() int { return int(d.f.Fd()) }

// dirBudget is a quarter of the limit of open files (Go raises the soft
// limit to the hard one at start), at least 16, at most 4096.
func dirBudget() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 256
	}
	return int(min(max(rl.Cur/4, 16), 4096))
}

// CreateTemp creates a new temporary file in d with O_EXCL, as
// durable.CreateTemp does by path.
func (d *Dir) CreateTemp(perm fs.FileMode) (*os.File, error) {
	for range 10000 {
		name := durable.NewTempName()
		fd, err := unix.Openat(d.fd(), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: d.Name(name), Err: err}
		}
		return os.NewFile(uintptr(fd), d.Name(name)), nil
	}
	return nil, &os.PathError{Op: "createtemp", Path: d.path, Err: fs.ErrExist}
}

// Mkdir makes the directory name in d.
func (d *Dir) Mkdir(name string, perm fs.FileMode) error {
	if err := unix.Mkdirat(d.fd(), name, uint32(perm.Perm())); err != nil {
		return &os.PathError{Op: "mkdir", Path: d.Name(name), Err: err}
	}
	return nil
}

// Open opens the file name in d for reading; a link there is not followed
// (ErrSymlink).
func (d *Dir) Open(name string) (*os.File, error) {
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.Name(name), Err: linkErr(err)}
	}
	return os.NewFile(uintptr(fd), d.Name(name)), nil
}

// OpenFile opens the file name in d with flag (read-only ones: no
// O_CREAT); a link there is not followed (ErrSymlink).
func (d *Dir) OpenFile(name string, flag int) (*os.File, error) {
	fd, err := unix.Openat(d.fd(), name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.Name(name), Err: linkErr(err)}
	}
	return os.NewFile(uintptr(fd), d.Name(name)), nil
}

// Lstat describes name in d, a link not followed.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: d.Name(name), Err: err}
	}
	return &statInfo{name: name, st: st}, nil
}

// Remove removes the file (not directory) name from d.
func (d *Dir) Remove(name string) error {
	if err := unix.Unlinkat(d.fd(), name, 0); err != nil {
		return &os.PathError{Op: "remove", Path: d.Name(name), Err: err}
	}
	return nil
}

// RemoveDir removes the empty directory name from d.
func (d *Dir) RemoveDir(name string) error {
	if err := unix.Unlinkat(d.fd(), name, unix.AT_REMOVEDIR); err != nil {
		return &os.PathError{Op: "remove", Path: d.Name(name), Err: err}
	}
	return nil
}

// Symlink creates name in d as a link to target.
func (d *Dir) Symlink(target, name string) error {
	if err := unix.Symlinkat(target, d.fd(), name); err != nil {
		return &os.LinkError{Op: "symlink", Old: target, New: d.Name(name), Err: err}
	}
	return nil
}

// Link creates newname in d as a hard link to oldname in from.
func (d *Dir) Link(from *Dir, oldname, newname string) error {
	if err := unix.Linkat(from.fd(), oldname, d.fd(), newname, 0); err != nil {
		return &os.LinkError{Op: "link", Old: from.Name(oldname), New: d.Name(newname), Err: err}
	}
	return nil
}

// Chtimes sets the times of name in d; a link there gets them itself.
func (d *Dir) Chtimes(name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(d.fd(), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chtimes", Path: d.Name(name), Err: err}
	}
	return nil
}

// ReadDir lists d.
func (d *Dir) ReadDir() ([]fs.DirEntry, error) {
	fd, err := unix.Openat(d.fd(), ".", dirFlags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return f.ReadDir(-1)
}

// Rename renames oldname to newname, both in d. A link at newname is
// replaced itself, never followed. With noReplace it fails with an error
// matching fs.ErrExist when newname exists, decided by the kernel where
// the file system lets it.
func (d *Dir) Rename(oldname, newname string, noReplace bool) error {
	var err error
	if noReplace {
		err = d.renameNoReplace(oldname, newname)
	} else {
		err = unix.Renameat(d.fd(), oldname, d.fd(), newname)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: d.Name(oldname), New: d.Name(newname), Err: err}
	}
	return nil
}

// linkNoReplace is the no-replace rename of file systems without the
// flag: a hard link fails if newname exists, and is atomic. Where there
// are no hard links either (FAT, exFAT), nothing atomic is left: check,
// then rename.
func (d *Dir) linkNoReplace(oldname, newname string) error {
	err := unix.Linkat(d.fd(), oldname, d.fd(), newname, 0)
	if err == nil {
		return unix.Unlinkat(d.fd(), oldname, 0)
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd(), newname, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return unix.EEXIST
	} else if !errors.Is(err, unix.ENOENT) {
		return err
	}
	return unix.Renameat(d.fd(), oldname, d.fd(), newname)
}

// statInfo is an fs.FileInfo from fstatat.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return &s.st }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }

func (s *statInfo) Mode() fs.FileMode {
	raw := uint32(s.st.Mode)
	m := fs.FileMode(raw & 0o777)
	switch raw & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFREG:
	default:
		m |= fs.ModeIrregular
	}
	if raw&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if raw&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if raw&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// SameFile reports whether a and b describe the same file. It takes what
// Lstat here returns as well as what package os returns; os.SameFile
// knows only its own and says false for anything else.
func SameFile(a, b fs.FileInfo) bool {
	da, ia, ok := devIno(a)
	if !ok {
		return false
	}
	db, ib, ok := devIno(b)
	return ok && da == db && ia == ib
}

func devIno(fi fs.FileInfo) (dev, ino uint64, ok bool) {
	switch st := fi.Sys().(type) {
	case *unix.Stat_t:
		return uint64(st.Dev), uint64(st.Ino), true
	case *syscall.Stat_t:
		return uint64(st.Dev), uint64(st.Ino), true
	}
	return 0, 0, false
}

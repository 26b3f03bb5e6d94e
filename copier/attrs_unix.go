//go:build unix

package copier

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/beneath"
)

// newFileMode: a new file is created with the source's permission bits
// and the kernel masks them with the umask (or the directory's default
// ACL), as it does for cp; nothing is left to set afterwards. Reading the
// umask instead would mean setting it, for every goroutine at once.
func newFileMode(src fs.FileMode) (perm, create fs.FileMode, set bool) {
	return 0, src.Perm(), false
}

// owner chowns before any chmod: chown clears set-user-ID bits. Only root
// can give a file away; others keep what their group membership allows.
func owner(chown func(uid, gid int) error, src fs.FileInfo) error {
	st, ok := src.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if os.Geteuid() == 0 {
		return chown(int(st.Uid), int(st.Gid))
	}
	if err := chown(-1, int(st.Gid)); err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return nil
}

// unsupported tells errors of a file system that cannot hold an attribute
// at all (FAT has no owners or modes; fusefat implements no chmod) from
// real failures. Such attributes are reported as not kept; the data is
// what the user asked to be safe.
func unsupported(err error) bool {
	return errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM)
}

// keep applies the attributes; it returns notKept when the file system
// refused some of them as unsupported, and an error for anything else.
func keep(chown func(uid, gid int) error, chmod func(fs.FileMode) error, chtimes func(a, m time.Time) error,
	src fs.FileInfo, perm fs.FileMode, setMode bool, p Preserve) (notKept bool, err error) {
	try := func(err error) error {
		if err != nil && unsupported(err) {
			notKept = true
			return nil
		}
		return err
	}
	if p.Ownership {
		if err := try(owner(chown, src)); err != nil {
			return notKept, err
		}
	}
	if setMode {
		if err := try(chmod(perm)); err != nil {
			return notKept, err
		}
	}
	if p.Timestamps {
		if err := try(chtimes(atime(src), src.ModTime())); err != nil {
			return notKept, err
		}
	}
	return notKept, nil
}

// setAttrs sets the attributes of a new file through its descriptor; its
// times through chtimes, which sets them by name in the file's directory.
func setAttrs(f *os.File, chtimes func(a, m time.Time) error, src fs.FileInfo, perm fs.FileMode, setMode bool, p Preserve) (bool, error) {
	return keep(f.Chown, f.Chmod, chtimes, src, perm, setMode, p)
}

// setDirAttrs sets the attributes of dir, whose name in parent is name.
func setDirAttrs(dir, parent *beneath.Dir, name string, src fs.FileInfo, perm fs.FileMode, setMode bool, p Preserve) (bool, error) {
	return keep(dir.File().Chown, dir.File().Chmod,
		func(a, m time.Time) error { return parent.Chtimes(name, a, m) }, src, perm, setMode, p)
}

// symlinkAttrs sets a new symlink's own owner and times (-a), not its
// target's, on its temporary name in d before it is renamed.
func (r *run) symlinkAttrs(src fs.FileInfo) func(d *beneath.Dir, temp string) error {
	p := r.opt.Preserve
	if !p.Ownership && !p.Timestamps {
		return nil
	}
	return func(d *beneath.Dir, temp string) error {
		fd := int(d.File().Fd())
		st, ok := src.Sys().(*syscall.Stat_t)
		if p.Ownership && ok && os.Geteuid() == 0 {
			if err := unix.Fchownat(fd, temp, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil && !unsupported(err) {
				return &os.PathError{Op: "lchown", Path: d.Name(temp), Err: err}
			}
		}
		if p.Timestamps {
			ts := []unix.Timespec{unix.NsecToTimespec(atime(src).UnixNano()), unix.NsecToTimespec(src.ModTime().UnixNano())}
			if err := unix.UtimesNanoAt(fd, temp, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !unsupported(err) {
				return &os.PathError{Op: "utimensat", Path: d.Name(temp), Err: err}
			}
		}
		return nil
	}
}

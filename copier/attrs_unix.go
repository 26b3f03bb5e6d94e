//go:build unix

package copier

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func umask() fs.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return fs.FileMode(m)
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

func setAttrs(f *os.File, name string, src fs.FileInfo, perm fs.FileMode, archive bool) error {
	if archive {
		if err := owner(f.Chown, src); err != nil {
			return err
		}
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if archive {
		return os.Chtimes(f.Name(), atime(src), src.ModTime())
	}
	return nil
}

func setDirAttrs(dir string, src fs.FileInfo, perm fs.FileMode, archive bool) error {
	if archive {
		if err := owner(func(u, g int) error { return os.Lchown(dir, u, g) }, src); err != nil {
			return err
		}
	}
	if err := os.Chmod(dir, perm); err != nil {
		return err
	}
	if archive {
		return os.Chtimes(dir, atime(src), src.ModTime())
	}
	return nil
}

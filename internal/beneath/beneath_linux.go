package beneath

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once the kernel lacks openat2 (before 5.6, or a filter
// refusing it), and by tests of the fallback.
var noOpenat2 atomic.Bool

// openBeneath opens the directory rel under root with openat2, which
// refuses every link on the way and any escape from root; without it,
// element by element with O_NOFOLLOW.
func openBeneath(root *os.File, rel, name string) (*os.File, error) {
	if !noOpenat2.Load() {
		how := &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		// EAGAIN: a rename elsewhere on the file system during the walk;
		// the kernel could not rule out an escape, so it asks again.
		for range 16 {
			fd, err := unix.Openat2(int(root.Fd()), rel, how)
			if err == nil {
				return os.NewFile(uintptr(fd), name), nil
			}
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
				noOpenat2.Store(true)
				break
			}
			return nil, err
		}
	}
	return walkFile(root, rel, name)
}

func (d *Dir) renameNoReplace(oldname, newname string) error {
	err := unix.Renameat2(d.fd(), oldname, d.fd(), newname, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// FUSE servers without rename2, older NFS.
		return d.linkNoReplace(oldname, newname)
	}
	return err
}

// Exchange swaps oldname and newname, both in d, in one step
// (RENAME_EXCHANGE): either may be a directory. File systems without the
// flag fail with an error matching errors.ErrUnsupported.
func (d *Dir) Exchange(oldname, newname string) error {
	err := unix.Renameat2(d.fd(), oldname, d.fd(), newname, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		err = errors.Join(err, errors.ErrUnsupported)
	}
	if err != nil {
		return &os.LinkError{Op: "exchange", Old: d.Name(oldname), New: d.Name(newname), Err: err}
	}
	return nil
}

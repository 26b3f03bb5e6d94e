package beneath

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openBeneath: no call here refuses links on the whole way in one step.
func openBeneath(root *os.File, rel, name string) (*os.File, error) {
	return walkFile(root, rel, name)
}

func (d *Dir) renameNoReplace(oldname, newname string) error {
	err := unix.RenameatxNp(d.fd(), oldname, d.fd(), newname, unix.RENAME_EXCL)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EINVAL) {
		// File systems without the flag (some network and FAT ones).
		return d.linkNoReplace(oldname, newname)
	}
	return err
}

// Exchange swaps oldname and newname, both in d, in one step
// (RENAME_SWAP): either may be a directory. File systems without the
// flag fail with an error matching errors.ErrUnsupported.
func (d *Dir) Exchange(oldname, newname string) error {
	err := unix.RenameatxNp(d.fd(), oldname, d.fd(), newname, unix.RENAME_SWAP)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EINVAL) {
		err = errors.Join(err, errors.ErrUnsupported)
	}
	if err != nil {
		return &os.LinkError{Op: "exchange", Old: d.Name(oldname), New: d.Name(newname), Err: err}
	}
	return nil
}

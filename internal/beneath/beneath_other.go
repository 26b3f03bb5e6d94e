//go:build unix && !linux && !darwin

package beneath

import (
	"errors"
	"os"
)

// openBeneath opens the directory rel under root element by element, none
// of them followed if it is a link.
func openBeneath(root *os.File, rel, name string) (*os.File, error) {
	fd, err := walk(int(root.Fd()), rel)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (d *Dir) renameNoReplace(oldname, newname string) error {
	return d.linkNoReplace(oldname, newname)
}

// Exchange: these systems have no call that swaps two names in one step.
func (d *Dir) Exchange(oldname, newname string) error {
	return &os.LinkError{Op: "exchange", Old: d.Name(oldname), New: d.Name(newname), Err: errors.ErrUnsupported}
}

//go:build unix && !linux && !darwin

package beneath

import "os"

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

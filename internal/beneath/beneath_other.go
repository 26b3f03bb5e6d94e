//go:build unix && !linux && !darwin

package beneath

import (
	"errors"
	"os"
)

// openBeneath: no call here refuses links on the whole way in one step.
func openBeneath(root *os.File, rel, name string) (*os.File, error) {
	return walkFile(root, rel, name)
}

func (d *Dir) renameNoReplace(oldname, newname string) error {
	return d.linkNoReplace(oldname, newname)
}

// Exchange: these systems have no call that swaps two names in one step.
func (d *Dir) Exchange(oldname, newname string) error {
	return &os.LinkError{Op: "exchange", Old: d.Name(oldname), New: d.Name(newname), Err: errors.ErrUnsupported}
}

//go:build unix

package copier

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/beneath"
)

// lockStages takes d for an atomic job: alone for a moment, to remove
// the staged trees of jobs that died there, then shared with other
// atomic jobs until unlock. A lock dies with its process, so a stage
// whose job is gone is never one still written.
func lockStages(d *beneath.Dir) (unlock func(), err error) {
	fd := int(d.File().Fd())
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		removeStaleStages(d)
	}
	if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
		return nil, &os.PathError{Op: "flock", Path: d.Path(), Err: err}
	}
	return func() { unix.Flock(fd, unix.LOCK_UN) }, nil
}

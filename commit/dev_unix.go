//go:build unix

package commit

import (
	"os"

	"golang.org/x/sys/unix"
)

type devID uint64

func deviceOf(dir string) (devID, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return devID(st.Dev), nil
}

// openForSync opens a file in place to flush it. Read access is enough for
// fsync; a symlink or a FIFO put at its name is refused, never followed
// or waited on.
func openForSync(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
}

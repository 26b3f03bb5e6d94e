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

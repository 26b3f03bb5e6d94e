//go:build unix

package commit

import (
	"os"

	"golang.org/x/sys/unix"
)

type devID uint64

func deviceOf(d *os.File) (devID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: d.Name(), Err: err}
	}
	return devID(st.Dev), nil
}

// syncOpenFlag opens a file in place to flush it. Read access is enough for
// fsync; a FIFO put at its name is not waited on (links are never followed).
const syncOpenFlag = os.O_RDONLY | unix.O_NONBLOCK

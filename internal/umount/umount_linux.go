// Package umount unmounts a file system that the kernel may hold busy
// for a moment (a file just closed, udev probing the device).
package umount

import (
	"time"

	"golang.org/x/sys/unix"
)

// Retry unmounts dir, asking again every tenth of a second while the
// kernel answers EBUSY, tries times at most, and returns its last answer.
func Retry(dir string, tries int) error {
	var err error
	for range tries {
		if err = unix.Unmount(dir, 0); err != unix.EBUSY {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

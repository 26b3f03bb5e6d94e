package flash

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Unmount unmounts the file system on dir before its device is
// overwritten. Never lazily: a lazy unmount would leave the file system
// writing to a device that is about to hold an image. A mount still busy
// after a few tries fails with EBUSY.
func Unmount(dir string) error {
	var err error
	for range 10 {
		if err = unix.Unmount(dir, 0); err != unix.EBUSY {
			break
		}
		// udev's probes of a device hold it for a moment.
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return &os.PathError{Op: "unmount", Path: dir, Err: err}
	}
	return nil
}

package flash

import (
	"os"

	"github.com/sure-tools/sure/internal/umount"
)

// Unmount unmounts the file system on dir before its device is
// overwritten. Never lazily: a lazy unmount would leave the file system
// writing to a device that is about to hold an image. A mount still busy
// after a few tries fails with EBUSY.
func Unmount(dir string) error {
	// udev's probes of a device hold it for a moment.
	if err := umount.Retry(dir, 10); err != nil {
		return &os.PathError{Op: "unmount", Path: dir, Err: err}
	}
	return nil
}

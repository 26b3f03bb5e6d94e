//go:build !linux

package flash

import (
	"errors"
	"os"
)

// Unmount is not needed here: on macOS and Windows opening the device
// unmounts (diskutil unmountDisk) or dismounts (FSCTL_DISMOUNT_VOLUME)
// every volume on it.
func Unmount(dir string) error {
	return &os.PathError{Op: "unmount", Path: dir, Err: errors.ErrUnsupported}
}

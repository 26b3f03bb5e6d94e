//go:build unix

package copier

import (
	"errors"

	"golang.org/x/sys/unix"
)

func sameDevice(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}

func isCrossDevice(err error) bool { return errors.Is(err, unix.EXDEV) }

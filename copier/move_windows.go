package copier

import (
	"errors"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

func sameDevice(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && strings.EqualFold(filepath.VolumeName(aa), filepath.VolumeName(bb))
}

func isCrossDevice(err error) bool { return errors.Is(err, windows.ERROR_NOT_SAME_DEVICE) }

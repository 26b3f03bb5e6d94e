package eject

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/windows"
)

// Windows needs no administrator to lock and eject a removable volume.
const needsRoot = false

// Control codes x/sys/windows lacks (winioctl.h).
const (
	fsctlLockVolume          = 0x00090018
	fsctlDismountVolume      = 0x00090020
	ioctlStorageMediaRemoval = 0x002d4804
	ioctlStorageEjectMedia   = 0x002d4808
)

// Eject flushes, locks and dismounts the volume holding arg ("E:", a path
// on it, or \\.\E:), allows media removal and asks the drive to eject.
// Options.UDisks does not apply here.
func Eject(ctx context.Context, arg string, opts Options) (string, error) {
	r := reporter{report: opts.Report}
	vol, err := volumeOf(arg)
	if err != nil {
		return "", r.fail("find the volume of "+arg, err)
	}
	r.done("find the volume of "+arg, vol)
	name, err := windows.UTF16PtrFromString(vol)
	if err != nil {
		return vol, r.fail("open "+vol, err)
	}
	h, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return vol, r.fail("open "+vol, &os.PathError{Op: "CreateFile", Path: vol, Err: err})
	}
	defer windows.CloseHandle(h)

	if err := windows.FlushFileBuffers(h); err != nil {
		return vol, r.fail("flush "+vol, &os.PathError{Op: "FlushFileBuffers", Path: vol, Err: err})
	}
	r.done("flush "+vol, "FlushFileBuffers of the volume")

	// Another program's open file makes the lock fail; it may be closing
	// it right now, so try for a few seconds before naming the problem.
	var lockErr error
	for try := 0; try < 20; try++ {
		if lockErr = ioctl(h, fsctlLockVolume, nil, 0); lockErr == nil {
			break
		}
		select {
		case <-ctx.Done():
			return vol, r.fail("lock "+vol, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	if lockErr != nil {
		if errors.Is(lockErr, windows.ERROR_ACCESS_DENIED) || errors.Is(lockErr, windows.ERROR_SHARING_VIOLATION) {
			return vol, r.fail("lock "+vol, fmt.Errorf("cannot lock %s: a program has files open on it: %w", vol, lockErr))
		}
		return vol, r.fail("lock "+vol, &os.PathError{Op: "FSCTL_LOCK_VOLUME", Path: vol, Err: lockErr})
	}
	r.done("lock "+vol, "")
	if err := ioctl(h, fsctlDismountVolume, nil, 0); err != nil {
		return vol, r.fail("dismount "+vol, &os.PathError{Op: "FSCTL_DISMOUNT_VOLUME", Path: vol, Err: err})
	}
	r.done("dismount "+vol, "")
	var allow byte // PREVENT_MEDIA_REMOVAL{PreventMediaRemoval: FALSE}
	if err := ioctl(h, ioctlStorageMediaRemoval, &allow, 1); err != nil {
		r.skip("allow removal of "+vol, err.Error())
	} else {
		r.done("allow removal of "+vol, "")
	}
	if err := ioctl(h, ioctlStorageEjectMedia, nil, 0); err != nil {
		return vol, r.fail("eject "+vol, &os.PathError{Op: "IOCTL_STORAGE_EJECT_MEDIA", Path: vol, Err: err})
	}
	r.done("eject "+vol, "")
	return vol, nil
}

func ioctl(h windows.Handle, code uint32, in *byte, inLen uint32) error {
	var n uint32
	return windows.DeviceIoControl(h, code, in, inLen, nil, 0, &n, nil)
}

// volumeOf turns "E:", "E:\dir\file" or "\\.\E:" into "\\.\E:".
func volumeOf(arg string) (string, error) {
	if strings.HasPrefix(arg, `\\.\`) {
		return arg, nil
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return "", err
	}
	v := filepath.VolumeName(abs)
	if len(v) != 2 || v[1] != ':' {
		return "", fmt.Errorf("%s: not on a drive letter (%q)", arg, v)
	}
	return `\\.\` + v, nil
}

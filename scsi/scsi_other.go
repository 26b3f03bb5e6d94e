//go:build !linux

package scsi

import "os"

// SynchronizeCache is Linux-only: SG_IO is a Linux interface.
func SynchronizeCache(f *os.File) error {
	return &os.PathError{Op: "SYNCHRONIZE CACHE", Path: f.Name(), Err: ErrUnsupported}
}

// StartStopUnit is Linux-only: SG_IO is a Linux interface.
func StartStopUnit(f *os.File, loadEject bool) error {
	return &os.PathError{Op: "START STOP UNIT", Path: f.Name(), Err: ErrUnsupported}
}

// AllowMediumRemoval is Linux-only: SG_IO is a Linux interface.
func AllowMediumRemoval(f *os.File) error {
	return &os.PathError{Op: "PREVENT ALLOW MEDIUM REMOVAL", Path: f.Name(), Err: ErrUnsupported}
}

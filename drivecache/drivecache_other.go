//go:build !linux

package drivecache

import (
	"time"

	"github.com/sure-tools/sure/fsinfo"
)

// Drive counters come from Linux's sysfs; elsewhere nothing is known, and
// Check says Unknown rather than guessing.

func DiskFor(m fsinfo.Mount) (Disk, error) { return Disk{}, ErrUnsupported }
func Read(d Disk) (Counters, error)        { return Counters{}, ErrUnsupported }
func MarkFlushed(d Disk, start time.Time, flushDrive func() error) error {
	return ErrUnsupported
}
func WriteBack(d Disk, mountPoint string, everyDevice bool) (uint64, error) {
	return 0, ErrUnsupported
}
func Last(d Disk) (Record, bool)          { return Record{}, false }
func Check(d Disk) (State, Record, error) { return Unknown, Record{}, ErrUnsupported }

// Package scsi sends the two SCSI commands an eject needs, SYNCHRONIZE
// CACHE and START STOP UNIT, through the kernel's SG_IO pass-through. USB
// sticks, card readers and external disks speak SCSI (USB mass storage and
// UAS); loop, NVMe and virtio devices do not, and say so: ErrNotSCSI.
//
// The kernel already sends a cache flush when a block device is fsynced,
// but udisks ignores the drive's answer to its own SYNCHRONIZE CACHE; sure
// sends it again and reports what the drive said.
package scsi

import (
	"errors"
	"fmt"
)

// ErrNotSCSI means the device does not take SCSI commands (loop, NVMe,
// virtio, ...): the kernel refused SG_IO on it.
var ErrNotSCSI = errors.New("not a SCSI device")

// ErrUnsupported is returned on systems where SG_IO does not exist.
var ErrUnsupported = errors.New("SCSI pass-through is implemented only on Linux")

// Sense keys this package names.
const (
	SenseNoSense        = 0x0
	SenseRecoveredError = 0x1
	SenseNotReady       = 0x2
	SenseMediumError    = 0x3
	SenseHardwareError  = 0x4
	SenseIllegalRequest = 0x5
	SenseUnitAttention  = 0x6
)

// CommandError is a command the device (or the host adapter on its way)
// answered with an error.
type CommandError struct {
	Command      string // "SYNCHRONIZE CACHE", "START STOP UNIT"
	Status       uint8  // SCSI status byte (2: CHECK CONDITION)
	HostStatus   uint16 // transport errors (DID_*)
	DriverStatus uint16 // driver errors (DRIVER_*)
	SenseKey     uint8
	ASC, ASCQ    uint8 // additional sense code and qualifier
}

// Unsupported reports whether the device rejected the command itself
// (ILLEGAL REQUEST, invalid command operation code or field in CDB), as
// some USB bridges do for SYNCHRONIZE CACHE: the drive did not fail to
// flush, it has no such command.
func (e *CommandError) Unsupported() bool {
	return e.SenseKey == SenseIllegalRequest && (e.ASC == 0x20 || e.ASC == 0x24)
}

func (e *CommandError) Error() string {
	if e.HostStatus != 0 && e.Status == 0 {
		return fmt.Sprintf("%s: host adapter error 0x%02x", e.Command, e.HostStatus)
	}
	if e.SenseKey == 0 && e.ASC == 0 {
		return fmt.Sprintf("%s: SCSI status 0x%02x, host 0x%02x, driver 0x%02x", e.Command, e.Status, e.HostStatus, e.DriverStatus)
	}
	msg := fmt.Sprintf("%s: %s", e.Command, senseKeyName(e.SenseKey))
	if m := e.Meaning(); m != "" {
		msg += ", " + m
	}
	return msg + fmt.Sprintf(" (sense key 0x%x, ASC/ASCQ 0x%02x/0x%02x)", e.SenseKey, e.ASC, e.ASCQ)
}

// Meaning says in words what the additional sense code means, for the
// codes an eject meets; "" for the others.
func (e *CommandError) Meaning() string {
	switch {
	case e.ASC == 0x20 && e.ASCQ == 0:
		return "the drive has no such command"
	case e.ASC == 0x24 && e.ASCQ == 0:
		return "the drive refuses a field of the command"
	case e.ASC == 0x53 && e.ASCQ == 0x02:
		return "medium removal is prevented (the medium is locked)"
	case e.ASC == 0x3a:
		return "no medium present"
	case e.ASC == 0x04:
		return "the drive is not ready"
	case e.ASC == 0x29:
		return "the drive was reset"
	case e.ASC == 0x28:
		return "the medium changed"
	}
	return ""
}

func senseKeyName(k uint8) string {
	switch k {
	case SenseNoSense:
		return "NO SENSE"
	case SenseRecoveredError:
		return "RECOVERED ERROR"
	case SenseNotReady:
		return "NOT READY"
	case SenseMediumError:
		return "MEDIUM ERROR"
	case SenseHardwareError:
		return "HARDWARE ERROR"
	case SenseIllegalRequest:
		return "ILLEGAL REQUEST"
	case SenseUnitAttention:
		return "UNIT ATTENTION"
	case 0x7:
		return "DATA PROTECT"
	case 0xb:
		return "ABORTED COMMAND"
	}
	return "sense key"
}

// parseSense decodes the sense key and additional sense code from fixed
// (0x70, 0x71) or descriptor (0x72, 0x73) format sense data.
func parseSense(sb []byte) (key, asc, ascq uint8) {
	if len(sb) < 1 {
		return 0, 0, 0
	}
	switch sb[0] & 0x7f {
	case 0x70, 0x71:
		if len(sb) >= 14 {
			return sb[2] & 0x0f, sb[12], sb[13]
		}
		if len(sb) >= 3 {
			return sb[2] & 0x0f, 0, 0
		}
	case 0x72, 0x73:
		if len(sb) >= 4 {
			return sb[1] & 0x0f, sb[2], sb[3]
		}
	}
	return 0, 0, 0
}

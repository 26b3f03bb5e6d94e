package scsi

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// x/sys/unix has neither SG_IO nor its header: <scsi/sg.h>.
const (
	sgIO          = 0x2285
	sgDxferNone   = -1
	sgInfoOKMask  = 0x1  // SG_INFO_CHECK: look at the statuses
	driverSense   = 0x08 // DRIVER_SENSE: sense data came with the status
	statusMask    = 0x3e // the status byte without its vendor bits
	senseBufLen   = 32
	syncTimeoutMs = 120_000 // a slow stick may take long to empty its cache
	stopTimeoutMs = 60_000
)

// sgIOHdr is struct sg_io_hdr; the unsafe.Pointer fields have the size of
// C pointers on every architecture, so the layout matches.
type sgIOHdr struct {
	interfaceID    int32
	dxferDirection int32
	cmdLen         uint8
	mxSbLen        uint8
	iovecCount     uint16
	dxferLen       uint32
	dxferp         unsafe.Pointer
	cmdp           unsafe.Pointer
	sbp            unsafe.Pointer
	timeout        uint32
	flags          uint32
	packID         int32
	usrPtr         unsafe.Pointer
	status         uint8
	maskedStatus   uint8
	msgStatus      uint8
	sbLenWr        uint8
	hostStatus     uint16
	driverStatus   uint16
	resid          int32
	duration       uint32
	info           uint32
}

// SynchronizeCache sends SYNCHRONIZE CACHE(10) for the whole medium to the
// device open as f: the drive writes its volatile cache to the media.
// Root may send it on a read-only descriptor; others need write access.
func SynchronizeCache(f *os.File) error {
	return command(f, "SYNCHRONIZE CACHE", []byte{0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, syncTimeoutMs)
}

// AllowMediumRemoval sends PREVENT ALLOW MEDIUM REMOVAL with PREVENT=0:
// the drive unlocks its medium. The kernel locks a removable medium while
// its device is open, and a locked drive refuses START STOP UNIT's eject.
func AllowMediumRemoval(f *os.File) error {
	return command(f, "PREVENT ALLOW MEDIUM REMOVAL", []byte{0x1e, 0, 0, 0, 0, 0}, stopTimeoutMs)
}

// StartStopUnit sends START STOP UNIT with START=0 to the device open as
// f: the drive stops (a disk parks its heads). With loadEject, a drive
// with removable media also ejects the medium (a card reader lets go of
// its card).
func StartStopUnit(f *os.File, loadEject bool) error {
	cdb := []byte{0x1b, 0, 0, 0, 0, 0}
	if loadEject {
		cdb[4] = 0x02
	}
	return command(f, "START STOP UNIT", cdb, stopTimeoutMs)
}

// command sends one CDB with no data phase and waits for its status, at
// most timeout milliseconds.
func command(f *os.File, name string, cdb []byte, timeout uint32) error {
	sense := make([]byte, senseBufLen)
	hdr := sgIOHdr{
		interfaceID:    'S',
		dxferDirection: sgDxferNone,
		cmdLen:         uint8(len(cdb)),
		mxSbLen:        uint8(len(sense)),
		cmdp:           unsafe.Pointer(&cdb[0]),
		sbp:            unsafe.Pointer(&sense[0]),
		timeout:        timeout,
	}
	conn, err := f.SyscallConn()
	if err != nil {
		return &os.PathError{Op: "SG_IO " + name, Path: f.Name(), Err: err}
	}
	var errno unix.Errno
	cerr := conn.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, sgIO, uintptr(unsafe.Pointer(&hdr)))
	})
	runtime.KeepAlive(cdb)
	runtime.KeepAlive(sense)
	if cerr != nil {
		return &os.PathError{Op: "SG_IO " + name, Path: f.Name(), Err: cerr}
	}
	switch errno {
	case 0:
	case unix.ENOTTY, unix.EINVAL:
		// Block devices outside the SCSI layer have no SG_IO.
		return &os.PathError{Op: "SG_IO " + name, Path: f.Name(), Err: fmt.Errorf("%w (%w)", ErrNotSCSI, errno)}
	default:
		return &os.PathError{Op: "SG_IO " + name, Path: f.Name(), Err: errno}
	}
	if hdr.info&sgInfoOKMask == 0 {
		return nil
	}
	ce := &CommandError{Command: name, Status: hdr.status, HostStatus: hdr.hostStatus, DriverStatus: hdr.driverStatus}
	if n := int(hdr.sbLenWr); n > 0 {
		ce.SenseKey, ce.ASC, ce.ASCQ = parseSense(sense[:min(n, len(sense))])
	}
	if ce.Status&statusMask == 0 && ce.HostStatus == 0 && ce.DriverStatus&^driverSense == 0 &&
		(ce.SenseKey == SenseNoSense || ce.SenseKey == SenseRecoveredError) {
		// The command completed; the drive only added information.
		return nil
	}
	return &os.PathError{Op: "SG_IO " + name, Path: f.Name(), Err: ce}
}

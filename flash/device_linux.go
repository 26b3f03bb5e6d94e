package flash

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// device is a block device opened for writing an image.
type device struct{ deviceFile }

// openDevice opens path with O_DIRECT, so writes complete only once the
// device has them and reads come from the device, and O_EXCL, with which
// the kernel refuses a block device that is mounted, used as swap or held
// by RAID, LVM or another exclusive opener, and keeps others from mounting
// it while the image is written.
func openDevice(path string) (*device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_DIRECT|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.EBUSY {
			return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: in use: mounted, swap, or held by RAID, LVM or another program", err)}
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	d := &device{deviceFile: deviceFile{f: os.NewFile(uintptr(fd), path), path: path}}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		d.f.Close()
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		d.f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: ErrNotBlockDevice}
	}
	var size uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
		d.f.Close()
		return nil, &os.PathError{Op: "ioctl BLKGETSIZE64", Path: path, Err: e}
	}
	d.size = int64(size)
	d.offAlign, d.memAlign = dioAlign(fd)
	if d.offAlign <= 0 || d.offAlign&(d.offAlign-1) != 0 {
		d.f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("unusable direct I/O alignment %d", d.offAlign)}
	}
	return d, nil
}

// dioAlign asks the kernel what direct I/O on fd must be aligned to
// (statx STATX_DIOALIGN, Linux 6.1 for block devices), else falls back on
// the logical block size and page-aligned buffers.
func dioAlign(fd int) (off, mem int) {
	var stx unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &stx)
	if err == nil && stx.Mask&unix.STATX_DIOALIGN != 0 && stx.Dio_offset_align > 0 {
		return int(stx.Dio_offset_align), max(int(stx.Dio_mem_align), 1)
	}
	if ssz, err := unix.IoctlGetInt(fd, unix.BLKSSZGET); err == nil && ssz > 0 {
		return ssz, os.Getpagesize()
	}
	return 4096, os.Getpagesize()
}

// sync flushes the device's cache: fsync of a block device writes back
// its page cache and sends a FLUSH (SCSI SYNCHRONIZE CACHE) down the
// block layer, and fails if the device fails it.
func (d *device) sync() error {
	if err := d.f.Sync(); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			pe.Op = "flush"
		}
		return err
	}
	return nil
}

func (d *device) close() error { return d.f.Close() }

// zeroOut makes n bytes at off read as zeros: BLKZEROOUT lets a device
// that can zero a range do it without the data going over the bus, and
// makes the kernel write zeros on the others.
func (d *device) zeroOut(off, n int64) error {
	r := [2]uint64{uint64(off), uint64(n)}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, d.f.Fd(), unix.BLKZEROOUT, uintptr(unsafe.Pointer(&r)))
	switch e {
	case 0:
		return nil
	case unix.ENOTTY, unix.EOPNOTSUPP, unix.EINVAL:
		return d.writeZeros(off, n)
	}
	return &os.PathError{Op: "zero", Path: d.path, Err: e}
}

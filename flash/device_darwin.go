package flash

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// Disk ioctls of <sys/disk.h>, which golang.org/x/sys does not define.
const (
	dkiocGetBlockSize       = 0x40046418 // _IOR('d', 24, uint32_t)
	dkiocGetBlockCount      = 0x40086419 // _IOR('d', 25, uint64_t)
	dkiocSynchronizeCache   = 0x20006416 // _IO('d', 22)
	rawPrefix, bufferedDisk = "/dev/rdisk", "/dev/disk"
)

type device struct{ deviceFile }

// openDevice unmounts every volume of the disk (macOS mounts sticks on
// sight; diskutil refuses when one is busy), then opens its raw node
// exclusively with the cache off.
func openDevice(path string) (*device, error) {
	raw := path
	if strings.HasPrefix(path, bufferedDisk) {
		raw = rawPrefix + strings.TrimPrefix(path, bufferedDisk)
	}
	if out, err := exec.Command("diskutil", "unmountDisk", path).CombinedOutput(); err != nil {
		return nil, &os.PathError{Op: "diskutil unmountDisk", Path: path, Err: fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))}
	}
	fd, err := unix.Open(raw, unix.O_RDWR|unix.O_EXLOCK|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: raw, Err: err}
	}
	// O_NONBLOCK only keeps O_EXLOCK from waiting on another holder.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: raw, Err: err}
	}
	d := &device{deviceFile: deviceFile{f: os.NewFile(uintptr(fd), raw), path: path, memAlign: os.Getpagesize()}}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_NOCACHE, 1); err != nil {
		d.f.Close()
		return nil, &os.PathError{Op: "fcntl F_NOCACHE", Path: raw, Err: err}
	}
	// Every Mac is 64-bit: an int holds both answers (the block size is
	// 32 bits, little-endian, in an int that starts as zero).
	bs, err := unix.IoctlGetInt(fd, dkiocGetBlockSize)
	if err != nil {
		d.f.Close()
		return nil, &os.PathError{Op: "ioctl DKIOCGETBLOCKSIZE", Path: raw, Err: err}
	}
	count, err := unix.IoctlGetInt(fd, dkiocGetBlockCount)
	if err != nil {
		d.f.Close()
		return nil, &os.PathError{Op: "ioctl DKIOCGETBLOCKCOUNT", Path: raw, Err: err}
	}
	d.offAlign, d.size = bs, int64(count)*int64(bs)
	return d, nil
}

// sync asks the drive to write its cache to the media (a raw disk node
// takes no F_FULLFSYNC).
func (d *device) sync() error {
	if err := d.f.Sync(); err != nil {
		return err
	}
	if err := unix.IoctlSetInt(int(d.f.Fd()), dkiocSynchronizeCache, 0); err != nil {
		return &os.PathError{Op: "flush", Path: d.path, Err: err}
	}
	return nil
}

func (d *device) close() error { return d.f.Close() }

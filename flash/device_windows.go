package flash

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Control codes of winioctl.h that golang.org/x/sys/windows lacks.
const (
	ioctlDiskGetLengthInfo          = 0x0007405c
	ioctlDiskGetDriveGeometry       = 0x00070000
	ioctlStorageGetDeviceNumber     = 0x002d1080
	ioctlVolumeGetVolumeDiskExtents = 0x00560000
	fsctlLockVolume                 = 0x00090018
	fsctlDismountVolume             = 0x00090020
)

type diskGeometry struct {
	Cylinders         int64
	MediaType         uint32
	TracksPerCylinder uint32
	SectorsPerTrack   uint32
	BytesPerSector    uint32
}

type storageDeviceNumber struct {
	DeviceType      uint32
	DeviceNumber    uint32
	PartitionNumber uint32
}

type diskExtent struct {
	DiskNumber     uint32
	_              uint32
	StartingOffset int64
	ExtentLength   int64
}

type device struct {
	deviceFile
	volumes []windows.Handle // locked and dismounted until close
}

// openDevice opens a physical drive (\\.\PhysicalDriveN) unbuffered and
// write-through, after locking and dismounting every volume on it:
// Windows refuses raw writes over a mounted volume, and the lock keeps it
// from remounting while the image is written.
func openDevice(path string) (*device, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_NO_BUFFERING|windows.FILE_FLAG_WRITE_THROUGH, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	d := &device{deviceFile: deviceFile{f: os.NewFile(uintptr(h), path), path: path, memAlign: os.Getpagesize()}}
	fail := func(op string, err error) (*device, error) {
		d.close()
		return nil, &os.PathError{Op: op, Path: path, Err: err}
	}
	var n uint32
	var num storageDeviceNumber
	if err := windows.DeviceIoControl(h, ioctlStorageGetDeviceNumber, nil, 0, (*byte)(unsafe.Pointer(&num)), uint32(unsafe.Sizeof(num)), &n, nil); err != nil {
		return fail("IOCTL_STORAGE_GET_DEVICE_NUMBER", err)
	}
	var size int64
	if err := windows.DeviceIoControl(h, ioctlDiskGetLengthInfo, nil, 0, (*byte)(unsafe.Pointer(&size)), 8, &n, nil); err != nil {
		return fail("IOCTL_DISK_GET_LENGTH_INFO", err)
	}
	var geo diskGeometry
	if err := windows.DeviceIoControl(h, ioctlDiskGetDriveGeometry, nil, 0, (*byte)(unsafe.Pointer(&geo)), uint32(unsafe.Sizeof(geo)), &n, nil); err != nil {
		return fail("IOCTL_DISK_GET_DRIVE_GEOMETRY", err)
	}
	d.size, d.offAlign = size, int(geo.BytesPerSector)
	if err := d.dismount(num.DeviceNumber); err != nil {
		return fail("dismount", err)
	}
	return d, nil
}

// dismount locks and dismounts every volume with an extent on disk.
func (d *device) dismount(disk uint32) error {
	name := make([]uint16, windows.MAX_PATH)
	find, err := windows.FindFirstVolume(&name[0], uint32(len(name)))
	if err != nil {
		return err
	}
	defer windows.FindVolumeClose(find)
	for {
		vol := strings.TrimSuffix(windows.UTF16ToString(name), `\`)
		if on, err := volumeOnDisk(vol, disk); err == nil && on {
			if err := d.lockVolume(vol); err != nil {
				return fmt.Errorf("%s: %w", vol, err)
			}
		}
		if err := windows.FindNextVolume(find, &name[0], uint32(len(name))); err != nil {
			if err == windows.ERROR_NO_MORE_FILES {
				return nil
			}
			return err
		}
	}
}

func volumeOnDisk(vol string, disk uint32) (bool, error) {
	p, err := windows.UTF16PtrFromString(vol)
	if err != nil {
		return false, err
	}
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return false, err
	}
	defer windows.CloseHandle(h)
	// VOLUME_DISK_EXTENTS: a count, padding, then the extents.
	var buf [8 + 32*unsafe.Sizeof(diskExtent{})]byte
	var n uint32
	if err := windows.DeviceIoControl(h, ioctlVolumeGetVolumeDiskExtents, nil, 0, &buf[0], uint32(len(buf)), &n, nil); err != nil {
		return false, err
	}
	count := *(*uint32)(unsafe.Pointer(&buf[0]))
	extents := unsafe.Slice((*diskExtent)(unsafe.Pointer(&buf[8])), min(count, 32))
	for _, e := range extents {
		if e.DiskNumber == disk {
			return true, nil
		}
	}
	return false, nil
}

func (d *device) lockVolume(vol string) error {
	p, err := windows.UTF16PtrFromString(vol)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return err
	}
	var n uint32
	if err := windows.DeviceIoControl(h, fsctlLockVolume, nil, 0, nil, 0, &n, nil); err != nil {
		windows.CloseHandle(h)
		return fmt.Errorf("lock (in use?): %w", err)
	}
	if err := windows.DeviceIoControl(h, fsctlDismountVolume, nil, 0, nil, 0, &n, nil); err != nil {
		windows.CloseHandle(h)
		return fmt.Errorf("dismount: %w", err)
	}
	d.volumes = append(d.volumes, h)
	return nil
}

// sync: FlushFileBuffers on a physical drive sends the flush to the drive.
func (d *device) sync() error {
	if err := windows.FlushFileBuffers(windows.Handle(d.f.Fd())); err != nil {
		return &os.PathError{Op: "flush", Path: d.path, Err: err}
	}
	return nil
}

func (d *device) close() error {
	err := d.f.Close()
	for _, h := range d.volumes {
		windows.CloseHandle(h)
	}
	return err
}

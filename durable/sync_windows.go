package durable

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

type volumeFileKey struct {
	volume    uint32
	indexHigh uint32
	indexLow  uint32
}

func fileKey(f *os.File) any {
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &info); err != nil {
		return nil
	}
	return volumeFileKey{info.VolumeSerialNumber, info.FileIndexHigh, info.FileIndexLow}
}

// syncFile is FlushFileBuffers, which also makes the drive flush its cache.
func syncFile(f *os.File) error {
	return windows.FlushFileBuffers(windows.Handle(f.Fd()))
}

// syncDir opens the directory itself (FILE_FLAG_BACKUP_SEMANTICS is the only
// way to get a handle to one) with write access, which FlushFileBuffers
// needs. File systems that refuse either step cannot flush a directory, and
// the caller hears so.
func syncDir(dir string) error {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return &os.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
			err = errors.Join(ErrDirSyncUnsupported, err)
		}
		return &os.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	defer windows.CloseHandle(h)
	var info windows.ByHandleFileInformation
	var key any
	if windows.GetFileInformationByHandle(h, &info) == nil {
		key = volumeFileKey{info.VolumeSerialNumber, info.FileIndexHigh, info.FileIndexLow}
	}
	return flushOnce(key, "syncdir", dir, func() error {
		err := windows.FlushFileBuffers(h)
		if errors.Is(err, windows.ERROR_INVALID_FUNCTION) || errors.Is(err, windows.ERROR_NOT_SUPPORTED) {
			err = errors.Join(ErrDirSyncUnsupported, err)
		}
		return err
	})
}

// syncFS flushes the volume through a handle to \\.\X:, which Windows grants
// only to administrators; without it there is no whole-volume flush.
func syncFS(path string) error {
	// The volume handle does not involve path: without this check a missing
	// path would be flushed, or refused, as if it were there.
	if _, err := os.Stat(path); err != nil {
		return &os.PathError{Op: "syncfs", Path: path, Err: errors.Unwrap(err)}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return &os.PathError{Op: "syncfs", Path: path, Err: err}
	}
	vol := filepath.VolumeName(abs)
	if len(vol) != 2 || vol[1] != ':' {
		return &os.PathError{Op: "syncfs", Path: path, Err: ErrFSSyncUnsupported}
	}
	p, _ := windows.UTF16PtrFromString(`\\.\` + vol)
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return &os.PathError{Op: "syncfs", Path: path, Err: errors.Join(ErrFSSyncUnsupported, err)}
	}
	defer windows.CloseHandle(h)
	// A volume that cannot be flushed says so before any data is at stake:
	// that is no write-back failure to remember against the volume.
	var unsupported error
	err = flushOnce(volumeKeyOf(vol+`\`), "syncfs", path, func() error {
		err := windows.FlushFileBuffers(h)
		if errors.Is(err, windows.ERROR_INVALID_FUNCTION) || errors.Is(err, windows.ERROR_NOT_SUPPORTED) {
			unsupported = err
			return nil
		}
		return err
	})
	if unsupported != nil {
		return &os.PathError{Op: "syncfs", Path: path, Err: errors.Join(ErrFSSyncUnsupported, unsupported)}
	}
	return err
}

// volumeKeyOf identifies the volume mounted at root (X:\) by its GUID path
// and serial number, which stay with the stick and not with the letter.
func volumeKeyOf(root string) any {
	p, err := windows.UTF16PtrFromString(root)
	if err != nil {
		return nil
	}
	var serial uint32
	serialKnown := windows.GetVolumeInformation(p, nil, 0, &serial, nil, nil, nil, 0) == nil
	var name [windows.MAX_PATH + 1]uint16
	guid := ""
	if windows.GetVolumeNameForVolumeMountPoint(p, &name[0], uint32(len(name))) == nil {
		guid = windows.UTF16ToString(name[:])
	}
	return volumeKey(guid, serial, serialKnown)
}

// rename is write-through: MoveFileEx returns only after the rename is on
// the disk, so a power cut cannot undo it.
func rename(oldpath, newpath string) error {
	return moveFile(oldpath, newpath, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
}

func renameNoReplace(oldpath, newpath string) error {
	return moveFile(oldpath, newpath, windows.MOVEFILE_WRITE_THROUGH)
}

func moveFile(oldpath, newpath string, flags uint32) error {
	from, err := windows.UTF16PtrFromString(oldpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	to, err := windows.UTF16PtrFromString(newpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := windows.MoveFileEx(from, to, flags); err != nil {
		if errors.Is(err, windows.ERROR_ALREADY_EXISTS) || errors.Is(err, windows.ERROR_FILE_EXISTS) {
			err = errors.Join(os.ErrExist, err)
		}
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// syncDirOf flushes through a handle of its own: one opened for reading
// cannot flush a directory on Windows.
func syncDirOf(d *os.File) error { return syncDir(d.Name()) }

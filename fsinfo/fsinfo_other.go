//go:build !linux

package fsinfo

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

var errNoMountTable = errors.New("mount table is read only on Linux")

// Mounts is not implemented outside Linux yet.
func Mounts() ([]Mount, error) {
	return nil, errNoMountTable
}

// ForPath returns what can be known without a mount table: the file
// system and mount point statfs names (darwin), else the volume or root
// of path, with an unknown file system type.
func ForPath(path string) (Mount, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Mount{}, &os.PathError{Op: "mountinfo", Path: path, Err: err}
	}
	if t, mp, ok := statfsMount(abs); ok && t != "" {
		return Mount{MountPoint: mp, FSType: t}, nil
	}
	root := filepath.VolumeName(abs) + string(filepath.Separator)
	return Mount{MountPoint: root, FSType: "unknown"}, nil
}

// Kernel names the operating system; kernel versions matter only on Linux.
func Kernel() (release string, major, minor int) { return runtime.GOOS, 0, 0 }

// KernelAtLeast is false outside Linux: no Linux kernel facts apply.
func KernelAtLeast(major, minor int) bool { return false }

// BarrierFor is per-file flushing outside Linux: there is no syncfs that
// reports errors, so every file and directory is flushed on its own.
func BarrierFor(m Mount) (Barrier, string) {
	why := runtime.GOOS + " has no syncfs: every file and directory is flushed on its own"
	switch runtime.GOOS {
	case "darwin", "ios", "windows":
		// F_FULLFSYNC and FlushFileBuffers reach the drive's cache.
	default:
		why += ", with plain fsync: whether that empties the drive's cache is up to the file system"
	}
	return BarrierPerFile, why
}

// BackingDevice is known only on Linux.
func BackingDevice(m Mount) (string, bool) { return "", false }

// DebugfsDir is "": debugfs is Linux's.
func DebugfsDir() string { return "" }

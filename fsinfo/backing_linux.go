package fsinfo

import (
	"errors"
	"io/fs"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/proc"
)

// BackingDevice finds the block device under a FUSE file system: the mount
// source for fuseblk, otherwise the one block device held open by the
// server process that names the mount point in its arguments (fusefat
// mounts show only "fusefat" as their source).
//
// It matters because a FUSE server may not implement FSYNC at all (fusefat
// does not), and the kernel then turns every fsync on the mount into a
// silent success. Flushing the device itself is then the only flush that
// reaches the media: the server has written the data to the device by the
// time a write to the mount returns.
func BackingDevice(m Mount) (string, bool) {
	if !m.IsFUSE() {
		return "", false
	}
	if isBlockDevice(m.Source) {
		return m.Source, true
	}
	for _, p := range proc.FUSEServers(m.MountPoint, "") {
		fds, err := proc.FDs(p.PID)
		if errors.Is(err, fs.ErrPermission) {
			// Another user's server: its open files are hidden, but the
			// device it was given is among its arguments.
			if dev, ok := oneBlockDevice(p.Args); ok {
				return dev, true
			}
			continue
		}
		if dev, ok := oneBlockDevice(fds); ok {
			return dev, true
		}
	}
	return "", false
}

// oneBlockDevice returns the one block device among paths.
func oneBlockDevice(paths []string) (string, bool) {
	var devs []string
	for _, p := range paths {
		if isBlockDevice(p) && !slices.Contains(devs, p) {
			devs = append(devs, p)
		}
	}
	if len(devs) == 1 {
		return devs[0], true
	}
	return "", false
}

func isBlockDevice(path string) bool {
	var st unix.Stat_t
	return strings.HasPrefix(path, "/dev/") && unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK
}

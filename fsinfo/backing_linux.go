package fsinfo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
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
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		if !namesMountPoint(p.Name(), m.MountPoint) {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if errors.Is(err, fs.ErrPermission) {
			// Another user's server: its open files are hidden, but the
			// device it was given is among its arguments.
			if dev, ok := deviceArgument(p.Name()); ok {
				return dev, true
			}
			continue
		}
		var devs []string
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err == nil && isBlockDevice(target) && !slices.Contains(devs, target) {
				devs = append(devs, target)
			}
		}
		if len(devs) == 1 {
			return devs[0], true
		}
	}
	return "", false
}

// deviceArgument returns the one block device among process pid's
// arguments.
func deviceArgument(pid string) (string, bool) {
	cmdline, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
	if err != nil {
		return "", false
	}
	var devs []string
	for _, arg := range strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00") {
		if isBlockDevice(arg) && !slices.Contains(devs, arg) {
			devs = append(devs, arg)
		}
	}
	if len(devs) == 1 {
		return devs[0], true
	}
	return "", false
}

// namesMountPoint reports whether process pid has dir among its
// arguments, resolving relative ones against its working directory.
func namesMountPoint(pid, dir string) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
	if err != nil {
		return false
	}
	cwd, _ := os.Readlink(filepath.Join("/proc", pid, "cwd"))
	for _, arg := range strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00") {
		if arg == "" {
			continue
		}
		if !filepath.IsAbs(arg) {
			arg = filepath.Join(cwd, arg)
		}
		if filepath.Clean(arg) == dir {
			return true
		}
	}
	return false
}

func isBlockDevice(path string) bool {
	var st unix.Stat_t
	return strings.HasPrefix(path, "/dev/") && unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK
}

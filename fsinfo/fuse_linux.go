package fsinfo

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// FlushDevice is the block device a barrier on the FUSE file system m
// flushes, "" when there is none to flush: none found, or one this user
// may not open under a server whose own fsync already flushes it (the
// per-file fsyncs are then the flush that reaches the media).
func FlushDevice(m Mount) string {
	dev, ok := BackingDevice(m)
	if !ok || !CanOpen(dev) && capsOf(m.FSType, "", fuseServer(m)).FsyncReachesDevice {
		return ""
	}
	return dev
}

// CanOpen reports whether this user may open dev for reading, which its
// flush (fsync of the device) needs.
func CanOpen(dev string) bool {
	return unix.Access(dev, unix.R_OK) == nil
}

// fuseServer names the program that serves the FUSE mount m (the base of
// its argv[0]): the process whose arguments name m's mount point or its
// source device; "" when none is found. Any user may read another's
// command line, unlike its open files.
func fuseServer(m Mount) string {
	src := m.Source
	if r, err := filepath.EvalSymlinks(src); err == nil {
		src = r
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) < 2 {
			continue
		}
		match := namesMountPoint(p.Name(), m.MountPoint)
		for _, a := range args[1:] {
			if r, err := filepath.EvalSymlinks(a); err == nil && strings.HasPrefix(src, "/dev/") && r == src {
				match = true
			}
		}
		if match {
			return filepath.Base(args[0])
		}
	}
	return ""
}

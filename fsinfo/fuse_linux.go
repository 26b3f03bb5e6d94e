package fsinfo

import (
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/proc"
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
// its argv[0]); "" when none is found.
func fuseServer(m Mount) string {
	if ps := proc.FUSEServers(m.MountPoint, m.Source); len(ps) > 0 {
		return filepath.Base(ps[0].Args[0])
	}
	return ""
}

package preflight

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// freeSpace is what an unprivileged writer may still allocate on the file
// system holding dir, and its allocation unit.
func freeSpace(dir string) (free, block uint64, ok bool) {
	var st unix.Statfs_t
	// fusefat answers with zero blocks: it does not know, and a check
	// against "0 bytes free" would refuse every copy.
	if unix.Statfs(dir, &st) != nil || st.Blocks == 0 {
		return 0, 0, false
	}
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return st.Bavail * unit, uint64(st.Bsize), true
}

func device(path string) (uint64, bool) {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil {
		return 0, false
	}
	return uint64(st.Dev), true
}

// nameMax is the longest name, in bytes, the file system holding dir
// takes (statfs f_namelen).
func nameMax(dir string) int {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return 0
	}
	return int(st.Namelen)
}

// allocated is what info's file occupies on its file system: less than
// its size when it has holes.
func allocated(info fs.FileInfo) (int64, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Blocks * 512, true
}

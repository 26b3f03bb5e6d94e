package copier

import "golang.org/x/sys/unix"

// fsTypeOf names the file system holding path ("apfs", "hfs", "msdos"),
// which the mount lookup elsewhere leaves unknown here.
func fsTypeOf(path string) string {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return ""
	}
	return unix.ByteSliceToString(st.Fstypename[:])
}

package fsinfo

import "golang.org/x/sys/unix"

// statfsMount names the file system holding path ("apfs", "hfs",
// "msdos") and its mount point, which darwin's statfs tells without a
// mount table; ok is false when statfs fails.
func statfsMount(path string) (fstype, mountPoint string, ok bool) {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return "", "", false
	}
	return unix.ByteSliceToString(st.Fstypename[:]), unix.ByteSliceToString(st.Mntonname[:]), true
}

//go:build !linux && !darwin

package fsinfo

// statfsMount: no statfs here names the file system.
func statfsMount(path string) (fstype, mountPoint string, ok bool) { return "", "", false }

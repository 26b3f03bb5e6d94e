//go:build !linux

package fsinfo

// FlushDevice: no device is found under a FUSE file system here.
func FlushDevice(m Mount) string { return "" }

// CanOpen: block devices are not flushed by path here.
func CanOpen(dev string) bool { return false }

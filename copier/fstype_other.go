//go:build !darwin

package copier

// fsTypeOf: the mount table (package fsinfo) names the file system.
func fsTypeOf(path string) string { return "" }

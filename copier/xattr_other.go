//go:build !linux && !windows

package copier

import "os"

// copyXattrs: extended attributes are copied on Linux only.
func copyXattrs(in, out *os.File) (bool, error) { return false, nil }

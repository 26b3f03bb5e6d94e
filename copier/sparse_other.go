//go:build !linux

package copier

// copySparse is Linux only (SEEK_DATA and SEEK_HOLE are not portable to
// Windows); elsewhere holes are copied as zeros.
func (c *fileCopy) copySparse() (int64, bool, error) { return 0, false, nil }

//go:build !linux

package copier

// tryClone is Linux only (FICLONE); elsewhere bytes are copied.
func (c *fileCopy) tryClone() (int64, bool, error) { return 0, false, nil }

//go:build !linux

package readback

import (
	"io"
	"os"
)

// reader refuses: macOS (F_NOCACHE still serves pages already cached) and
// Windows (FILE_FLAG_NO_BUFFERING needs sector-aligned reads) are not
// written yet, and a cached read would claim L3 without reaching it.
type reader struct{}

func newReader() *reader { return &reader{} }

func (*reader) invalidate(paths []string, once bool) error {
	if len(paths) == 0 {
		return nil
	}
	return &os.PathError{Op: "read back", Path: paths[0], Err: ErrUnsupported}
}

func (*reader) copy(w io.Writer, path string, open func(flag int) (*os.File, error)) (int64, error) {
	return 0, &os.PathError{Op: "read back", Path: path, Err: ErrUnsupported}
}

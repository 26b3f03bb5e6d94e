// Package readback reads files as the device holds them, not as the
// kernel's caches remember them: level L3 "verified" of the guarantee
// ladder (README.md) is a comparison with what this package reads.
//
// After a barrier the pages of the files it covered are clean. A plain
// read would be served from them and prove nothing about the media, so a
// file's own cached pages are dropped (posix_fadvise DONTNEED) and the
// file is read with O_DIRECT where the file system allows it. On a FUSE
// file system (exfat-fuse, fusefat) that reaches only the server, which
// itself reads the block device through the device's page cache: Reader
// drops that cache too, and refuses to read back where it finds no block
// device under the server, since the server's own answers prove nothing.
package readback

import (
	"errors"
	"io"
	"os"
)

// ErrNoDevice: the file system is served by a FUSE server with no block
// device found under it, so nothing read through it is known to come from
// the media.
var ErrNoDevice = errors.New("no block device found under this FUSE file system: what it returns may come from its server's memory")

// ErrUnsupported: this platform has no implementation that bypasses its
// caches yet.
var ErrUnsupported = errors.New("reading back from the device is implemented on Linux only")

// Reader reads files back from their devices. Its methods may be called
// from several goroutines at once.
type Reader struct {
	impl *reader
}

// New returns a Reader.
func New() *Reader { return &Reader{impl: newReader()} }

// Invalidate drops what the kernel caches, below the files themselves, of
// the file systems holding paths: for a FUSE file system, the page cache of
// the block device under its server. Call it after the barrier that made
// the files durable and before reading them back; reading one file pulls
// in only that file's blocks (and read-ahead from the device), so once per
// batch is enough. The error names the first file system that cannot be
// read back from its device.
func (r *Reader) Invalidate(paths ...string) error {
	return r.impl.invalidate(paths, false)
}

// InvalidateOnce is Invalidate for the file systems this Reader has not
// invalidated yet: for one pass over files that were all durable before it
// started, such as checking a manifest.
func (r *Reader) InvalidateOnce(paths ...string) error {
	return r.impl.invalidate(paths, true)
}

// Copy reads the file at path from its device and writes every byte to w.
// It returns the number of bytes read. Errors are *os.PathError.
func (r *Reader) Copy(w io.Writer, path string) (int64, error) {
	return r.impl.copy(w, path, nil)
}

// CopyOpen is Copy with the file opened by open, with the flags given
// (os.O_RDONLY, or with O_DIRECT): for a caller that opens names beneath
// a directory it holds, without following links. path names the file in
// messages.
func (r *Reader) CopyOpen(w io.Writer, path string, open func(flag int) (*os.File, error)) (int64, error) {
	return r.impl.copy(w, path, open)
}

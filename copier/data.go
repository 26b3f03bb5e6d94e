package copier

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
)

// bufSize is the size of one read and one write: large enough that a
// sequential copy is not bound by system calls, small enough that eight
// workers stay within a few MiB.
const bufSize = 1 << 20

// window is the write-behind unit (DESIGN §4): after each window is
// written its writeback starts, and the window before is waited for and
// dropped from the page cache, so a copy keeps about two windows dirty.
const window = 8 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// copyData copies in to out, starting writeback behind the writes. perFile
// means sync_file_range does not reach the device (FUSE), so each full
// window is flushed with fdatasync instead. Every byte read is also
// written to sum, when it is not nil, so that the source is hashed in the
// same pass (verify and manifests).
func copyData(ctx context.Context, out, in *os.File, name string, perFile bool, sum io.Writer) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	wb := writeBehind{f: out, name: name, perFile: perFile, prevOff: -1}
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return off, err
		}
		n, rerr := in.Read(buf)
		if n > 0 {
			if sum != nil {
				sum.Write(buf[:n])
			}
			if _, err := out.Write(buf[:n]); err != nil {
				return off, err
			}
			off += int64(n)
			if err := wb.wrote(off); err != nil {
				return off, err
			}
		}
		if errors.Is(rerr, io.EOF) {
			return off, nil
		}
		if rerr != nil {
			return off, rerr
		}
	}
}

package flash

import (
	"os"

	"golang.org/x/sys/unix"
)

// dataExtents lists the data of f (size bytes) with SEEK_DATA and
// SEEK_HOLE; the rest are holes, which read as zeros. It returns nil when
// the file system cannot tell.
func dataExtents(f *os.File, size int64) ([]extent, error) {
	fd := int(f.Fd())
	// The image's reader has buffered ahead: its offset is put back.
	cur, err := unix.Seek(fd, 0, unix.SEEK_CUR)
	if err != nil {
		return nil, err
	}
	var es []extent
	for at := int64(0); at < size; {
		start, err := unix.Seek(fd, at, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // only a hole up to the end
		}
		if err == unix.EINVAL || err == unix.EOPNOTSUPP {
			_, err = unix.Seek(fd, cur, unix.SEEK_SET)
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return nil, err
		}
		end = min(end, size)
		es = append(es, extent{off: start, n: end - start, rng: -1})
		at = end
	}
	if _, err := unix.Seek(fd, cur, unix.SEEK_SET); err != nil {
		return nil, err
	}
	if es == nil {
		es = []extent{} // all hole: not "cannot tell"
	}
	return es, nil
}

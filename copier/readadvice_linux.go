// Read-side page-cache advice on Linux (posix_fadvise, cachestat):
// read-ahead is told the source is read in order, and the pages sure
// brought in are dropped behind the reader, so that a big copy does not
// push other caches out.

package copier

import (
	"os"

	"golang.org/x/sys/unix"
)

// readAdvice reads the source without trashing the page cache: read-ahead
// is told the access is sequential, and pages sure brought in are dropped
// behind the reader. Only a file with no page cached when sure opened it
// is dropped, so that sure never evicts what someone else is using; where
// cachestat(2) is missing (Linux < 6.5), nothing is dropped.
type readAdvice struct {
	fd      int
	cold    bool
	dropped int64
}

func (a *readAdvice) open(in *os.File, size int64) {
	*a = readAdvice{fd: int(in.Fd())}
	if size > bufSize {
		unix.Fadvise(a.fd, 0, 0, unix.FADV_SEQUENTIAL)
	}
	var cs unix.Cachestat_t
	// A zero length means up to the end of the file.
	if err := unix.Cachestat(uint(a.fd), &unix.CachestatRange{}, &cs, 0); err == nil {
		a.cold = cs.Cache == 0
	}
}

// dropBehind drops the source's pages before off, if sure brought them in.
func (a *readAdvice) dropBehind(off int64) {
	if a.cold && off > a.dropped {
		unix.Fadvise(a.fd, a.dropped, off-a.dropped, unix.FADV_DONTNEED)
		a.dropped = off
	}
}

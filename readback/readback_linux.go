package readback

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/fsinfo"
)

// bufSize is one read: large enough for a stick's sequential speed.
const bufSize = 1 << 20

type reader struct {
	mu      sync.Mutex
	fss     map[uint64]fsState // by st_dev
	dropped map[string]bool    // devices whose cache was dropped
}

// fsState says how files of one file system are read back: device is the
// block device under a FUSE server ("" for a kernel file system), err why
// they cannot be.
type fsState struct {
	device string
	err    error
}

func newReader() *reader { return &reader{fss: map[uint64]fsState{}, dropped: map[string]bool{}} }

// fsOf finds, once per file system, what lies under path.
func (r *reader) fsOf(path string) (fsState, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fsState{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return r.fsOfDev(st.Dev, path)
}

// fsOfDev is fsOf for the file system of device dev, where path is.
func (r *reader) fsOfDev(dev uint64, path string) (fsState, error) {
	r.mu.Lock()
	s, ok := r.fss[dev]
	r.mu.Unlock()
	if ok {
		return s, s.err
	}
	m, err := fsinfo.ForPath(path)
	switch {
	case err != nil:
		s.err = err
	case m.IsFUSE():
		dev, ok := fsinfo.BackingDevice(m)
		if !ok {
			s.err = &os.PathError{Op: "read back", Path: m.MountPoint, Err: ErrNoDevice}
		}
		s.device = dev
	}
	r.mu.Lock()
	r.fss[dev] = s
	r.mu.Unlock()
	return s, s.err
}

func (r *reader) invalidate(paths []string, once bool) error {
	done := map[string]bool{}
	for _, p := range paths {
		s, err := r.fsOf(p)
		if err != nil {
			return err
		}
		if s.device == "" || done[s.device] {
			continue
		}
		done[s.device] = true
		r.mu.Lock()
		skip := once && r.dropped[s.device]
		r.mu.Unlock()
		if skip {
			continue
		}
		if err := dropCache(s.device); err != nil {
			return err
		}
		r.mu.Lock()
		r.dropped[s.device] = true
		r.mu.Unlock()
	}
	return nil
}

// dropCache drops the page cache of the block device under a FUSE server.
// DONTNEED drops only clean pages, and a dirty page would be read back as
// it is in RAM: the device is written back first. After sure's own barrier
// that finds nothing to do; after a plain cp it is what makes the check
// mean anything.
func dropCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dropping the cache of %s: %w", path, err)
	}
	defer f.Close()
	if err := unix.Fsync(int(f.Fd())); err != nil {
		return &os.PathError{Op: "fsync", Path: path, Err: err}
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return &os.PathError{Op: "fadvise DONTNEED", Path: path, Err: err}
	}
	return nil
}

func (r *reader) copy(w io.Writer, path string, open func(flag int) (*os.File, error)) (int64, error) {
	if open == nil {
		open = func(flag int) (*os.File, error) { return os.OpenFile(path, flag, 0) }
	}
	f, err := open(os.O_RDONLY)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if _, err := r.fsOfDev(st.Dev, path); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, &os.PathError{Op: "read back", Path: path, Err: errors.New("not a regular file")}
	}
	// Dropped first whatever comes next: where O_DIRECT quietly falls back
	// to the page cache (btrfs compressed extents, ext4 inline data), the
	// cache no longer holds the file.
	dropErr := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	df, err := open(unix.O_RDONLY | unix.O_DIRECT)
	if err == nil {
		defer df.Close()
		// The same file, not one put in its place between the two opens.
		var dst unix.Stat_t
		if err := unix.Fstat(int(df.Fd()), &dst); err != nil || dst.Dev != st.Dev || dst.Ino != st.Ino {
			return 0, &os.PathError{Op: "read back", Path: path, Err: errors.New("the file was replaced while it was read back")}
		}
		return readAll(w, df, fi.Size(), dioAlign(int(df.Fd())))
	}
	if !errors.Is(err, unix.EINVAL) {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return 0, &os.PathError{Op: "open O_DIRECT", Path: path, Err: err}
	}
	// No O_DIRECT here (tmpfs before 6.6, some FUSE servers): a buffered
	// read reaches the device only if no page of the file is cached.
	if dropErr != nil {
		return 0, &os.PathError{Op: "fadvise DONTNEED", Path: path, Err: dropErr}
	}
	if err := checkUncached(f); err != nil {
		return 0, err
	}
	return readAll(w, f, fi.Size(), 1)
}

// checkUncached refuses a file that still has pages in the cache
// (mapped or dirty ones survive DONTNEED). cachestat is Linux 6.5;
// before it, the fadvise that succeeded is all there is to go on.
func checkUncached(f *os.File) error {
	var cs unix.Cachestat_t
	err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &cs, 0)
	switch {
	case errors.Is(err, unix.ENOSYS):
		return nil
	case err != nil:
		return &os.PathError{Op: "cachestat", Path: f.Name(), Err: err}
	case cs.Cache > 0:
		return &os.PathError{Op: "read back", Path: f.Name(),
			Err: fmt.Errorf("%d pages stay in the page cache (mapped or dirty) and O_DIRECT is refused: the device cannot be read", cs.Cache)}
	}
	return nil
}

// dioAlign is the memory alignment O_DIRECT needs for fd (statx
// STATX_DIOALIGN, Linux 6.1), at least a page.
func dioAlign(fd int) int {
	align := os.Getpagesize()
	var stx unix.Statx_t
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &stx) == nil &&
		stx.Mask&unix.STATX_DIOALIGN != 0 && int(stx.Dio_mem_align) > align {
		align = int(stx.Dio_mem_align)
	}
	return align
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize+64<<10); return &b }}

// readAll reads f to size (a file that ends early is returned short, for
// the caller's comparison to catch). Reads are bufSize at offsets that are
// multiples of it, so O_DIRECT's alignment holds up to the last one.
func readAll(w io.Writer, f *os.File, size int64, align int) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := aligned(*bp, align)
	var off int64
	for off < size {
		n, err := f.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			off += int64(n)
		}
		if err == io.EOF || n == 0 && err == nil {
			break
		}
		if err != nil {
			return off, err
		}
		if n < len(buf) && off%int64(align) != 0 {
			// A short read ends where the file does; another O_DIRECT
			// read from an unaligned offset would be refused.
			break
		}
	}
	return off, nil
}

// aligned returns bufSize bytes of b starting at a multiple of align.
func aligned(b []byte, align int) []byte {
	if align > 64<<10 {
		align = 64 << 10
	}
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % uintptr(align)); r != 0 {
		off = align - r
	}
	return b[off : off+bufSize]
}

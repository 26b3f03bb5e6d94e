//go:build linux

package vdisk

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// model is the stick itself, independent of FUSE so it can be tested
// directly: cur is what the device reads back (its volatile cache is
// coherent), dur is what survives power loss, epoch is every write and
// zeroing since the last successful flush, in the order they arrived.
type model struct {
	mu     sync.Mutex
	size   int64
	cur    *os.File
	dur    *os.File
	epoch  []entry
	faults Faults
	rng    *rand.Rand
	stats  Stats

	// Counters since the faults were last set, so "the n-th write" means
	// the n-th one after arming, not since the disk was made.
	writesSinceArm  int64
	flushesSinceArm int64

	// linkFree is when the stick's link finishes the transfers already
	// accepted; see pace.
	linkFree time.Time

	rec *recorder // nil unless recording
}

// burst is how much idle link time a write may use up: the host's own
// overhead between two requests (the FUSE round trip, the loop driver)
// overlaps with the transfer instead of adding to it, as a real stick's
// buffer lets it. Without it the configured bandwidth was a ceiling the
// model never reached (about 60 of 100 MB/s in 512 KiB requests).
const burst = 10 * time.Millisecond

// entry is one write (data != nil) or one zeroed range (data == nil) of the
// open epoch.
type entry struct {
	off  int64
	n    int64
	data []byte
}

func newModel(dir string, size int64, seed uint64) (*model, error) {
	m := &model{size: size, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	var err error
	if m.cur, err = makeSparse(dir+"/cur.img", size); err != nil {
		return nil, err
	}
	if m.dur, err = makeSparse(dir+"/durable.img", size); err != nil {
		m.cur.Close()
		return nil, err
	}
	return m, nil
}

func makeSparse(name string, size int64) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	return f, nil
}

func (m *model) close() error {
	var rerr error
	if m.rec != nil {
		rerr = m.rec.close()
		m.rec = nil
	}
	return errors.Join(rerr, m.cur.Close(), m.dur.Close())
}

// setFaults replaces the armed faults and restarts the n-th write/flush
// counters.
func (m *model) setFaults(f Faults) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = f
	m.writesSinceArm, m.flushesSinceArm = 0, 0
}

// span is a piece of a request after fake-capacity wrapping.
type span struct{ dev, off, n int64 } // dev: device offset; off: offset inside the request

// wrap maps a request onto the real storage: a fake-capacity stick stores
// only Capacity bytes and silently folds higher addresses onto the start.
func (m *model) wrap(off, n int64) []span {
	capacity := m.faults.Capacity
	if capacity <= 0 || capacity >= m.size {
		return []span{{off, 0, n}}
	}
	var out []span
	for done := int64(0); done < n; {
		d := (off + done) % capacity
		l := min(n-done, capacity-d)
		out = append(out, span{d, done, l})
		done += l
	}
	return out
}

func (m *model) read(dest []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats.Yanked {
		return 0, syscall.EIO
	}
	if off >= m.size {
		return 0, nil
	}
	dest = dest[:min(int64(len(dest)), m.size-off)]
	for _, s := range m.wrap(off, int64(len(dest))) {
		if _, err := m.cur.ReadAt(dest[s.off:s.off+s.n], s.dev); err != nil && err != io.EOF {
			return 0, syscall.EIO
		}
	}
	m.stats.Reads++
	return len(dest), nil
}

func (m *model) write(data []byte, off int64) (int, error) {
	time.Sleep(m.pace(len(data), time.Now()))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats.Yanked {
		return 0, syscall.EIO
	}
	if off < 0 || off+int64(len(data)) > m.size {
		return 0, syscall.ENOSPC
	}
	m.writesSinceArm++
	if m.faults.FailWrite > 0 && m.writesSinceArm == m.faults.FailWrite {
		m.stats.FailedWrites++
		return 0, syscall.EIO
	}
	buf := append([]byte(nil), data...)
	if m.faults.FlipEvery > 0 && m.writesSinceArm%m.faults.FlipEvery == 0 && len(buf) > 0 {
		bit := m.rng.IntN(len(buf) * 8)
		buf[bit/8] ^= 1 << (bit % 8)
		m.stats.BitFlips++
	}
	for _, s := range m.wrap(off, int64(len(buf))) {
		p := buf[s.off : s.off+s.n]
		if _, err := m.cur.WriteAt(p, s.dev); err != nil {
			return 0, syscall.EIO
		}
		m.epoch = append(m.epoch, entry{off: s.dev, n: s.n, data: p})
		m.stats.EpochBytes += s.n
		m.recordLast()
	}
	m.stats.Writes++
	m.stats.EpochWrites = int64(len(m.epoch))
	m.stats.BytesReceived += int64(len(data))
	return len(data), nil
}

// pace reserves the link for n bytes arriving at now, at the configured
// bandwidth, and returns how long the write must wait for its turn to
// finish. The link is one clock shared by all requests, so concurrent
// writes share the bandwidth instead of each getting all of it.
func (m *model) pace(n int, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	bw := m.faults.BandwidthMBps
	if bw <= 0 {
		return 0
	}
	start := m.linkFree
	if idle := now.Add(-burst); start.Before(idle) {
		start = idle
	}
	m.linkFree = start.Add(time.Duration(float64(n) / (bw * 1e6) * float64(time.Second)))
	return m.linkFree.Sub(now)
}

// zero models a discard or write-zeroes: the range reads back as zeros. A
// real stick may return old data after a discard; zeros are the only answer
// a checker can rely on either way, since file systems never read
// discarded blocks as file data.
func (m *model) zero(off, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats.Yanked {
		return syscall.EIO
	}
	if off < 0 || off >= m.size {
		return syscall.EINVAL
	}
	n = min(n, m.size-off)
	for _, s := range m.wrap(off, n) {
		if err := punch(m.cur, s.dev, s.n); err != nil {
			return syscall.EIO
		}
		m.epoch = append(m.epoch, entry{off: s.dev, n: s.n})
		m.recordLast()
	}
	m.stats.Zeroes++
	m.stats.EpochWrites = int64(len(m.epoch))
	return nil
}

func punch(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

func apply(f *os.File, e entry) error {
	if e.data == nil {
		return punch(f, e.off, e.n)
	}
	_, err := f.WriteAt(e.data, e.off)
	return err
}

// flush is the drive's cache flush: the loop driver sends one for every
// block-layer FLUSH (and FUA), as fsync of disk.img.
func (m *model) flush() error {
	m.mu.Lock()
	lat := m.faults.FlushLatency
	m.mu.Unlock()
	if lat > 0 {
		time.Sleep(lat)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats.Yanked {
		return syscall.EIO
	}
	m.flushesSinceArm++
	m.stats.Flushes++
	if m.faults.FailFlush > 0 && m.flushesSinceArm == m.faults.FailFlush {
		// The epoch stays open: nothing since the last good flush is known
		// to be on the media, which is what a failed flush tells the host.
		m.stats.FailedFlushes++
		return syscall.EIO
	}
	for _, e := range m.epoch {
		if err := apply(m.dur, e); err != nil {
			return syscall.EIO
		}
		if e.data != nil {
			m.stats.BytesDurable += e.n
		}
	}
	m.epoch = nil
	m.stats.EpochWrites, m.stats.EpochBytes = 0, 0
	if m.rec != nil {
		m.rec.add(RecEntry{Kind: RecFlush}, nil)
		m.stats.Seq = m.rec.seq
	}
	return nil
}

// recordLast records the newest entry of the epoch, if recording.
func (m *model) recordLast() {
	if m.rec == nil {
		return
	}
	m.rec.addEntry(m.epoch[len(m.epoch)-1])
	m.stats.Seq = m.rec.seq
}

// cut writes the image a power cut at this instant leaves into out and,
// when yank is set, fails every later I/O. Both happen under the lock, so
// no request slips in between.
func (m *model) cut(c CutOptions) (CutResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := CutResult{EpochWrites: len(m.epoch), TornWrite: -1}
	if err := sparseCopy(c.Out, m.dur, m.size); err != nil {
		return res, err
	}
	out, err := os.OpenFile(c.Out, os.O_RDWR, 0)
	if err != nil {
		return res, fmt.Errorf("vdisk: %w", err)
	}
	defer out.Close()
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x5851f42d4c957f2d))
	keep := make([]bool, len(m.epoch))
	switch c.Mode {
	case "", CutPrefix:
		k := rng.IntN(len(m.epoch) + 1)
		for i := range k {
			keep[i] = true
		}
		if c.Tear && k < len(m.epoch) {
			res.TornWrite = k
		}
	case CutSubset:
		var dropped []int
		for i := range keep {
			keep[i] = rng.IntN(2) == 0
			if !keep[i] {
				dropped = append(dropped, i)
			}
		}
		if c.Tear && len(dropped) > 0 {
			res.TornWrite = dropped[rng.IntN(len(dropped))]
		}
	case CutNone:
	case CutAll:
		for i := range keep {
			keep[i] = true
		}
	default:
		return res, fmt.Errorf("vdisk: unknown cut mode %q", c.Mode)
	}
	for i, e := range m.epoch {
		if i == res.TornWrite {
			sectors := e.n / 512
			if e.data == nil || sectors < 2 {
				res.TornWrite = -1
				continue
			}
			e.n = 512 * (1 + rng.Int64N(sectors-1))
			e.data = e.data[:e.n]
			res.TornBytes = e.n
		} else if !keep[i] {
			continue
		}
		if err := apply(out, e); err != nil {
			return res, fmt.Errorf("vdisk: cut image %s: %w", c.Out, err)
		}
		res.Kept++
	}
	if err := out.Sync(); err != nil {
		return res, fmt.Errorf("vdisk: cut image %s: %w", c.Out, err)
	}
	if c.Yank {
		m.stats.Yanked = true
		m.epoch = nil
	}
	return res, nil
}

func (m *model) yank() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Yanked = true
	m.epoch = nil
}

func (m *model) snapshotStats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// sparseCopy copies src's data extents to a new file name, leaving holes as
// holes: a 300 MiB xfs stick is mostly holes.
func sparseCopy(name string, src *os.File, size int64) error {
	dst, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("vdisk: %w", err)
	}
	defer dst.Close()
	if err := dst.Truncate(size); err != nil {
		return fmt.Errorf("vdisk: %w", err)
	}
	fd := int(src.Fd())
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break
		}
		if err != nil {
			return fmt.Errorf("vdisk: seek data in %s: %w", src.Name(), err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("vdisk: seek hole in %s: %w", src.Name(), err)
		}
		for p := data; p < hole; {
			n, err := src.ReadAt(buf[:min(int64(len(buf)), hole-p)], p)
			if n > 0 {
				if _, werr := dst.WriteAt(buf[:n], p); werr != nil {
					return fmt.Errorf("vdisk: %w", werr)
				}
				p += int64(n)
			}
			if err != nil && err != io.EOF {
				return fmt.Errorf("vdisk: %w", err)
			}
			if n == 0 {
				break
			}
		}
		off = hole
	}
	return nil
}

// Package flash writes a disk image onto one or several block devices at
// once: decompressing it on the fly, writing with direct I/O and several
// writes in flight, flushing each device's cache, and reading the image
// back from each device to compare it with what was written.
//
// It does not judge whether a device may be overwritten: that is package
// device's job, done before calling Write. What flash does refuse on its
// own is what the operating system tells it: on Linux the device is opened
// with O_EXCL, which fails while it is mounted, used as swap or held by
// RAID or LVM.
package flash

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/zeebo/xxh3"

	"github.com/sure-tools/sure/internal/units"
)

// Level is how far an image got on a device, on the guarantee ladder the
// README describes: a caller reports no more than the level reached.
type Level int

// The levels Write reaches.
const (
	None     Level = iota
	OnDevice       // L1: every write of the image completed; may sit in the drive's volatile cache
	Durable        // L2: the device's cache was flushed after the last write
	Verified       // L3: read back from the device after the flush, identical to what was written
)

func (l Level) String() string {
	switch l {
	case OnDevice:
		return "on device"
	case Durable:
		return "durable"
	case Verified:
		return "verified"
	}
	return "not written"
}

// Events hears the image climb the ladder on each device. Calls come from
// several goroutines, never at once.
type Events interface {
	// OnDevice: n more bytes of the image were written to target with
	// direct I/O and the write completed (L1).
	OnDevice(target string, n int64)
	// Flushing: the whole image is on target; its cache is being flushed.
	Flushing(target string)
	// Verifying: target's cache was flushed (L2); the image is being read
	// back from it.
	Verifying(target string)
	// Verified: n more bytes were read back from target after the flush
	// and match the image (L3).
	Verified(target string, n int64)
}

// Options tune Write. The zero value writes, flushes and does not verify.
type Options struct {
	Verify    bool
	ChunkSize int // bytes per write; default 4 MiB, rounded up to the devices' alignment
	InFlight  int // writes in flight per device; default 4
	Events    Events
	// Plan, from NewPlan, says which parts of the image to write; nil
	// writes all of it. Verify then reads back what the plan wrote.
	Plan *Plan
}

// Result is the outcome on one device.
type Result struct {
	Target string
	Size   int64 // the device's size
	Bytes  int64 // bytes of the image whose write to the device completed (L1)
	Level  Level // the highest level the whole image reached
	Err    error // why it did not go further; nil when it reached what was asked
}

// TooLargeError: the image does not fit on the device.
type TooLargeError struct {
	Image, Target string
	ImageSize     int64 // -1 when not known before it was decompressed
	DeviceSize    int64
	Written       int64 // bytes already on the device when it was found out
}

func (e *TooLargeError) Error() string {
	if e.ImageSize >= 0 {
		return fmt.Sprintf("%s: image %s (%s) is larger than the device (%s)",
			e.Target, e.Image, units.Bytes(e.ImageSize), units.Bytes(e.DeviceSize))
	}
	return fmt.Sprintf("%s: image %s decompresses to more than the device holds (%s); the device now holds its first %s, which is not a usable image",
		e.Target, e.Image, units.Bytes(e.DeviceSize), units.Bytes(e.Written))
}

// MismatchError: the device read back differs from the image.
type MismatchError struct {
	Target string
	Offset int64 // first differing byte; the start of the first differing chunk when !Exact
	Exact  bool
}

func (e *MismatchError) Error() string {
	if e.Exact {
		return fmt.Sprintf("%s: read back differs from the image at byte %d", e.Target, e.Offset)
	}
	return fmt.Sprintf("%s: read back differs from the image in the chunk starting at byte %d", e.Target, e.Offset)
}

// BmapRangeError: the image's bytes in a range differ from the range's
// checksum in the bmap: the image or the bmap is not the one made with
// the other.
type BmapRangeError struct {
	Image, Bmap string
	First, Last int64 // blocks
	Off, N      int64 // bytes
}

func (e *BmapRangeError) Error() string {
	return fmt.Sprintf("image %s does not match bmap %s: blocks %d-%d (bytes %d to %d) have another checksum; the device holds part of the image",
		e.Image, e.Bmap, e.First, e.Last, e.Off, e.Off+e.N)
}

// ShortImageError: the image ended before its size, or the bmap's ranges,
// said it would.
type ShortImageError struct {
	Image     string
	Got, Want int64
}

func (e *ShortImageError) Error() string {
	if e.Got > e.Want {
		return fmt.Sprintf("image %s is longer than the %d bytes it was said to have; the device holds part of it", e.Image, e.Want)
	}
	return fmt.Sprintf("image %s ends after %d bytes, not %d as its size says; the device holds part of it", e.Image, e.Got, e.Want)
}

// Write writes the image at path onto each target, flushes each target's
// cache and, with opt.Verify, reads the image back from each. Every target
// has its own outcome: one failing does not stop the others. The error is
// non-nil only when the image cannot be opened; nothing was written then.
func Write(ctx context.Context, image string, targets []string, opt Options) ([]Result, error) {
	src, err := Open(image)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return WriteSource(ctx, src, targets, opt), nil
}

// WriteSource is Write from an opened image, which it reads to its end.
func WriteSource(ctx context.Context, src *Source, targets []string, opt Options) []Result {
	image := src.Path
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 4 << 20
	}
	if opt.InFlight <= 0 {
		opt.InFlight = 4
	}
	ev := &events{e: opt.Events}

	results := make([]Result, len(targets))
	var ws []*writer
	chunk, memAlign := opt.ChunkSize, 4096
	for i, t := range targets {
		results[i].Target = t
		d, err := openDevice(t)
		if err != nil {
			results[i].Err = err
			continue
		}
		results[i].Size = d.size
		if src.Size >= 0 && src.Size > d.size {
			d.close()
			results[i].Err = &TooLargeError{Image: image, Target: t, ImageSize: src.Size, DeviceSize: d.size}
			continue
		}
		if p := opt.Plan; p != nil && (p.Bmap != nil && p.Bmap.BlockSize%int64(d.offAlign) != 0 || planAlign%d.offAlign != 0) {
			d.close()
			results[i].Err = &os.PathError{Op: "open", Path: t, Err: fmt.Errorf("its direct I/O alignment (%d bytes) is larger than the image's blocks; write it without a block map (--no-bmap)", d.offAlign)}
			continue
		}
		chunk = roundUp(chunk, d.offAlign)
		memAlign = max(memAlign, d.memAlign)
		ws = append(ws, &writer{dev: d, res: &results[i], ev: ev})
	}
	defer func() {
		for _, w := range ws {
			if err := w.dev.close(); err != nil && w.res.Err == nil {
				w.res.Err, w.res.Level = err, min(w.res.Level, OnDevice)
			}
		}
	}()
	if len(ws) == 0 {
		return results
	}

	// inFlight being written, one read into, one queued; after the
	// writes, one per device to read back into.
	bufs, free := chunkBuffers(max(opt.InFlight+2, len(ws)), chunk, memAlign)
	defer free() // after every writer and verifier is done with them
	pieces, ok := pump(ctx, src, opt.Plan, ws, bufs[:opt.InFlight+2], chunk, opt.InFlight)
	if !ok {
		return results
	}

	// Flush every device at once: each flush waits on its own drive.
	var wg sync.WaitGroup
	for i, w := range ws {
		if w.err() != nil {
			continue
		}
		w.res.Level = OnDevice
		buf := bufs[i]
		wg.Go(func() {
			ev.flushing(w.dev.path)
			if err := w.dev.sync(); err != nil {
				w.res.Err = err
				return
			}
			w.res.Level = Durable
			if !opt.Verify {
				return
			}
			ev.verifying(w.dev.path)
			if err := verify(ctx, w.dev, src.Path, pieces, buf, ev); err != nil {
				w.res.Err = err
				return
			}
			w.res.Level = Verified
		})
	}
	wg.Wait()
	return results
}

// writer writes the image onto one device.
type writer struct {
	dev     *device
	res     *Result
	ev      *events
	jobs    chan *block
	mu      sync.Mutex
	failed  atomic.Bool
	written atomic.Int64
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.res.Err == nil {
		w.res.Err = err
	}
	w.failed.Store(true)
}

func (w *writer) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.res.Err
}

// block is one chunk of the image, shared by the writers of every device
// and returned to the pool when the last of them is done with it.
type block struct {
	buf  []byte // nil for zeros
	off  int64
	n    int
	refs atomic.Int32
	pool chan []byte
}

func (b *block) release() {
	if b.refs.Add(-1) == 0 && b.buf != nil {
		b.pool <- b.buf
	}
}

// piece is a part of the image as written: what verify reads back.
type piece struct {
	off  int64
	n    int
	hash uint64
	zero bool
}

// pump reads the image chunk by chunk, following plan, hashes each chunk,
// and hands it to the writers, each of which keeps inFlight writes going.
// It returns the pieces written, and false when reading the image failed,
// it did not match its bmap, or ctx ended (every writer has then failed).
func pump(ctx context.Context, src *Source, plan *Plan, ws []*writer, bufs [][]byte, chunk, inFlight int) ([]piece, bool) {
	pool := make(chan []byte, len(bufs))
	for _, b := range bufs {
		pool <- b
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		w.jobs = make(chan *block, inFlight)
		for range inFlight {
			wg.Go(w.work)
		}
	}
	defer func() {
		for _, w := range ws {
			close(w.jobs)
		}
		wg.Wait()
		for _, w := range ws {
			w.res.Bytes = w.written.Load()
		}
	}()
	failAll := func(err error) {
		for _, w := range ws {
			w.fail(err)
		}
	}
	// hand gives b to every writer still going; false when none is.
	hand := func(b *block) bool {
		var live []*writer
		for _, w := range ws {
			if w.failed.Load() {
				continue
			}
			if b.off+int64(b.n) > w.dev.size {
				w.fail(&TooLargeError{Image: src.Path, Target: w.dev.path, ImageSize: src.Size, DeviceSize: w.dev.size, Written: w.written.Load()})
				continue
			}
			live = append(live, w)
		}
		if len(live) == 0 {
			if b.buf != nil {
				pool <- b.buf
			}
			return false // every device has failed: reading on is pointless
		}
		b.refs.Store(int32(len(live)) + 1) // +1 until every writer has it
		for _, w := range live {
			w.jobs <- b
		}
		b.release()
		return true
	}
	interrupted := func() bool {
		if err := ctx.Err(); err != nil {
			failAll(fmt.Errorf("%w: the device holds part of the image", err))
			return true
		}
		return false
	}

	extents := []extent{{off: 0, n: math.MaxInt64, rng: -1}} // all of it, to its end
	var bm *Bmap
	if plan != nil {
		extents, bm = plan.extents, plan.Bmap
	}
	var pieces []piece
	var pos int64 // where src is
	for _, e := range extents {
		if e.zero {
			for off := e.off; off < e.off+e.n; off += int64(chunk) {
				if interrupted() {
					return nil, false
				}
				n := int(min(int64(chunk), e.off+e.n-off))
				if !hand(&block{off: off, n: n}) {
					return nil, false
				}
				pieces = append(pieces, piece{off: off, n: n, zero: true})
			}
			continue
		}
		if err := src.skip(e.off - pos); err != nil {
			if err == io.ErrUnexpectedEOF {
				err = &ShortImageError{Image: src.Path, Got: pos, Want: plan.Size}
			}
			failAll(err)
			return nil, false
		}
		pos = e.off
		var sum hash.Hash
		if bm != nil && e.rng >= 0 && bm.Ranges[e.rng].Checksum != "" {
			sum = bm.newHash()
		}
		for pos < e.off+e.n {
			if interrupted() {
				return nil, false
			}
			var buf []byte
			select {
			case buf = <-pool:
			case <-ctx.Done():
				interrupted()
				return nil, false
			}
			want := int(min(int64(chunk), e.off+e.n-pos))
			n, err := io.ReadFull(src, buf[:want])
			if src.Size >= 0 && pos+int64(n) > src.Size {
				pool <- buf
				failAll(&ShortImageError{Image: src.Path, Got: pos + int64(n), Want: src.Size})
				return nil, false
			}
			if n > 0 {
				if sum != nil {
					sum.Write(buf[:n])
				}
				pieces = append(pieces, piece{off: pos, n: n, hash: xxh3.Hash(buf[:n])})
				if !hand(&block{buf: buf, off: pos, n: n, pool: pool}) {
					return nil, false
				}
				pos += int64(n)
			} else {
				pool <- buf
			}
			switch {
			case (err == io.EOF || err == io.ErrUnexpectedEOF) && plan == nil:
				if src.Size >= 0 && pos != src.Size {
					failAll(&ShortImageError{Image: src.Path, Got: pos, Want: src.Size})
					return nil, false
				}
				return pieces, true
			case err == io.EOF || err == io.ErrUnexpectedEOF:
				failAll(&ShortImageError{Image: src.Path, Got: pos, Want: plan.Size})
				return nil, false
			case err != nil:
				failAll(err)
				return nil, false
			}
		}
		if sum != nil {
			if r := bm.Ranges[e.rng]; hex.EncodeToString(sum.Sum(nil)) != r.Checksum {
				failAll(&BmapRangeError{Image: src.Path, Bmap: bm.Path, First: r.First, Last: r.Last, Off: e.off, N: e.n})
				return nil, false
			}
		}
	}
	// A stream of unknown size or a size the user gave is read to its end:
	// an image longer or shorter than the plan is not the one planned.
	if src.Size < 0 || src.claimed {
		var n int64
		for {
			if interrupted() {
				return nil, false
			}
			k, err := io.CopyN(io.Discard, src, 4<<20)
			n += k
			if err == io.EOF {
				break
			}
			if err != nil {
				failAll(err)
				return nil, false
			}
		}
		if pos+n != plan.Size {
			failAll(&ShortImageError{Image: src.Path, Got: pos + n, Want: plan.Size})
			return nil, false
		}
	}
	return pieces, true
}

// work writes the blocks handed to w until the pump is done. After a
// failure it only returns the blocks: nothing after a failed write is
// worth writing.
func (w *writer) work() {
	for b := range w.jobs {
		if !w.failed.Load() {
			var err error
			if b.buf == nil {
				err = w.dev.zeroOut(b.off, int64(b.n))
			} else {
				err = w.dev.writeBlock(b.buf[:b.n], b.off)
			}
			if err != nil {
				w.fail(err)
			} else {
				w.written.Add(int64(b.n))
				w.ev.onDevice(w.dev.path, int64(b.n))
			}
		}
		b.release()
	}
}

// deviceFile is what a target drive is on every system: the file it is
// opened as for direct I/O (openDevice, per system) and that I/O's
// alignment.
type deviceFile struct {
	f        *os.File
	path     string
	size     int64
	offAlign int // offsets and lengths of direct I/O are multiples of this
	memAlign int // buffers of direct I/O start at multiples of this
}

// writeBlock writes p at off with direct I/O. A tail shorter than the
// device's alignment is merged into the device's block there (read,
// patched, written back), so the bytes after the image stay as they were.
func (d *device) writeBlock(p []byte, off int64) error {
	a := d.offAlign
	n0 := len(p) &^ (a - 1)
	if n0 > 0 {
		if _, err := d.f.WriteAt(p[:n0], off); err != nil {
			return err
		}
	}
	if n0 == len(p) {
		return nil
	}
	tail := alignedBuf(a, d.memAlign)
	at := off + int64(n0)
	if at+int64(a) > d.size {
		return &os.PathError{Op: "write", Path: d.path, Err: fmt.Errorf("device size %d is not a multiple of its block size %d", d.size, a)}
	}
	if _, err := d.f.ReadAt(tail, at); err != nil {
		return err
	}
	copy(tail, p[n0:])
	_, err := d.f.WriteAt(tail, at)
	return err
}

// writeZeros writes n zero bytes at off, where the device cannot be told
// to zero a range itself.
func (d *device) writeZeros(off, n int64) error {
	const chunk = 1 << 20
	buf := alignedBuf(int(min(n, chunk)), max(d.memAlign, 4096))
	for n > 0 {
		k := min(n, chunk)
		if err := d.writeBlock(buf[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// verify reads what was written back from d with direct I/O into buf (a
// chunk, aligned for every device) and compares each piece's hash with the
// one taken when it was written; holes written as zeros must read back as
// zeros.
func verify(ctx context.Context, d *device, image string, pieces []piece, buf []byte, ev *events) error {
	for _, p := range pieces {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: verify: %w", d.path, err)
		}
		if _, err := d.f.ReadAt(buf[:roundUp(p.n, d.offAlign)], p.off); err != nil {
			return err
		}
		got := buf[:p.n]
		if p.zero {
			for i, c := range got {
				if c != 0 {
					return &MismatchError{Target: d.path, Offset: p.off + int64(i), Exact: true}
				}
			}
		} else if xxh3.Hash(got) != p.hash {
			return locate(d.path, image, got, p.off)
		}
		ev.verified(d.path, int64(p.n))
	}
	return nil
}

// locate finds the first byte where got, read back from target at off,
// differs from the image. The chunk hashes only say which chunk differs;
// the image is decompressed again up to there to say which byte. A
// stream cannot be read again: the chunk is all that can be said.
func locate(target, image string, got []byte, off int64) error {
	e := &MismatchError{Target: target, Offset: off}
	if image == Stdin {
		return e
	}
	src, err := Open(image)
	if err != nil {
		return e
	}
	defer src.Close()
	if err := src.skip(off); err != nil {
		return e
	}
	want := make([]byte, len(got))
	if _, err := io.ReadFull(src, want); err != nil {
		return e
	}
	for i := range got {
		if got[i] != want[i] {
			e.Offset, e.Exact = off+int64(i), true
			return e
		}
	}
	// The image now reads back the same as the device: it changed since
	// it was written, so the chunk is all that can be said.
	return e
}

func roundUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

func heapBuffers(count, n, align int) ([][]byte, func()) {
	bufs := make([][]byte, count)
	for i := range bufs {
		bufs[i] = alignedBuf(n, align)
	}
	return bufs, func() {}
}

// alignedBuf returns n bytes starting at a multiple of align (a power of
// two), as direct I/O wants. Go's heap does not move objects.
func alignedBuf(n, align int) []byte {
	b := make([]byte, n+align)
	skip := (align - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(align))) % align
	return b[skip : skip+n : skip+n]
}

// events serializes calls to an Events, which may be nil.
type events struct {
	mu sync.Mutex
	e  Events
}

func (e *events) onDevice(t string, n int64) {
	if e.e != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.e.OnDevice(t, n)
	}
}

func (e *events) flushing(t string) {
	if e.e != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.e.Flushing(t)
	}
}

func (e *events) verifying(t string) {
	if e.e != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.e.Verifying(t)
	}
}

func (e *events) verified(t string, n int64) {
	if e.e != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.e.Verified(t, n)
	}
}

// ErrNotBlockDevice: the target is not a block device.
var ErrNotBlockDevice = errors.New("not a block device")

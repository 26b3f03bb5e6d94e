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
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/zeebo/xxh3"

	"github.com/sure-tools/sure/internal/units"
)

// Level is how far an image got on a device, on the guarantee ladder of
// DESIGN §2.
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
		return results, nil
	}

	total, hashes, ok := pump(ctx, src, ws, chunk, memAlign, opt.InFlight)
	if !ok {
		return results, nil
	}

	// Flush every device at once: each flush waits on its own drive.
	var wg sync.WaitGroup
	for _, w := range ws {
		if w.err() != nil {
			continue
		}
		w.res.Level = OnDevice
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
			if err := verify(ctx, w.dev, src, total, hashes, chunk, memAlign, ev); err != nil {
				w.res.Err = err
				return
			}
			w.res.Level = Verified
		})
	}
	wg.Wait()
	return results, nil
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
	buf  []byte
	off  int64
	n    int
	refs atomic.Int32
	pool chan []byte
}

func (b *block) release() {
	if b.refs.Add(-1) == 0 {
		b.pool <- b.buf
	}
}

// pump reads the image chunk by chunk, hashes each chunk, and hands it to
// the writers, each of which keeps inFlight writes going. It returns the
// image's size and chunk hashes, and false when reading the image failed
// or ctx ended (every writer has then failed).
func pump(ctx context.Context, src *Source, ws []*writer, chunk, memAlign, inFlight int) (int64, []uint64, bool) {
	pool := make(chan []byte, 2*inFlight+1)
	for range cap(pool) {
		pool <- alignedBuf(chunk, memAlign)
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
	var hashes []uint64
	var off int64
	for {
		var buf []byte
		select {
		case buf = <-pool:
		case <-ctx.Done():
			failAll(fmt.Errorf("%w: the device holds part of the image", ctx.Err()))
			return off, nil, false
		}
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			hashes = append(hashes, xxh3.Hash(buf[:n]))
			b := &block{buf: buf, off: off, n: n, pool: pool}
			var live []*writer
			for _, w := range ws {
				if w.failed.Load() {
					continue
				}
				if off+int64(n) > w.dev.size {
					w.fail(&TooLargeError{Image: src.Path, Target: w.dev.path, ImageSize: src.Size, DeviceSize: w.dev.size, Written: w.written.Load()})
					continue
				}
				live = append(live, w)
			}
			if len(live) == 0 {
				pool <- buf
				return off, nil, false // every device has failed: reading on is pointless
			}
			b.refs.Store(int32(len(live)) + 1) // +1 until every writer has it
			for _, w := range live {
				w.jobs <- b
			}
			b.release()
			off += int64(n)
		} else {
			pool <- buf
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return off, hashes, true
		case err != nil:
			failAll(err)
			return off, nil, false
		}
	}
}

// work writes the blocks handed to w until the pump is done. After a
// failure it only returns the blocks: nothing after a failed write is
// worth writing.
func (w *writer) work() {
	for b := range w.jobs {
		if !w.failed.Load() {
			if err := w.dev.writeBlock(b.buf[:b.n], b.off); err != nil {
				w.fail(err)
			} else {
				w.written.Add(int64(b.n))
				w.ev.onDevice(w.dev.path, int64(b.n))
			}
		}
		b.release()
	}
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

// verify reads the image back from d with direct I/O and compares each
// chunk's hash with the one taken when it was written.
func verify(ctx context.Context, d *device, src *Source, total int64, hashes []uint64, chunk, memAlign int, ev *events) error {
	buf := alignedBuf(roundUp(chunk, d.offAlign), max(memAlign, d.memAlign))
	for i, h := range hashes {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: verify: %w", d.path, err)
		}
		off := int64(i) * int64(chunk)
		n := int(min(int64(chunk), total-off))
		if _, err := d.f.ReadAt(buf[:roundUp(n, d.offAlign)], off); err != nil {
			return err
		}
		if xxh3.Hash(buf[:n]) != h {
			return locate(d.path, src.Path, buf[:n], off)
		}
		ev.verified(d.path, int64(n))
	}
	return nil
}

// locate finds the first byte where got, read back from target at off,
// differs from the image. The chunk hashes only say which chunk differs;
// the image is decompressed again up to there to say which byte.
func locate(target, image string, got []byte, off int64) error {
	e := &MismatchError{Target: target, Offset: off}
	src, err := Open(image)
	if err != nil {
		return e
	}
	defer src.Close()
	if _, err := io.CopyN(io.Discard, src, off); err != nil {
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

func (e *events) verified(t string, n int64) {
	if e.e != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.e.Verified(t, n)
	}
}

// ErrNotBlockDevice: the target is not a block device.
var ErrNotBlockDevice = errors.New("not a block device")

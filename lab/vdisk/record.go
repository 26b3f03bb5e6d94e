//go:build linux

package vdisk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A recording is every write, zeroing and successful flush the disk
// received from the moment recording started, in order, so that crash
// states can be generated from one run instead of one run per cut. It is a
// directory:
//
//	base.img  the durable image when recording started
//	log       one 32-byte record per event (see RecEntry)
//	data      the payloads of the writes, back to back
//
// Payloads go to a file, not to memory, so a long run costs disk space
// only. Event i (from 0) has sequence number i+1; Stats.Seq is the number
// of events recorded so far, so a caller that reads Seq after something
// happened knows that it happened before every event numbered above Seq.

// Recorded event kinds.
const (
	RecWrite = 1 // data written at Off
	RecZero  = 2 // N bytes zeroed (discard, write-zeroes) at Off
	RecFlush = 3 // a successful cache flush: everything before it is durable
)

// RecEntry is one recorded event.
type RecEntry struct {
	Kind uint64
	Off  int64 // device offset
	N    int64 // bytes
	Data int64 // offset of the payload in the data file (RecWrite)
}

const recEntrySize = 32

// Recording files in a recording directory.
const (
	RecBase = "base.img"
	RecLog  = "log"
	RecData = "data"
)

// RecordOptions start a recording.
type RecordOptions struct {
	Dir string `json:"dir"` // created if needed; its base.img, log and data are replaced
}

// recorder writes a recording. Its methods run under the model's lock.
type recorder struct {
	dir     string
	log     *os.File
	logw    *bufio.Writer
	data    *os.File
	dataOff int64
	seq     int64
	err     error // the first failure; the recording is worthless after it
}

func (r *recorder) add(e RecEntry, payload []byte) {
	if r.err != nil {
		return
	}
	if payload != nil {
		if _, err := r.data.WriteAt(payload, r.dataOff); err != nil {
			r.err = fmt.Errorf("vdisk: recording to %s: %w", r.data.Name(), err)
			return
		}
		e.Data = r.dataOff
		r.dataOff += int64(len(payload))
	}
	var b [recEntrySize]byte
	binary.LittleEndian.PutUint64(b[0:], e.Kind)
	binary.LittleEndian.PutUint64(b[8:], uint64(e.Off))
	binary.LittleEndian.PutUint64(b[16:], uint64(e.N))
	binary.LittleEndian.PutUint64(b[24:], uint64(e.Data))
	if _, err := r.logw.Write(b[:]); err != nil {
		r.err = fmt.Errorf("vdisk: recording to %s: %w", r.log.Name(), err)
		return
	}
	r.seq++
}

func (r *recorder) close() error {
	err := r.err
	if ferr := r.logw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("vdisk: recording to %s: %w", r.log.Name(), ferr)
	}
	return errors.Join(err, r.log.Close(), r.data.Close())
}

// record starts a recording: the durable image becomes base.img, and the
// writes of the open epoch, already received but not yet durable, are its
// first events.
func (m *model) record(o RecordOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rec != nil {
		return errors.New("vdisk: already recording")
	}
	if o.Dir == "" {
		return errors.New("vdisk: record needs a directory")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("vdisk: %w", err)
	}
	if err := sparseCopy(filepath.Join(o.Dir, RecBase), m.dur, m.size); err != nil {
		return err
	}
	r := &recorder{dir: o.Dir}
	var err error
	if r.log, err = os.Create(filepath.Join(o.Dir, RecLog)); err != nil {
		return fmt.Errorf("vdisk: %w", err)
	}
	if r.data, err = os.Create(filepath.Join(o.Dir, RecData)); err != nil {
		r.log.Close()
		return fmt.Errorf("vdisk: %w", err)
	}
	r.logw = bufio.NewWriterSize(r.log, 64<<10)
	for _, e := range m.epoch {
		r.addEntry(e)
	}
	m.rec = r
	m.stats.Seq = r.seq
	return nil
}

func (r *recorder) addEntry(e entry) {
	if e.data == nil {
		r.add(RecEntry{Kind: RecZero, Off: e.off, N: e.n}, nil)
		return
	}
	r.add(RecEntry{Kind: RecWrite, Off: e.off, N: e.n}, e.data)
}

// unrecord ends the recording and returns its number of events.
func (m *model) unrecord() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rec == nil {
		return 0, errors.New("vdisk: not recording")
	}
	r := m.rec
	m.rec = nil
	return r.seq, r.close()
}

// Recording is a recording read back.
type Recording struct {
	Dir     string
	Size    int64 // of the disk
	Entries []RecEntry
	data    *os.File
}

// OpenRecording reads the event log of the recording in dir.
func OpenRecording(dir string) (*Recording, error) {
	fi, err := os.Stat(filepath.Join(dir, RecBase))
	if err != nil {
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	lf, err := os.Open(filepath.Join(dir, RecLog))
	if err != nil {
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	defer lf.Close()
	rec := &Recording{Dir: dir, Size: fi.Size()}
	br := bufio.NewReader(lf)
	var b [recEntrySize]byte
	for {
		if _, err := io.ReadFull(br, b[:]); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("vdisk: reading %s: %w", lf.Name(), err)
		}
		rec.Entries = append(rec.Entries, RecEntry{
			Kind: binary.LittleEndian.Uint64(b[0:]),
			Off:  int64(binary.LittleEndian.Uint64(b[8:])),
			N:    int64(binary.LittleEndian.Uint64(b[16:])),
			Data: int64(binary.LittleEndian.Uint64(b[24:])),
		})
	}
	if rec.data, err = os.Open(filepath.Join(dir, RecData)); err != nil {
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	return rec, nil
}

// Close releases the recording's files.
func (r *Recording) Close() error { return r.data.Close() }

// Base is the path of the image the recording starts from.
func (r *Recording) Base() string { return filepath.Join(r.Dir, RecBase) }

// Apply writes the first n bytes of event e (all of it when n < 0) to f:
// the payload of a write, zeros (a hole) for a zeroing. Flushes change
// nothing.
func (r *Recording) Apply(f *os.File, e RecEntry, n int64) error {
	if n < 0 || n > e.N {
		n = e.N
	}
	switch e.Kind {
	case RecWrite:
		buf := make([]byte, n)
		if _, err := r.data.ReadAt(buf, e.Data); err != nil {
			return fmt.Errorf("vdisk: reading %s: %w", r.data.Name(), err)
		}
		if _, err := f.WriteAt(buf, e.Off); err != nil {
			return fmt.Errorf("vdisk: %w", err)
		}
	case RecZero:
		if err := punch(f, e.Off, n); err != nil {
			return &os.PathError{Op: "punch hole", Path: f.Name(), Err: err}
		}
	}
	return nil
}

// CopyImage copies the image file src to dst, leaving holes as holes.
func CopyImage(dst, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("vdisk: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("vdisk: %w", err)
	}
	return sparseCopy(dst, f, fi.Size())
}

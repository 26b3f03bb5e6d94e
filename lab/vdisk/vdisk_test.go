//go:build linux

package vdisk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/sure-tools/sure/internal/fsimage"
	"golang.org/x/sys/unix"
)

// pattern is n bytes that differ from every other pattern with another tag.
func pattern(tag byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = tag ^ byte(i*7+i>>9)
	}
	return b
}

func newTestModel(t *testing.T, size int64) *model {
	t.Helper()
	m, err := newModel(t.TempDir(), size, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.close() })
	return m
}

func readImage(t *testing.T, name string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestModelCutKeepsFlushedDropsUnflushed(t *testing.T) {
	m := newTestModel(t, 1<<20)
	a, b := pattern(1, 4096), pattern(2, 4096)
	if _, err := m.write(a, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.write(b, 8192); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "cut.img")
	res, err := m.cut(CutOptions{Out: out, Mode: CutNone})
	if err != nil {
		t.Fatal(err)
	}
	if res.EpochWrites != 1 || res.Kept != 0 {
		t.Errorf("cut = %+v, want 1 epoch write, 0 kept", res)
	}
	if got := readImage(t, out, 0, 4096); !bytes.Equal(got, a) {
		t.Error("flushed write missing from the crash image")
	}
	if got := readImage(t, out, 8192, 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Error("unflushed write reached the crash image of a cut that keeps none")
	}
	if _, err := m.cut(CutOptions{Out: out, Mode: CutAll}); err != nil {
		t.Fatal(err)
	}
	if got := readImage(t, out, 8192, 4096); !bytes.Equal(got, b) {
		t.Error("cut keeping all lost the unflushed write")
	}
	st := m.snapshotStats()
	if st.BytesReceived != 8192 || st.BytesDurable != 4096 || st.Flushes != 1 || st.EpochWrites != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestModelPrefixAndTear(t *testing.T) {
	m := newTestModel(t, 1<<20)
	const n = 20
	for i := range n {
		if _, err := m.write(pattern(byte(i+1), 4096), int64(i)*4096); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "cut.img")
	sawPartial, sawTear := false, false
	for seed := range uint64(30) {
		res, err := m.cut(CutOptions{Out: out, Mode: CutPrefix, Seed: seed, Tear: true})
		if err != nil {
			t.Fatal(err)
		}
		kept := res.Kept
		if res.TornWrite >= 0 {
			sawTear = true
			kept-- // the torn write is counted in Kept
			if res.TornWrite != kept {
				t.Fatalf("seed %d: torn write %d is not the one after the prefix of %d", seed, res.TornWrite, kept)
			}
			if res.TornBytes%512 != 0 || res.TornBytes <= 0 || res.TornBytes >= 4096 {
				t.Fatalf("seed %d: torn at %d bytes, want a 512-byte boundary inside the write", seed, res.TornBytes)
			}
		}
		if kept > 0 && kept < n {
			sawPartial = true
		}
		img := readImage(t, out, 0, n*4096)
		for i := range n {
			got, want := img[i*4096:(i+1)*4096], pattern(byte(i+1), 4096)
			switch {
			case i < kept:
				if !bytes.Equal(got, want) {
					t.Fatalf("seed %d: write %d of the prefix %d missing", seed, i, kept)
				}
			case i == res.TornWrite:
				tb := int(res.TornBytes)
				if !bytes.Equal(got[:tb], want[:tb]) || !bytes.Equal(got[tb:], make([]byte, 4096-tb)) {
					t.Fatalf("seed %d: torn write %d is not its first %d bytes", seed, i, tb)
				}
			default:
				if !bytes.Equal(got, make([]byte, 4096)) {
					t.Fatalf("seed %d: write %d after the prefix %d is in the image", seed, i, kept)
				}
			}
		}
	}
	if !sawPartial || !sawTear {
		t.Errorf("30 seeds never gave a partial prefix (%v) or a tear (%v)", sawPartial, sawTear)
	}
}

func TestModelSubsetSameSeedSameImage(t *testing.T) {
	m := newTestModel(t, 1<<20)
	for i := range 32 {
		m.write(pattern(byte(i+1), 512), int64(i)*512)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ra, err := m.cut(CutOptions{Out: a, Mode: CutSubset, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.cut(CutOptions{Out: b, Mode: CutSubset, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	ia, ib := readImage(t, a, 0, 32*512), readImage(t, b, 0, 32*512)
	if !bytes.Equal(ia, ib) {
		t.Error("the same seed gave two different crash images")
	}
	// A subset (not a prefix) must be possible: some write kept after a
	// dropped one.
	gap := false
	dropped := false
	for i := range 32 {
		present := bytes.Equal(ia[i*512:(i+1)*512], pattern(byte(i+1), 512))
		if !present {
			dropped = true
		} else if dropped {
			gap = true
		}
	}
	if !gap || ra.Kept == 0 || ra.Kept == 32 {
		t.Errorf("subset cut of 32 writes kept %d, not a subset with gaps", ra.Kept)
	}
}

func TestModelFaults(t *testing.T) {
	m := newTestModel(t, 1<<20)
	m.setFaults(Faults{FailWrite: 2, FailFlush: 1})
	if _, err := m.write(pattern(1, 512), 0); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if _, err := m.write(pattern(2, 512), 512); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second write: %v, want EIO", err)
	}
	if err := m.flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("first flush: %v, want EIO", err)
	}
	if st := m.snapshotStats(); st.EpochWrites != 1 || st.BytesDurable != 0 {
		t.Fatalf("after a failed flush: %+v, want the epoch still open", st)
	}
	if err := m.flush(); err != nil {
		t.Fatalf("second flush: %v", err)
	}
	m.yank()
	if _, err := m.write(pattern(3, 512), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("write after yank: %v, want EIO", err)
	}
	if _, err := m.read(make([]byte, 512), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("read after yank: %v, want EIO", err)
	}
	if err := m.flush(); !errors.Is(err, syscall.EIO) {
		t.Errorf("flush after yank: %v, want EIO", err)
	}
}

// startDisk serves a disk and attaches a loop device to it; both go away
// when the test ends.
func startDisk(t *testing.T, size int64, f Faults) (*Disk, string) {
	t.Helper()
	fsimage.Require(t, "ext4")
	d, err := Start(Config{Dir: t.TempDir(), Size: size, Seed: 3, Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	dev, err := fsimage.Attach(d.Image)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsimage.Detach(dev); err != nil {
			t.Error(err)
		}
	})
	return d, dev
}

// alignedBuf returns n bytes aligned for O_DIRECT.
func alignedBuf(n int) []byte {
	b := make([]byte, n+4096)
	off := int(4096 - uintptr(unsafe.Pointer(&b[0]))%4096)
	return b[off : off+n]
}

// directIO writes (or reads) through the loop device without its page
// cache, so the request reaches the disk now and no flush follows.
func directIO(dev string, write bool, p []byte, off int64) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := alignedBuf(len(p))
	if write {
		copy(buf, p)
		_, err = f.WriteAt(buf, off)
		return err
	}
	if _, err = f.ReadAt(buf, off); err != nil {
		return err
	}
	copy(p, buf)
	return nil
}

func TestDiskFlushThroughLoop(t *testing.T) {
	d, dev := startDisk(t, 16<<20, Faults{})
	a, b := pattern(1, 64<<10), pattern(2, 64<<10)
	if err := directIO(dev, true, a, 0); err != nil {
		t.Fatal(err)
	}
	st, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.EpochWrites == 0 || st.BytesReceived < int64(len(a)) {
		t.Fatalf("after an O_DIRECT write: %+v, want it in the open epoch", st)
	}
	// fsync of the block device sends a FLUSH, which loop turns into
	// fsync(disk.img): the barrier.
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := directIO(dev, true, b, 1<<20); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "cut.img")
	if _, err := d.Cut(CutOptions{Out: out, Mode: CutNone, Yank: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readImage(t, out, 0, len(a)), a) {
		t.Error("a write followed by a flush is missing after the cut")
	}
	if bytes.Equal(readImage(t, out, 1<<20, len(b)), b) {
		t.Error("a write never flushed survived a cut that keeps nothing unflushed")
	}
	if err := directIO(dev, false, make([]byte, 4096), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("read after the yank: %v, want EIO", err)
	}
}

func TestDiskBitFlip(t *testing.T) {
	_, dev := startDisk(t, 16<<20, Faults{FlipEvery: 1})
	a := pattern(5, 4096)
	if err := directIO(dev, true, a, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(a))
	if err := directIO(dev, false, got, 4096); err != nil {
		t.Fatal(err)
	}
	diff := 0
	for i := range a {
		for x := a[i] ^ got[i]; x != 0; x &= x - 1 {
			diff++
		}
	}
	if diff != 1 {
		t.Errorf("read back differs in %d bits, want 1", diff)
	}
}

func TestDiskFakeCapacityWraps(t *testing.T) {
	_, dev := startDisk(t, 16<<20, Faults{Capacity: 4 << 20})
	a := pattern(9, 8192)
	if err := directIO(dev, true, a, 9<<20); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(a))
	if err := directIO(dev, false, got, 1<<20); err != nil { // 9 MiB mod 4 MiB
		t.Fatal(err)
	}
	if !bytes.Equal(got, a) {
		t.Error("a write past the real capacity did not wrap to the start")
	}
}

func TestDiskFailFlushAndWrite(t *testing.T) {
	d, dev := startDisk(t, 16<<20, Faults{})
	if err := d.SetFaults(Faults{FailWrite: 1}); err != nil {
		t.Fatal(err)
	}
	if err := directIO(dev, true, pattern(1, 4096), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("first write with FailWrite 1: %v, want EIO", err)
	}
	if err := d.SetFaults(Faults{FailFlush: 1}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(pattern(2, 4096), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("fsync with FailFlush 1: %v, want EIO", err)
	}
	st, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.FailedFlushes != 1 || st.FailedWrites != 1 {
		t.Errorf("stats = %+v, want one failed write and one failed flush", st)
	}
}

// TestDiskDiscardIsLoggedLikeAWrite: the loop driver sends a discard as
// FALLOCATE(PUNCH_HOLE). It must read back as zeros at once, and like a
// write it is not durable before the next flush.
func TestDiskDiscardIsLoggedLikeAWrite(t *testing.T) {
	d, dev := startDisk(t, 16<<20, Faults{})
	a := pattern(3, 1<<20)
	if err := directIO(dev, true, a, 0); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	rng := [2]uint64{0, 1 << 20}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKDISCARD, uintptr(unsafe.Pointer(&rng))); e != 0 {
		t.Fatalf("BLKDISCARD %s: %v", dev, e)
	}
	st, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Zeroes == 0 || st.EpochWrites == 0 {
		t.Fatalf("after a discard: %+v, want it in the open epoch", st)
	}
	got := make([]byte, 4096)
	if err := directIO(dev, false, got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, 4096)) {
		t.Error("a discarded range does not read back as zeros")
	}
	out := filepath.Join(t.TempDir(), "cut.img")
	if _, err := d.Cut(CutOptions{Out: out, Mode: CutNone}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readImage(t, out, 0, 4096), a[:4096]) {
		t.Error("an unflushed discard reached the crash image of a cut that keeps nothing unflushed")
	}
}

// The link is one clock: back-to-back requests queue behind each other,
// the host's overhead between requests is absorbed up to the burst, and a
// long idle time earns no more than the burst. No wall clock is involved.
func TestModelPace(t *testing.T) {
	m := newTestModel(t, 1<<20)
	m.setFaults(Faults{BandwidthMBps: 100}) // 1 MB takes 10 ms
	const mb = 1_000_000
	t0 := time.Unix(1000, 0)
	ms := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

	// After a long idle time the first request rides the burst, the ones
	// arriving with it (concurrent writers) wait their turn.
	for i, want := range []time.Duration{ms(0), ms(10), ms(20)} {
		if got := m.pace(mb, t0); got != want {
			t.Errorf("request %d at the same instant: wait %v, want %v", i, got, want)
		}
	}
	// The link is busy until t0+20ms. A writer that arrives each time 2 ms
	// after its previous request ended (host overhead) still gets the full
	// rate: each waits 8 ms and the link ends 10 ms later every time.
	now := t0.Add(ms(20))
	for i := range 5 {
		now = now.Add(ms(2))
		w := m.pace(mb, now)
		if w != ms(8) {
			t.Fatalf("paced request %d: wait %v, want 8ms", i, w)
		}
		now = now.Add(w)
	}
	// 5 MB from t0+20ms: the link is free at t0+70ms, the rate exactly
	// the configured one.
	if want := t0.Add(ms(70)); !m.linkFree.Equal(want) {
		t.Errorf("link free at %v, want %v", m.linkFree.Sub(t0), want.Sub(t0))
	}
	// An hour idle earns one burst, not an hour of credit.
	late := m.linkFree.Add(time.Hour)
	if got := m.pace(3*mb, late); got != 3*ms(10)-burst {
		t.Errorf("after an hour idle, 3 MB wait %v, want %v", got, 3*ms(10)-burst)
	}
	m.setFaults(Faults{})
	if got := m.pace(mb, late); got != 0 {
		t.Errorf("unlimited: wait %v", got)
	}
}

// TestModelRecordsEveryEvent: a recording holds the durable image at its
// start, then the open epoch's writes, then every write, zeroing and good
// flush in order, with payloads, and Seq counts them; a failed flush is
// not a boundary.
func TestModelRecordsEveryEvent(t *testing.T) {
	m := newTestModel(t, 1<<20)
	a, b, c := pattern(1, 4096), pattern(2, 1024), pattern(3, 512)
	if _, err := m.write(a, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.write(b, 8192); err != nil { // open when recording starts
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rec")
	if err := m.record(RecordOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if err := m.flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.write(c, 512); err != nil {
		t.Fatal(err)
	}
	if err := m.zero(4096, 2048); err != nil {
		t.Fatal(err)
	}
	m.setFaults(Faults{FailFlush: 1})
	if err := m.flush(); err == nil {
		t.Fatal("armed flush failure did not fail")
	}
	if got := m.snapshotStats().Seq; got != 4 {
		t.Errorf("Seq = %d, want 4", got)
	}
	n, err := m.unrecord()
	if err != nil || n != 4 {
		t.Fatalf("unrecord = %d, %v; want 4 events", n, err)
	}
	if _, err := m.write(c, 0); err != nil { // not recorded any more
		t.Fatal(err)
	}
	rec, err := OpenRecording(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	want := []RecEntry{{Kind: RecWrite, Off: 8192, N: 1024}, {Kind: RecFlush}, {Kind: RecWrite, Off: 512, N: 512, Data: 1024}, {Kind: RecZero, Off: 4096, N: 2048}}
	if len(rec.Entries) != len(want) {
		t.Fatalf("entries = %+v, want %+v", rec.Entries, want)
	}
	for i := range want {
		if rec.Entries[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, rec.Entries[i], want[i])
		}
	}
	if got := readImage(t, rec.Base(), 0, 4096); !bytes.Equal(got, a) {
		t.Error("base image lacks the write flushed before recording")
	}
	if got := readImage(t, rec.Base(), 8192, 1024); !bytes.Equal(got, make([]byte, 1024)) {
		t.Error("base image holds a write that was not durable when recording started")
	}
	img := filepath.Join(t.TempDir(), "img")
	if err := CopyImage(img, rec.Base()); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, e := range rec.Entries {
		if err := rec.Apply(f, e, -1); err != nil {
			t.Fatal(err)
		}
	}
	if got := readImage(t, img, 8192, 1024); !bytes.Equal(got, b) {
		t.Error("replayed recording lacks the epoch's write")
	}
	got := readImage(t, img, 0, 4096)
	wantImg := append(append(append([]byte(nil), a[:512]...), c...), a[1024:]...)
	if !bytes.Equal(got, wantImg) {
		t.Error("replayed recording differs from the writes made")
	}
	if got := readImage(t, img, 4096, 2048); !bytes.Equal(got, make([]byte, 2048)) {
		t.Error("replayed zeroing left data")
	}
}

// TestDiskRecordsSourceRemovals: removals on the source mount land in the
// recording in order with the disk's own writes, each before it is made,
// and the mount shows the backing directory.
func TestDiskRecordsSourceRemovals(t *testing.T) {
	fsimage.Require(t, "ext4")
	backing := t.TempDir()
	if err := os.MkdirAll(filepath.Join(backing, "src", "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"src/a", "src/d/b"} {
		if err := os.WriteFile(filepath.Join(backing, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Start(Config{Dir: t.TempDir(), Size: 1 << 20, Source: backing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	dev, err := fsimage.Attach(d.Image)
	if err != nil {
		t.Fatal(err)
	}
	defer fsimage.Detach(dev)
	rec := filepath.Join(t.TempDir(), "rec")
	if err := d.Record(RecordOptions{Dir: rec}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(d.Source, "src/d/b")); err != nil || string(b) != "src/d/b" {
		t.Fatalf("source mount reads %q, %v", b, err)
	}
	if err := os.Remove(filepath.Join(d.Source, "src/a")); err != nil {
		t.Fatal(err)
	}
	if err := directIO(dev, true, pattern(1, 4096), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(d.Source, "src/d")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Unrecord(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(backing, "src/a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removal through the source mount left the backing file: %v", err)
	}
	r, err := OpenRecording(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for _, e := range r.Entries {
		switch e.Kind {
		case RecRemove:
			p, err := r.Path(e)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, "rm "+p)
		case RecWrite:
			got = append(got, "write")
		}
	}
	want := []string{"rm src/a", "write", "rm src/d/b", "rm src/d"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

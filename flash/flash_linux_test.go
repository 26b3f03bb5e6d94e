//go:build linux

package flash

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// linesImage is the content of testdata/lines.img.bz2 (made with
// bzip2 -9, which Go cannot write): numbered lines, 3 MiB + 1234 bytes, so
// the last write ends inside a sector.
func linesImage() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 3<<20+1234; i++ {
		fmt.Fprintf(&b, "sure flash test line %d\n", i)
	}
	return b.Bytes()[:3<<20+1234]
}

// randomImage is n pseudo-random bytes, different for each seed.
func randomImage(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// compress writes data to path in format, with Go's encoders.
func compress(t *testing.T, path string, format Format, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch format {
	case Raw:
		w = nopCloser{&buf}
	case Gzip:
		w = gzip.NewWriter(&buf)
	case XZ:
		w, err = xz.NewWriter(&buf)
	case Zstd:
		w, err = zstd.NewWriter(&buf)
	default:
		t.Fatalf("cannot compress %s", format)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// loopDevice attaches a file of size bytes, filled with fill, to a loop
// device: the stand-in for a USB stick. Both go away when the test ends.
func loopDevice(t *testing.T, size int64, fill byte) (dev, backing string) {
	t.Helper()
	fsimage.Require(t, "ext4")
	backing = filepath.Join(t.TempDir(), "stick.img")
	if err := os.WriteFile(backing, bytes.Repeat([]byte{fill}, int(size)), 0o600); err != nil {
		t.Fatal(err)
	}
	dev, err := fsimage.Attach(backing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsimage.Detach(dev); err != nil {
			t.Error(err)
		}
	})
	return dev, backing
}

// readDevice reads n bytes from the start of dev, bypassing its cache.
func readDevice(t *testing.T, dev string, n int) []byte {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := alignedBuf(roundUp(n, 4096), 4096)
	if _, err := io.ReadFull(f, buf); err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// wantOnDevice checks dev starts with img and keeps fill after it.
func wantOnDevice(t *testing.T, dev string, size int64, img []byte, fill byte) {
	t.Helper()
	got := readDevice(t, dev, int(size))
	if i := firstDiff(got[:len(img)], img); i >= 0 {
		t.Fatalf("%s differs from the image at byte %d", dev, i)
	}
	if i := firstDiff(got[len(img):], bytes.Repeat([]byte{fill}, len(got)-len(img))); i >= 0 {
		t.Fatalf("%s: byte %d after the image was changed", dev, len(img)+i)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// counter is an Events that adds up what it hears.
type counter struct {
	onDevice, verified map[string]int64
	flushing           map[string]int
}

func newCounter() *counter {
	return &counter{onDevice: map[string]int64{}, verified: map[string]int64{}, flushing: map[string]int{}}
}
func (c *counter) OnDevice(t string, n int64) { c.onDevice[t] += n }
func (c *counter) Flushing(t string)          { c.flushing[t]++ }
func (c *counter) Verifying(t string)         {}
func (c *counter) Verified(t string, n int64) { c.verified[t] += n }

func TestWriteEachFormat(t *testing.T) {
	const size = 8 << 20
	random := randomImage(5<<20+777, 1)
	cases := []struct {
		name   string
		format Format
		data   []byte
	}{
		{"image.img", Raw, random},
		{"image.img.gz", Gzip, random},
		{"image.img.xz", XZ, random},
		{"image.img.zst", Zstd, random},
		{"lines.img.bz2", Bzip2, linesImage()},
	}
	for _, c := range cases {
		t.Run(string(c.format), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name)
			if c.format == Bzip2 {
				path = filepath.Join("testdata", c.name)
			} else {
				compress(t, path, c.format, c.data)
			}
			dev, _ := loopDevice(t, size, 0xa5)
			ev := newCounter()
			res, err := Write(context.Background(), path, []string{dev}, Options{Verify: true, Events: ev, ChunkSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if r.Err != nil || r.Level != Verified || r.Bytes != int64(len(c.data)) || r.Size != size {
				t.Fatalf("result %+v, want verified, %d bytes", r, len(c.data))
			}
			if ev.onDevice[dev] != int64(len(c.data)) || ev.verified[dev] != int64(len(c.data)) || ev.flushing[dev] != 1 {
				t.Errorf("events: on device %d, verified %d, flushes %d; want %d, %d, 1",
					ev.onDevice[dev], ev.verified[dev], ev.flushing[dev], len(c.data), len(c.data))
			}
			wantOnDevice(t, dev, size, c.data, 0xa5)
		})
	}
}

func TestOpenKnowsSizeAndFormat(t *testing.T) {
	dir := t.TempDir()
	img := randomImage(300<<10, 2)
	for _, c := range []struct {
		name   string
		format Format
		size   int64
	}{{"a.img", Raw, int64(len(img))}, {"a.gz", Gzip, -1}, {"a.xz", XZ, int64(len(img))}, {"a.zst", Zstd, -1}} {
		path := filepath.Join(dir, c.name)
		compress(t, path, c.format, img)
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if s.Format != c.format || s.Size != c.size {
			t.Errorf("%s: format %s size %d, want %s %d", c.name, s.Format, s.Size, c.format, c.size)
		}
		got, err := io.ReadAll(s)
		s.Close()
		if err != nil || !bytes.Equal(got, img) {
			t.Errorf("%s: read %d bytes, %v; want the image", c.name, len(got), err)
		}
	}
	// The content decides: a gzip file without its extension is still
	// decompressed.
	compress(t, filepath.Join(dir, "plain-name"), Gzip, img)
	if s, err := Open(filepath.Join(dir, "plain-name")); err != nil || s.Format != Gzip {
		t.Errorf("gzip content under a plain name: %v, %v", s, err)
	} else {
		s.Close()
	}
}

// TestXZSizeOfConcatenatedStreams: xz files may hold several streams
// with padding between them; the size is their sum.
func TestXZSizeOfConcatenatedStreams(t *testing.T) {
	dir := t.TempDir()
	a, b := randomImage(100<<10, 3), randomImage(70<<10+5, 4)
	compress(t, filepath.Join(dir, "a.xz"), XZ, a)
	compress(t, filepath.Join(dir, "b.xz"), XZ, b)
	ca, _ := os.ReadFile(filepath.Join(dir, "a.xz"))
	cb, _ := os.ReadFile(filepath.Join(dir, "b.xz"))
	both := filepath.Join(dir, "both.xz")
	os.WriteFile(both, slicesConcat(ca, make([]byte, 8), cb, make([]byte, 4)), 0o644)
	s, err := Open(both)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := int64(len(a) + len(b)); s.Size != want {
		t.Errorf("size %d, want %d", s.Size, want)
	}
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, slicesConcat(a, b)) {
		t.Errorf("read %d bytes, %v", len(got), err)
	}
	// A damaged index gives no size rather than a wrong one.
	cb[len(cb)-20] ^= 0xff
	os.WriteFile(both, cb, 0o644)
	if s, err := Open(both); err == nil {
		if s.Size != -1 {
			t.Errorf("damaged index: size %d, want -1", s.Size)
		}
		s.Close()
	}
}

func slicesConcat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestBadImagesAreNamed(t *testing.T) {
	dir := t.TempDir()
	img := randomImage(2<<20, 5)
	misnamed := filepath.Join(dir, "raw.img.gz")
	compress(t, misnamed, Raw, img)
	if _, err := Open(misnamed); err == nil || !strings.Contains(err.Error(), misnamed) || !strings.Contains(err.Error(), "not gzip") {
		t.Errorf("raw data named .gz: %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a directory as the image: %v", err)
	}

	// A truncated .zst fails the write, naming the image; the device got
	// at most what came before the damage and is not called written.
	trunc := filepath.Join(dir, "cut.img.zst")
	compress(t, trunc, Zstd, img)
	data, _ := os.ReadFile(trunc)
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	dev, _ := loopDevice(t, 4<<20, 0)
	res, err := Write(context.Background(), trunc, []string{dev}, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Err == nil || r.Level != None || !strings.Contains(r.Err.Error(), trunc) {
		t.Errorf("truncated zstd: %+v", r)
	}
}

func TestTwoTargetsEachWithItsOutcome(t *testing.T) {
	img := randomImage(6<<20+512, 6)
	path := filepath.Join(t.TempDir(), "image.img.gz")
	compress(t, path, Gzip, img)
	big1, _ := loopDevice(t, 8<<20, 0x11)
	big2, _ := loopDevice(t, 7<<20, 0x22)
	small, _ := loopDevice(t, 4<<20, 0x33)
	res, err := Write(context.Background(), path, []string{big1, small, big2}, Options{Verify: true, ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Result{res[0], res[2]} {
		if r.Err != nil || r.Level != Verified {
			t.Errorf("%s: %+v, want verified", r.Target, r)
		}
	}
	wantOnDevice(t, big1, 8<<20, img, 0x11)
	wantOnDevice(t, big2, 7<<20, img, 0x22)
	// gzip does not say its size up front: the small device is found out
	// when the image overflows it, and is not called written.
	var tl *TooLargeError
	if r := res[1]; !errors.As(r.Err, &tl) || r.Level != None || tl.ImageSize != -1 {
		t.Errorf("small target: %+v, want TooLargeError, level none", r)
	} else if !strings.Contains(r.Err.Error(), "not a usable image") {
		t.Errorf("message does not say the device holds a partial image: %v", r.Err)
	}
}

// TestTooLargeRefusedBeforeWriting: when the image's size is known (raw,
// xz), a device too small for it is refused before a byte is written.
func TestTooLargeRefusedBeforeWriting(t *testing.T) {
	img := randomImage(5<<20, 7)
	for _, f := range []Format{Raw, XZ} {
		t.Run(string(f), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "image."+string(f))
			compress(t, path, f, img)
			dev, _ := loopDevice(t, 4<<20, 0x44)
			ev := newCounter()
			res, err := Write(context.Background(), path, []string{dev}, Options{Verify: true, Events: ev})
			if err != nil {
				t.Fatal(err)
			}
			var tl *TooLargeError
			if r := res[0]; !errors.As(r.Err, &tl) || tl.ImageSize != int64(len(img)) || r.Bytes != 0 {
				t.Fatalf("%+v, want TooLargeError before writing", r)
			}
			if ev.onDevice[dev] != 0 {
				t.Errorf("%d bytes reported written", ev.onDevice[dev])
			}
			wantOnDevice(t, dev, 4<<20, nil, 0x44)
		})
	}
}

// TestMountedTargetRefused: the kernel refuses the exclusive open of a
// mounted device; nothing is written.
func TestMountedTargetRefused(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	before := readDevice(t, m.Device, 1<<20)
	path := filepath.Join(t.TempDir(), "image.img")
	compress(t, path, Raw, randomImage(1<<20, 8))
	res, err := Write(context.Background(), path, []string{m.Device}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; !errors.Is(r.Err, syscall.EBUSY) || r.Level != None || !strings.Contains(r.Err.Error(), m.Device) {
		t.Fatalf("%+v, want EBUSY naming %s", r, m.Device)
	}
	if !bytes.Equal(readDevice(t, m.Device, 1<<20), before) {
		t.Error("the mounted device was written")
	}
}

func TestNotABlockDevice(t *testing.T) {
	fsimage.Require(t, "ext4")
	dir := t.TempDir()
	path := filepath.Join(dir, "image.img")
	compress(t, path, Raw, randomImage(4096, 9))
	target := filepath.Join(dir, "file")
	os.WriteFile(target, make([]byte, 1<<20), 0o644)
	res, _ := Write(context.Background(), path, []string{target}, Options{})
	if !errors.Is(res[0].Err, ErrNotBlockDevice) {
		t.Errorf("regular file as target: %v", res[0].Err)
	}
}

// vdiskLoop serves a virtual stick with faults and attaches a loop device
// to it. The stick's FUSE file uses direct I/O, so the loop driver's
// reads reach the server, and the O_DIRECT reads of verify bypass the loop
// device's own cache: what verify reads is what the stick stored.
func vdiskLoop(t *testing.T, size int64, f vdisk.Faults) (*vdisk.Disk, string) {
	t.Helper()
	fsimage.Require(t, "ext4")
	d, err := vdisk.Start(vdisk.Config{Dir: t.TempDir(), Size: size, Seed: 11, Faults: f})
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

func TestVerifyCatchesBitFlip(t *testing.T) {
	img := randomImage(6<<20, 10)
	path := filepath.Join(t.TempDir(), "image.img.zst")
	compress(t, path, Zstd, img)

	t.Run("flipped", func(t *testing.T) {
		d, dev := vdiskLoop(t, 16<<20, vdisk.Faults{FlipEvery: 3})
		// 1 MiB chunks of a 6 MiB image: at least 6 writes reach the stick,
		// however the kernel splits them, so every third one flips a bit.
		res, err := Write(context.Background(), path, []string{dev}, Options{Verify: true, ChunkSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.BitFlips == 0 {
			t.Fatalf("the stick flipped no bit: %+v", st)
		}
		r := res[0]
		var me *MismatchError
		if !errors.As(r.Err, &me) || r.Level != Durable || !me.Exact {
			t.Fatalf("%+v, want an exact mismatch at level durable", r)
		}
		got := readDevice(t, dev, len(img))
		if want := firstDiff(got, img); int64(want) != me.Offset {
			t.Errorf("mismatch reported at %d, first difference on the device at %d", me.Offset, want)
		}
	})
	t.Run("clean", func(t *testing.T) {
		d, dev := vdiskLoop(t, 16<<20, vdisk.Faults{})
		res, err := Write(context.Background(), path, []string{dev}, Options{Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		if r := res[0]; r.Err != nil || r.Level != Verified {
			t.Fatalf("%+v, want verified", r)
		}
		st, err := d.Stats()
		if err != nil {
			t.Fatal(err)
		}
		// The flush reached the stick: everything written is durable.
		if st.Flushes == 0 || st.BytesDurable < int64(len(img)) || st.EpochWrites != 0 {
			t.Errorf("after the write: %+v, want the image flushed", st)
		}
	})
}

// TestFlushFailureIsReported: a stick that fails its flush is not called
// durable, let alone verified.
func TestFlushFailureIsReported(t *testing.T) {
	img := randomImage(2<<20, 12)
	path := filepath.Join(t.TempDir(), "image.img")
	compress(t, path, Raw, img)
	d, dev := vdiskLoop(t, 16<<20, vdisk.Faults{})
	// Armed now: attaching the loop device flushes once.
	if err := d.SetFaults(vdisk.Faults{FailFlush: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := Write(context.Background(), path, []string{dev}, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; !errors.Is(r.Err, syscall.EIO) || r.Level != OnDevice {
		t.Fatalf("%+v, want EIO at level on device", r)
	}
}

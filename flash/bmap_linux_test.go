//go:build linux

package flash

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// mappedImage is an image of size bytes whose blocks of 4 KiB in ranges
// hold random data and the rest zeros, as in an image with holes.
func mappedImage(size int, ranges [][2]int64, seed byte) []byte {
	img := make([]byte, size)
	data := randomImage(size, seed)
	for _, r := range ranges {
		a, z := r[0]*4096, min((r[1]+1)*4096, int64(size))
		copy(img[a:z], data[a:z])
	}
	return img
}

// writeBmap writes img to dir/name (compressed as format) and its bmap
// next to it, and returns the image's path and the parsed bmap.
func writeBmap(t *testing.T, dir, name string, format Format, img []byte, ranges [][2]int64) (string, *Bmap) {
	t.Helper()
	path := filepath.Join(dir, name)
	compress(t, path, format, img)
	bpath := filepath.Join(dir, "image.bmap")
	if err := os.WriteFile(bpath, makeBmap(img, 4096, ranges, "2.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	bm, err := ReadBmap(bpath)
	if err != nil {
		t.Fatal(err)
	}
	return path, bm
}

func writePlanned(t *testing.T, path string, bm *Bmap, leaveHoles bool, devs []string, opt Options) []Result {
	t.Helper()
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if opt.Plan, err = NewPlan(src, bm, leaveHoles); err != nil {
		t.Fatal(err)
	}
	return WriteSource(context.Background(), src, devs, opt)
}

// wantMapped checks dev holds img on the ranges and fill elsewhere.
func wantMapped(t *testing.T, dev string, img []byte, ranges [][2]int64, fill byte) {
	t.Helper()
	got := readDevice(t, dev, len(img))
	want := bytes.Repeat([]byte{fill}, len(img))
	for _, r := range ranges {
		a, z := r[0]*4096, min((r[1]+1)*4096, int64(len(img)))
		copy(want[a:z], img[a:z])
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("%s: byte %d is %#x, want %#x (mapped ranges from the image, the rest as it was)", dev, i, got[i], want[i])
	}
}

var testRanges = [][2]int64{{0, 2}, {7, 7}, {100, 611}, {900, 1024}}

// TestWriteWithBmap: only the mapped ranges are written, each checked
// against its checksum, whatever the image's format; the rest of the
// device keeps what it had; the read-back covers what was written.
func TestWriteWithBmap(t *testing.T) {
	img := mappedImage(1025*4096-1000, testRanges, 3) // the last range ends inside a block
	for _, f := range []Format{Raw, XZ, Gzip, Zstd} {
		t.Run(string(f), func(t *testing.T) {
			path, bm := writeBmap(t, t.TempDir(), "image.img", f, img, testRanges)
			dev, _ := loopDevice(t, 8<<20, 0xaa)
			c := newCounter()
			res := writePlanned(t, path, bm, false, []string{dev}, Options{Verify: true, ChunkSize: 1 << 20, Events: c})
			if r := res[0]; r.Err != nil || r.Level != Verified || r.Bytes != bm.MappedBytes() {
				t.Fatalf("%+v, want verified with %d bytes written", r, bm.MappedBytes())
			}
			if c.onDevice[dev] != bm.MappedBytes() || c.verified[dev] != bm.MappedBytes() {
				t.Errorf("events: %d on device, %d verified, want %d each", c.onDevice[dev], c.verified[dev], bm.MappedBytes())
			}
			wantMapped(t, dev, img, testRanges, 0xaa)
		})
	}
}

// TestBmapRangeMismatchStops: an image whose bytes in a range are not
// those the bmap was made from stops the write, naming the range.
func TestBmapRangeMismatchStops(t *testing.T) {
	img := mappedImage(1025*4096, testRanges, 4)
	dir := t.TempDir()
	_, bm := writeBmap(t, dir, "orig.img", Raw, img, testRanges)
	bad := bytes.Clone(img)
	bad[101*4096+5] ^= 1
	path := filepath.Join(dir, "image.img.xz")
	compress(t, path, XZ, bad)
	dev, _ := loopDevice(t, 8<<20, 0)
	res := writePlanned(t, path, bm, false, []string{dev}, Options{Verify: true})
	var re *BmapRangeError
	if r := res[0]; !errors.As(r.Err, &re) || r.Level != None || re.First != 100 || re.Last != 611 {
		t.Fatalf("%+v, want a mismatch in blocks 100-611", r)
	}
}

// TestBmapForAnotherImageRefused: a bmap made for an image of another
// size is refused before anything is written, when the size is known.
func TestBmapForAnotherImageRefused(t *testing.T) {
	img := mappedImage(1025*4096, testRanges, 5)
	dir := t.TempDir()
	_, bm := writeBmap(t, dir, "orig.img", Raw, img, testRanges)
	path := filepath.Join(dir, "longer.img")
	compress(t, path, Raw, append(bytes.Clone(img), 0))
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var be *BmapError
	if _, err := NewPlan(src, bm, false); !errors.As(err, &be) {
		t.Fatalf("NewPlan: %v, want a BmapError", err)
	}

	// A gzip stream's size is learnt at its end: the write then fails.
	gz := filepath.Join(dir, "longer.img.gz")
	compress(t, gz, Gzip, append(bytes.Clone(img), 0))
	dev, _ := loopDevice(t, 8<<20, 0)
	res := writePlanned(t, gz, bm, false, []string{dev}, Options{Verify: true})
	var se *ShortImageError
	if r := res[0]; !errors.As(r.Err, &se) || r.Level != None {
		t.Fatalf("%+v, want the size mismatch found", r)
	}
}

// TestBmapVerifyCatchesBitFlip: a stick that flips a bit of a mapped
// range is caught by the read-back, at the byte.
func TestBmapVerifyCatchesBitFlip(t *testing.T) {
	img := mappedImage(1025*4096, testRanges, 6)
	path, bm := writeBmap(t, t.TempDir(), "image.img.zst", Zstd, img, testRanges)
	d, dev := vdiskLoop(t, 8<<20, vdisk.Faults{FlipEvery: 3})
	res := writePlanned(t, path, bm, false, []string{dev}, Options{Verify: true, ChunkSize: 256 << 10})
	if st, err := d.Stats(); err != nil || st.BitFlips == 0 {
		t.Fatalf("the stick flipped no bit: %+v %v", st, err)
	}
	var me *MismatchError
	r := res[0]
	if !errors.As(r.Err, &me) || r.Level != Durable || !me.Exact {
		t.Fatalf("%+v, want an exact mismatch at level durable", r)
	}
	got := readDevice(t, dev, len(img))
	if i := firstDiff(got, img); int64(i) != me.Offset {
		t.Errorf("mismatch reported at %d, first difference on the device at %d", me.Offset, i)
	}
	inside := false
	for _, rg := range testRanges {
		inside = inside || me.Offset >= rg[0]*4096 && me.Offset < (rg[1]+1)*4096
	}
	if !inside {
		t.Errorf("mismatch at %d is outside the mapped ranges", me.Offset)
	}
}

// cancelAfter cancels a write once n bytes are on the device.
type cancelAfter struct {
	counter
	n      int64
	cancel func()
}

func (c *cancelAfter) OnDevice(t string, n int64) {
	c.counter.OnDevice(t, n)
	if c.onDevice[t] >= c.n {
		c.cancel()
	}
}

// TestPowerCutThenRerun: the power goes while a bmap image is written
// (the stick keeps a prefix of what it was sent since its last flush);
// writing again onto the stick as the cut left it gives the image.
func TestPowerCutThenRerun(t *testing.T) {
	ranges := [][2]int64{{0, 2}, {7, 7}, {100, 3000}}
	img := mappedImage(3001*4096, ranges, 7)
	path, bm := writeBmap(t, t.TempDir(), "image.img.zst", Zstd, img, ranges)
	d, dev := vdiskLoop(t, 16<<20, vdisk.Faults{})
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(src, bm, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev := &cancelAfter{counter: *newCounter(), n: 1 << 20, cancel: cancel}
	res := WriteSource(ctx, src, []string{dev}, Options{Verify: true, ChunkSize: 256 << 10, Events: ev, Plan: plan})
	src.Close()
	if r := res[0]; !errors.Is(r.Err, context.Canceled) || r.Level != None || r.Bytes == 0 || r.Bytes >= bm.MappedBytes() {
		t.Fatalf("%+v, want part of the image written before the cut", r)
	}
	crash := filepath.Join(t.TempDir(), "crash.img")
	if _, err := d.Cut(vdisk.CutOptions{Out: crash, Mode: vdisk.CutPrefix, Seed: 1, Tear: true, Yank: true}); err != nil {
		t.Fatal(err)
	}
	dev2, err := fsimage.Attach(crash)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsimage.Detach(dev2); err != nil {
			t.Error(err)
		}
	})
	res = writePlanned(t, path, bm, false, []string{dev2}, Options{Verify: true})
	if r := res[0]; r.Err != nil || r.Level != Verified {
		t.Fatalf("rerun: %+v, want verified", r)
	}
	wantMapped(t, dev2, img, ranges, 0)
}

// sparseImage writes img to a file, leaving its zero blocks of 4 KiB as
// holes.
func sparseImage(t *testing.T, path string, img []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zero := make([]byte, 4096)
	for off := 0; off < len(img); off += 4096 {
		b := img[off:min(off+4096, len(img))]
		if bytes.Equal(b, zero[:len(b)]) {
			continue
		}
		if _, err := f.WriteAt(b, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(len(img))); err != nil {
		t.Fatal(err)
	}
}

// TestSparseImage: a raw image's holes are found with SEEK_HOLE; they
// are zeroed on the device (the image reads back whole), or left as they
// were when asked.
func TestSparseImage(t *testing.T) {
	img := mappedImage(1025*4096+700, append(testRanges[:3:3], [2]int64{1023, 1023}), 8) // a hole at the end, not a whole block
	path := filepath.Join(t.TempDir(), "sparse.img")
	sparseImage(t, path, img)
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(src, nil, false)
	src.Close()
	if err != nil || plan == nil {
		t.Fatalf("plan %+v, %v: want the holes found", plan, err)
	}
	if plan.Data+plan.Zero != int64(len(img)) || plan.Data >= int64(len(img))*6/10 {
		t.Fatalf("plan %+v for an image of %d bytes", plan, len(img))
	}

	t.Run("zeroed", func(t *testing.T) {
		dev, _ := loopDevice(t, 8<<20, 0xaa)
		res := writePlanned(t, path, nil, false, []string{dev}, Options{Verify: true})
		if r := res[0]; r.Err != nil || r.Level != Verified {
			t.Fatalf("%+v, want verified", r)
		}
		wantOnDevice(t, dev, 8<<20, img, 0xaa)
	})
	t.Run("left", func(t *testing.T) {
		dev, _ := loopDevice(t, 8<<20, 0xaa)
		res := writePlanned(t, path, nil, true, []string{dev}, Options{Verify: true})
		if r := res[0]; r.Err != nil || r.Level != Verified {
			t.Fatalf("%+v, want verified", r)
		}
		got := readDevice(t, dev, len(img))
		for i := range got {
			if got[i] != img[i] && got[i] != 0xaa {
				t.Fatalf("byte %d is %#x: neither the image's nor what was there", i, got[i])
			}
		}
		if bytes.Equal(got, img) {
			t.Fatal("the holes were written")
		}
	})
}

// TestSameAsBmaptool: an ext4 image with files, its bmap made by
// bmaptool create, written by sure and by bmaptool copy onto two sticks
// with the same old content: the sticks then hold the same bytes.
func TestSameAsBmaptool(t *testing.T) {
	if _, err := exec.LookPath("bmaptool"); err != nil {
		t.Skip("bmaptool not installed (scripts/install-deps)")
	}
	fsimage.Require(t, "ext4")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{1 << 20, 300 << 10, 5000, 3 << 20} {
		if err := os.WriteFile(filepath.Join(tree, "sub", string(rune('a'+i))), randomImage(n, byte(20+i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "fs.img")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("mkfs.ext4", "-q", "-F", "-d", tree, img, "32M")
	run("bmaptool", "create", "-o", img+".bmap", img)
	compress(t, img+".xz", XZ, must(os.ReadFile(img)))

	theirs, _ := loopDevice(t, 40<<20, 0x5a)
	run("bmaptool", "copy", img+".xz", theirs)
	ours, _ := loopDevice(t, 40<<20, 0x5a)
	bm, err := ReadBmap(FindBmap(img + ".xz"))
	if err != nil {
		t.Fatal(err)
	}
	if bm.MappedBytes() >= bm.ImageSize/2 {
		t.Fatalf("bmaptool mapped %d of %d bytes: not a sparse image", bm.MappedBytes(), bm.ImageSize)
	}
	res := writePlanned(t, img+".xz", bm, false, []string{ours}, Options{Verify: true})
	if r := res[0]; r.Err != nil || r.Level != Verified {
		t.Fatalf("%+v, want verified", r)
	}
	a, b := readDevice(t, theirs, 40<<20), readDevice(t, ours, 40<<20)
	if i := firstDiff(a, b); i >= 0 {
		t.Fatalf("bmaptool copy and sure write differ at byte %d: %#x and %#x", i, a[i], b[i])
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

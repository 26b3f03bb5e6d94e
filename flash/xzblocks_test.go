package flash

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/sure-tools/sure/internal/tempdir"
)

// holeyImage is n bytes: runs of pseudo-random data between long runs of
// zeros, like a disk image.
func holeyImage(n int) []byte {
	b := make([]byte, n)
	x := uint32(1)
	for i := range b {
		if (i/(300<<10))%3 == 0 {
			x = x*1664525 + 1013904223
			b[i] = byte(x >> 24)
		}
	}
	return b
}

// TestXZBlocksSkip: a multi-block .xz file is read block by block;
// skipping over parts of it, whole blocks included, gives the same bytes
// as decompressing all of it.
func TestXZBlocksSkip(t *testing.T) {
	img := holeyImage(5<<20 + 777)
	var buf bytes.Buffer
	w, err := xz.WriterConfig{BlockSize: 256 << 10}.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(img)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tempdir.ForTest(t), "holey.img.xz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, path string) {
		for _, steps := range [][]int64{
			{0, 100, 1 << 20, 5000, 2 << 20, 4096, 300 << 10, 1},
			{3 << 20, 4096},
			{256 << 10, 256 << 10, 1, 256<<10 - 1, 256 << 10},
			{int64(len(img)) - 10, 10},
		} {
			src, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if src.xz == nil || src.Size != int64(len(img)) {
				src.Close()
				t.Fatalf("not read block by block (size %d)", src.Size)
			}
			var pos int64
			for i, n := range steps {
				if i%2 == 0 {
					if err := src.skip(n); err != nil {
						t.Fatalf("skip %d at %d: %v", n, pos, err)
					}
				} else {
					got := make([]byte, n)
					if _, err := io.ReadFull(src, got); err != nil {
						t.Fatalf("read %d at %d: %v", n, pos, err)
					}
					if !bytes.Equal(got, img[pos:pos+n]) {
						t.Fatalf("%d bytes at %d differ from the image", n, pos)
					}
				}
				pos += n
			}
			src.Close()
		}
		// Read to the end after a skip.
		src, _ := Open(path)
		defer src.Close()
		if err := src.skip(1 << 20); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(src)
		if err != nil || !bytes.Equal(rest, img[1<<20:]) {
			t.Fatalf("the rest after a skip: %d bytes, %v", len(rest), err)
		}
	}
	t.Run("go", func(t *testing.T) { check(t, path) })
	t.Run("xz -T2", func(t *testing.T) {
		if _, err := exec.LookPath("xz"); err != nil {
			t.Skip("no xz")
		}
		raw := filepath.Join(tempdir.ForTest(t), "holey.img")
		os.WriteFile(raw, img, 0o644)
		if out, err := exec.Command("xz", "-T2", "--block-size=1MiB", "-k", raw).CombinedOutput(); err != nil {
			t.Fatalf("xz: %v %s", err, out)
		}
		check(t, raw+".xz")
	})

	// A block whose data is damaged fails in the decoder, named.
	bad := bytes.Clone(buf.Bytes())
	bad[len(bad)/2] ^= 0x40
	badPath := filepath.Join(tempdir.ForTest(t), "bad.img.xz")
	os.WriteFile(badPath, bad, 0o644)
	src, err := Open(badPath)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = io.Copy(io.Discard, src)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "decompress xz" || pe.Path != badPath {
		t.Fatalf("reading a damaged block: %v", err)
	}
}

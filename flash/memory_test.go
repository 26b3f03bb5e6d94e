package flash

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/sure-tools/sure/internal/tempdir"
)

// allocated is what f allocated on the heap, in bytes.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestXZBlocksShareReadBuffer: decoding a multi-block .xz image
// allocates per block the decoder and its dictionary (1 MiB here, as xz -1
// makes), and no read buffer of its own: the blocks share one.
func TestXZBlocksShareReadBuffer(t *testing.T) {
	img := holeyImage(8 << 20)
	var buf bytes.Buffer
	w, err := xz.WriterConfig{DictCap: 1 << 20, BlockSize: 256 << 10}.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(img)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tempdir.ForTest(t), "os.img.xz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.xz == nil {
		t.Fatal("the image was not read block by block")
	}
	blocks := len(src.xz.blocks)
	var n int64
	perBlock := allocated(func() { n, err = io.Copy(io.Discard, src) }) / uint64(blocks)
	if err != nil || n != int64(len(img)) {
		t.Fatalf("read %d bytes of %d: %v", n, len(img), err)
	}
	t.Logf("%d blocks, %d KiB allocated per block", blocks, perBlock>>10)
	if perBlock > 1200<<10 {
		t.Errorf("decoding allocated %d KiB per block of 256 KiB with a 1 MiB dictionary; want at most 1200", perBlock>>10)
	}
}

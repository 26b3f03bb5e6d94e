//go:build linux

package flash

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestChunkBuffersOutsideHeap: the chunks a write reads the image into,
// and reads the device back into, are not in Go's heap, where the
// collector would let garbage grow to their size before it runs. Writing
// and verifying 32 MiB in chunks of 4 MiB allocates only the image's read
// buffer and small things.
func TestChunkBuffersOutsideHeap(t *testing.T) {
	img := randomImage(32<<20, 3)
	path := filepath.Join(t.TempDir(), "os.img")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	dev, _ := loopDevice(t, 40<<20, 0xee)
	var res []Result
	var err error
	n := allocated(func() {
		res, err = Write(context.Background(), path, []string{dev}, Options{Verify: true})
	})
	if err != nil || res[0].Err != nil || res[0].Level != Verified {
		t.Fatalf("write: %v, %+v", err, res)
	}
	wantOnDevice(t, dev, 40<<20, img, 0xee)
	t.Logf("writing and verifying 32 MiB allocated %d KiB", n>>10)
	if n > 4<<20 {
		t.Errorf("writing and verifying 32 MiB allocated %d KiB on the heap; want at most 4096 (the chunks are 6 × 4 MiB)", n>>10)
	}
}

//go:build linux

package copier

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/fsimage"
)

// writeSparse makes a file of size bytes holding data only in the given
// stretches (offset → length); the rest are holes.
func writeSparse(t *testing.T, path string, size int64, data map[int64]int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off, n := range data {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(off>>20) ^ byte(i*31+7)
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

func allocated(t *testing.T, path string) (size, blocks int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size(), fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// copyWithSum copies src to dst through the copy engine alone, as a job's
// worker does, with a hash of the content it copies, and publishes it.
func copyWithSum(t *testing.T, src, dst string) [32]byte {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r := &run{ctx: context.Background(), opt: jobSpec{Options: Options{MaxDirty: DefaultMaxDirty, Workers: 1}}, c: commit.New()}
	r.events = &lockedEvents{e: nopEvents{}}
	r.startEngine()
	e, out, err := r.c.Create(dst, 0o644, false)
	if err != nil {
		t.Fatal(err)
	}
	j := &job{src: src, dst: dst}
	r.copying(j, fi.Size())
	e.Tag, e.Size = j, fi.Size()
	h := sha256.New()
	n, err := r.copyData(j, e, out, in, fi, h, 0, nil)
	if err != nil {
		r.c.Abort(e, out)
		t.Fatal(err)
	}
	if n != fi.Size() {
		t.Errorf("copyData copied %d bytes of %d", n, fi.Size())
	}
	if err := r.c.Stage(e, out); err != nil {
		t.Fatal(err)
	}
	for _, res := range r.c.Flush() {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		r.settle(res.Entry.Tag.(*job), true)
	}
	if used := r.eng.budget.inUse(); used != 0 {
		t.Errorf("%d bytes of the dirty budget still charged after the file was durable", used)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// TestSparse copies a 1 GiB file holding 1 MiB of data: on file systems
// with holes the copy has the same holes (it occupies about 1 MiB), on FAT
// and exFAT it is written out in full; the content is equal everywhere,
// and the hash the engine computes while copying is the hash of the whole
// content, holes read as zeros.
func TestSparse(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			mt, err := fsinfo.ForPath(m.Dir)
			if err != nil {
				t.Fatal(err)
			}
			holes := fsinfo.CapsOf(mt).Holes
			size := int64(1 << 30)
			if !holes {
				size = 16 << 20 // written in full: it must fit the image
			}
			src := filepath.Join(t.TempDir(), "sparse")
			writeSparse(t, src, size, map[int64]int{1 << 20: 512 << 10, size / 2: 256 << 10, size - 300<<10: 256 << 10})
			if _, b := allocated(t, src); b > 2<<20 {
				t.Fatalf("the source occupies %d bytes: the test directory's file system has no holes", b)
			}
			dst := filepath.Join(m.Dir, "sparse")
			opt := Options{NoSpaceCheck: true}
			if _, err := Copy(context.Background(), []string{src}, dst, opt); err != nil {
				t.Fatal(err)
			}
			n, b := allocated(t, dst)
			if n != size {
				t.Errorf("copy is %d bytes, want %d", n, size)
			}
			switch {
			case holes && b > 4<<20:
				t.Errorf("%s: copy occupies %d bytes, want about 1 MiB: holes were written", kind, b)
			case !holes && b < size:
				t.Errorf("%s: copy occupies %d bytes of %d", kind, b, size)
			}
			sameFile(t, src, dst)
			if got := copyWithSum(t, src, filepath.Join(m.Dir, "summed")); got != hashFile(t, src) {
				t.Error("the hash computed while copying is not the hash of the source's content")
			}
			sameFile(t, src, filepath.Join(m.Dir, "summed"))
		})
	}
}

// TestReflink copies a file within one file system: on btrfs and xfs the
// copy shares the source's extents (FICLONE) and equals it, also when a
// hash is asked for; on ext4, which cannot clone, bytes are copied.
func TestReflink(t *testing.T) {
	if _, err := exec.LookPath("filefrag"); err != nil {
		t.Skip("filefrag (e2fsprogs) is not installed")
	}
	for _, kind := range []string{"btrfs", "xfs", "ext4"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			src := filepath.Join(m.Dir, "orig", "data")
			writeFile(t, src, 8<<20+5, 42)
			if err := os.MkdirAll(filepath.Join(m.Dir, "copy"), 0o755); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(m.Dir, "copy", "data")
			rec := &recorder{}
			if _, err := Copy(context.Background(), []string{src}, dst, Options{Events: rec}); err != nil {
				t.Fatal(err)
			}
			checkLadder(t, rec.events(), map[string]int64{dst: 8<<20 + 5})
			sameFile(t, src, dst)
			summed := filepath.Join(m.Dir, "copy", "summed")
			if got := copyWithSum(t, src, summed); got != hashFile(t, src) {
				t.Error("the hash of a cloned file is not the hash of its source")
			}
			sameFile(t, src, summed)
			for _, p := range []string{dst, summed} {
				out, err := exec.Command("filefrag", "-v", p).CombinedOutput()
				if err != nil {
					t.Fatalf("filefrag -v %s: %v: %s", p, err, out)
				}
				shared := strings.Contains(string(out), "shared")
				if want := kind != "ext4"; shared != want {
					t.Errorf("%s: extents shared = %v, want %v:\n%s", p, shared, want, out)
				}
			}
		})
	}
}

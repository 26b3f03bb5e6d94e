//go:build linux

package copier

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// newStick is a file system of kind on the virtual USB stick (lab/vdisk)
// with faults armed once it is mounted, so that a test can ask the stick
// what it has really received.
func newStick(t testing.TB, kind string, size int64, faults vdisk.Faults) *vstick.Stick {
	t.Helper()
	s := vstick.New(t, kind, size)
	s.Faults(t, faults)
	return s
}

// received is how many bytes the stick has taken in so far.
func received(t *testing.T, s *vstick.Stick) int64 {
	st, err := s.Disk.Stats()
	if err != nil {
		t.Error(err)
	}
	return st.BytesReceived
}

// writeFile writes size random bytes (seeded) to path.
func writeFile(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		for i := 0; i < int(n); i += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && i+k < int(n); k++ {
				buf[i+k] = byte(v >> (8 * k))
			}
		}
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func hashFile(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func sameFile(t testing.TB, a, b string) {
	t.Helper()
	if hashFile(t, a) != hashFile(t, b) {
		t.Errorf("%s differs from %s", b, a)
	}
}

// event is one call a job made to its Events and Progress.
type event struct {
	kind     string // planned, copying, ondevice, flushing, durable, skipped, failed
	src, dst string
	n        int64
	files    int
	err      error
}

func (e event) String() string {
	return fmt.Sprintf("%s %s n=%d files=%d %v", e.kind, e.dst, e.n, e.files, e.err)
}

// recorder records every event in the order the job made them (the job
// serializes them), and lets a test look at the world at each OnDevice.
type recorder struct {
	mu       sync.Mutex
	log      []event
	onDevice func(dst string, n int64)
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	r.log = append(r.log, e)
	r.mu.Unlock()
}

func (r *recorder) events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.log...)
}

func (r *recorder) Durable(src, dst string, size int64) {
	r.add(event{kind: "durable", src: src, dst: dst, n: size})
}
func (r *recorder) Skipped(src, dst, why string) { r.add(event{kind: "skipped", src: src, dst: dst}) }
func (r *recorder) Failed(src, dst string, err error) {
	r.add(event{kind: "failed", src: src, dst: dst, err: err})
}
func (r *recorder) Planned(files int, bytes int64) {
	r.add(event{kind: "planned", files: files, n: bytes})
}
func (r *recorder) Copying(src, dst string, size int64) {
	r.add(event{kind: "copying", src: src, dst: dst, n: size})
}
func (r *recorder) OnDevice(dst string, n int64) {
	if r.onDevice != nil {
		r.onDevice(dst, n)
	}
	r.add(event{kind: "ondevice", dst: dst, n: n})
}
func (r *recorder) Flushing(files int, bytes int64) {
	r.add(event{kind: "flushing", files: files, n: bytes})
}

// checkLadder checks the progress contract over a job's events, given the
// size of every file the job had to write (by destination): Planned comes
// first with the totals; each file is Copying before any OnDevice; its
// OnDevice events come before its Durable, never exceed its size, and add
// up to it; each Durable follows a Flushing that covered it.
func checkLadder(t *testing.T, log []event, sizes map[string]int64) {
	t.Helper()
	if len(log) == 0 || log[0].kind != "planned" {
		t.Fatalf("first event is not Planned: %v", log[:min(len(log), 3)])
	}
	var total int64
	for _, s := range sizes {
		total += s
	}
	if log[0].files != len(sizes) || log[0].n != total {
		t.Errorf("Planned(%d files, %d bytes), want (%d, %d)", log[0].files, log[0].n, len(sizes), total)
	}
	copying := map[string]bool{}
	onDev := map[string]int64{}
	durable := map[string]bool{}
	flushed := 0 // files covered by the Flushing events so far
	reported := 0
	for i, e := range log[1:] {
		switch e.kind {
		case "planned":
			t.Errorf("event %d: a second Planned", i+1)
		case "copying":
			if _, ok := sizes[e.dst]; !ok {
				t.Errorf("Copying of %s, which the job had no need to write", e.dst)
			}
			if e.n != sizes[e.dst] {
				t.Errorf("Copying(%s, %d), size is %d", e.dst, e.n, sizes[e.dst])
			}
			copying[e.dst] = true
		case "ondevice":
			if !copying[e.dst] {
				t.Errorf("OnDevice(%s) before Copying", e.dst)
			}
			if durable[e.dst] {
				t.Errorf("OnDevice(%s) after its Durable", e.dst)
			}
			if e.n <= 0 {
				t.Errorf("OnDevice(%s, %d): not a positive count", e.dst, e.n)
			}
			onDev[e.dst] += e.n
			if onDev[e.dst] > sizes[e.dst] {
				t.Errorf("OnDevice for %s adds up to %d, more than its %d bytes", e.dst, onDev[e.dst], sizes[e.dst])
			}
		case "flushing":
			flushed += e.files
		case "durable":
			if size, ok := sizes[e.dst]; ok {
				if onDev[e.dst] != size {
					t.Errorf("Durable(%s) with %d of its %d bytes reported on the device", e.dst, onDev[e.dst], size)
				}
			}
			durable[e.dst] = true
			reported++
			if reported > flushed {
				t.Errorf("Durable(%s) not covered by a Flushing before it (%d durable, %d flushing)", e.dst, reported, flushed)
			}
		case "failed":
			t.Errorf("Failed(%s): %v", e.dst, e.err)
		}
	}
	for dst, size := range sizes {
		if !durable[dst] {
			t.Errorf("%s (%d bytes) never reported durable", dst, size)
		}
	}
}

func equalTrees(t *testing.T, a, b string) {
	t.Helper()
	err := filepath.Walk(a, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		if info.Mode().IsRegular() {
			x, err1 := os.ReadFile(p)
			y, err2 := os.ReadFile(q)
			if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
				t.Errorf("%s: not a copy of %s (%v, %v)", q, p, err1, err2)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

//go:build linux

package powercut

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sure-tools/sure/lab/vdisk"
)

// TestListingRoundTrip: a listing made on a mount (here a plain
// directory) comes back from JSON as it was, a file that cannot be read
// (a dangling link) still unreadable, as it travels from a guest to the
// host's oracle.
func TestListingRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src", "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "d", "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "src", "b")); err != nil {
		t.Fatal(err)
	}
	l := ListMount(dir)
	if f := l["src/d/a"]; !f.OK || len(l) != 2 || l["src/b"].OK {
		t.Fatalf("listing %v", l)
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back Listing
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, l) {
		t.Fatalf("%s came back as %v, not %v", b, back, l)
	}
	if sum, ok := back.under("src").hash("d/a"); !ok || sum != l["src/d/a"].Sum {
		t.Fatalf("under(src).hash(d/a) = %x, %v", sum, ok)
	}
}

// TestUncertainAcks: an acknowledgement is uncertain only when a FLUSH
// falls inside the window in which its line was printed.
func TestUncertainAcks(t *testing.T) {
	w, f := vdisk.RecEntry{Kind: vdisk.RecWrite, N: 512}, vdisk.RecEntry{Kind: vdisk.RecFlush}
	entries := []vdisk.RecEntry{w, w, f, w, w, f, w}
	run := &CrashRun{
		// a: printed at count 3 or 4, after the flush of entry 2 (count 3);
		// b: at count 2 or 3, before or after it; c: no window known.
		Acks:    map[string]int64{"a": 4, "b": 3, "c": 7},
		AckFrom: map[string]int64{"a": 3, "b": 2},
	}
	if n := uncertainAcks(run, entries); n != 1 {
		t.Fatalf("uncertainAcks = %d, want 1 (b)", n)
	}
}

//go:build linux

package powercut

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
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

package durable_test

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The behaviours promised on every file system are tested by the suite
// in internal/conformance; these helpers serve the tests of this package
// that need a particular kernel or device.

// names lists dir, failing the test on error.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		// libfuse's name for a file unlinked or renamed over while still
		// open, until its last close reaches the server: not ours.
		if !strings.HasPrefix(e.Name(), ".fuse_hidden") {
			out = append(out, e.Name())
		}
	}
	return out
}

// wantNames fails unless dir holds exactly want: in particular no
// temporary file left behind.
func wantNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := names(t, dir)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

func wantContent(t *testing.T, name, want string) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil {
		t.Errorf("reading %s: %v", name, err)
	} else if string(got) != want {
		t.Errorf("%s holds %q, want %q", name, got, want)
	}
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

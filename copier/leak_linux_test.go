//go:build linux

package copier

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// landers counts the lander goroutines alive, by their stacks: a count of
// all goroutines would also see the runtime's and the test framework's.
func landers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "copier.startLander.func")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestNoLanderLeftWhenVerifyFails: a job refused because its manifest
// cannot be created leaves no goroutine behind. Copy returns only after
// stopping what it started, so the check right after it is exact.
func TestNoLanderLeftWhenVerifyFails(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a")
	if err := os.WriteFile(src, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := landers()
	_, err := Copy(context.Background(), []string{src}, filepath.Join(dir, "b"),
		Options{Manifest: filepath.Join(dir, "missing", "sums.b3")})
	if err == nil {
		t.Fatal("Copy with a manifest in a missing directory succeeded")
	}
	if after := landers(); after != before {
		t.Fatalf("%d lander goroutines after Copy failed to start, %d before", after, before)
	}
	if _, err := os.Lstat(filepath.Join(dir, "b")); err == nil {
		t.Error("the refused job wrote its destination")
	}
}

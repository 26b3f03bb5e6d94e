//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/powercut"
)

// The demo runs its three commands on the virtual stick and reports for
// each how many files survived the cut: every one of sure's.
func TestDemo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices")
	}
	fsimage.Require(t, "vfat")
	sure := filepath.Join(t.TempDir(), "sure")
	if out, err := exec.Command("go", "build", "-o", sure, "../sure").CombinedOutput(); err != nil {
		t.Fatalf("building sure: %v\n%s", err, out)
	}
	var b bytes.Buffer
	if err := runDemo(context.Background(), &b, sure, "vfat", powercut.Shape{Files: 40, MaxSmall: 4096, BigSize: 1 << 20}, 1); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 80 {
			t.Errorf("line wider than 80 columns: %q", l)
		}
	}
	for _, row := range []string{"  cp -r ", "  cp -r && sync -f ", "  sure cp -r "} {
		if !strings.Contains(out, row) {
			t.Errorf("no row for %q in:\n%s", row, out)
		}
	}
	ok := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  sure cp -r ") {
			ok = strings.Contains(l, "returned 0 in") && strings.HasSuffix(l, " 41 of 41 files survived the cut")
		}
	}
	if !ok {
		t.Errorf("sure's row does not say all 41 files survived:\n%s", out)
	}
}

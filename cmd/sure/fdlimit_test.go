//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/tail"
)

// A tree of many small directories under a low limit of open files: the
// directories held open while their files wait for a barrier stay within
// a share of the limit, so every file is copied.
func TestManyDirsLowFileLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	const dirs = 3000
	for i := range dirs {
		d := filepath.Join(src, fmt.Sprintf("d%04d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(base, "dst")
	out, err := exec.Command(prlimit, "--nofile=1024:1024", sureBinary(t), "cp", "-r", src, dst).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, tail.Lines(string(out), 3))
	}
	if !strings.Contains(string(out), fmt.Sprintf("%d files,", dirs)) {
		t.Errorf("summary: %s", out)
	}
}

package copier

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// TestTimesKeptOnFusefat: fusefat stamps a file with the current time when
// it is renamed, and the commit protocol renames every copy onto its final
// name after setting its times. Each copy must still carry its source's
// modification time (to FAT's 2 s) once the job returned, also on the
// stick as its last flush left it, and the summary must not count the
// times as not kept.
func TestTimesKeptOnFusefat(t *testing.T) {
	s := vstick.New(t, "vfat", 0)
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	want := map[string]time.Time{}
	for i := range 3 {
		name := fmt.Sprintf("f%d.bin", i)
		writeFile(t, filepath.Join(src, name), 10<<10, uint64(i+1))
		mt := time.Date(2019, 3, 14, 15, 9, 26+2*i, 0, time.Local)
		if err := os.Chtimes(filepath.Join(src, name), mt, mt); err != nil {
			t.Fatal(err)
		}
		want[name] = mt
	}
	// Files, not their directory, whose times fusefat does not keep (that
	// is counted as not kept).
	dst := filepath.Join(s.Dir, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for name := range want {
		srcs = append(srcs, filepath.Join(src, name))
	}
	sum, err := Copy(context.Background(), srcs, dst, Options{Preserve: Preserve{Timestamps: true}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 3 || sum.AttrsNotKept != 0 {
		t.Errorf("summary: %d files, %d with attributes not kept; want 3 and 0", sum.Files, sum.AttrsNotKept)
	}
	image := filepath.Join(tmp, "cut.img")
	if _, err := s.Disk.Cut(vdisk.CutOptions{Out: image, Mode: vdisk.CutNone}); err != nil {
		t.Fatal(err)
	}
	replug := filepath.Join(tmp, "replug")
	if err := os.Mkdir(replug, 0o755); err != nil {
		t.Fatal(err)
	}
	vstick.Replug(t, "vfat", image, replug)
	for _, root := range []string{dst, filepath.Join(replug, "dst")} {
		for name, mt := range want {
			fi, err := os.Stat(filepath.Join(root, name))
			if err != nil {
				t.Error(err)
				continue
			}
			if d := fi.ModTime().Sub(mt); d < -2*time.Second || d > 2*time.Second {
				t.Errorf("%s: mtime %v, source's %v", filepath.Join(root, name), fi.ModTime(), mt)
			}
		}
	}
}

//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/units"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// TestMoveSameFSPowerCut moves, within the stick, a file and a tree that
// plain writes left dirty in RAM, then cuts the power right after sure mv
// returned, keeping only what the drive was told to flush: every moved file
// must be there, complete, at its new place, and the summary must count
// the files and bytes the move made durable.
func TestMoveSameFSPowerCut(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := vstick.New(t, kind, 0)
			in := filepath.Join(s.Dir, "in")
			if err := os.Mkdir(in, 0o755); err != nil {
				t.Fatal(err)
			}
			// The target directory is durable before the test begins:
			// what is tested is the moved data.
			if code, _, _ := runSure(t, "sync", s.Dir); code != 0 {
				t.Fatalf("sure sync %s: exit %d", s.Dir, code)
			}
			// Written the way cp writes: nothing flushed.
			file := filepath.Join(s.Dir, "a.bin")
			if err := writeRandom(file, 6<<20); err != nil {
				t.Fatal(err)
			}
			tree := filepath.Join(s.Dir, "tree")
			if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			rels := []string{"sub/g"}
			for i := range 5 {
				rels = append(rels, fmt.Sprintf("f%d", i))
			}
			want := map[string]string{}
			var bytes int64
			for i, rel := range rels {
				size := int64(256<<10 + i*4096)
				p := filepath.Join(tree, rel)
				if err := writeRandom(p, size); err != nil {
					t.Fatal(err)
				}
				e, err := entry(p)
				if err != nil {
					t.Fatal(err)
				}
				want[filepath.Join("in", "tree", rel)] = e
				bytes += size
			}
			e, err := entry(file)
			if err != nil {
				t.Fatal(err)
			}
			want[filepath.Join("in", "a.bin")] = e
			bytes += 6 << 20

			before, err := s.Disk.Stats()
			if err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runSure(t, "mv", "-v", file, tree, in)
			if code != 0 {
				t.Fatalf("sure mv: exit %d", code)
			}
			if after, err := s.Disk.Stats(); err == nil {
				t.Logf("the move sent %d flushes to the drive", after.Flushes-before.Flushes)
			}
			summary := fmt.Sprintf("sure: %d files, %s durable", len(want), units.Bytes(bytes))
			if !strings.Contains(errOut, summary) {
				t.Errorf("the summary does not say %q:\n%s", summary, errOut)
			}
			for rel := range want {
				if line := fmt.Sprintf("-> '%s'\n", filepath.Join(s.Dir, rel)); !strings.Contains(out, line) {
					t.Errorf("-v does not list %s as durable:\n%s", rel, out)
				}
			}

			// The power goes right after sure returned: only what the
			// drive was told to flush is left.
			crash := filepath.Join(t.TempDir(), "crash.img")
			if _, err := s.Disk.Cut(vdisk.CutOptions{Out: crash, Mode: vdisk.CutNone, Yank: true}); err != nil {
				t.Fatal(err)
			}
			s.Remove(t)
			vstick.Replug(t, kind, crash, s.Dir)
			for rel, w := range want {
				got, err := entry(filepath.Join(s.Dir, rel))
				if err != nil || got != w {
					t.Errorf("after the power cut %s is %q (%v), want %q", rel, got, err, w)
				}
			}
			for _, gone := range []string{"a.bin", "tree"} {
				if _, err := os.Lstat(filepath.Join(s.Dir, gone)); err == nil {
					t.Errorf("after the power cut %s is still at its old place too", gone)
				}
			}
		})
	}
}

// TestMoveSameFSFlushFails moves a dirty file within a stick whose next
// flush fails: the data is not known durable, so nothing may be renamed
// and nothing reported; the file stays where it was, whole.
func TestMoveSameFSFlushFails(t *testing.T) {
	s := vstick.New(t, "ext4", 0)
	in := filepath.Join(s.Dir, "in")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runSure(t, "sync", s.Dir); code != 0 {
		t.Fatalf("sure sync %s: exit %d", s.Dir, code)
	}
	file := filepath.Join(s.Dir, "a.bin")
	if err := writeRandom(file, 1<<20); err != nil {
		t.Fatal(err)
	}
	want, err := entry(file)
	if err != nil {
		t.Fatal(err)
	}
	s.Faults(t, vdisk.Faults{FailFlush: 1})
	code, out, errOut := runSure(t, "mv", "-v", file, in)
	if code != exitFailed {
		t.Errorf("sure mv exited with %d, want %d", code, exitFailed)
	}
	if out != "" {
		t.Errorf("files reported durable though the flush failed:\n%s", out)
	}
	// ext4's own journal commit may meet the failing flush first; it then
	// aborts the journal, and sure's flush finds the file system read-only.
	if low := strings.ToLower(errOut); !strings.Contains(low, "input/output error") && !strings.Contains(low, "read-only file system") {
		t.Errorf("the messages do not name the cause:\n%s", errOut)
	}
	if got, err := entry(file); err != nil || got != want {
		t.Errorf("the source is now %q (%v), want it unmoved: %q", got, err, want)
	}
	if _, err := os.Lstat(filepath.Join(in, "a.bin")); err == nil {
		t.Errorf("in/a.bin exists: renamed though its data is not known durable")
	}
}

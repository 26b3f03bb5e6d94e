package commit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// TestFlush runs the protocol on kernel file systems (one syncfs per
// barrier) and on both FUSE ones (one fsync per barrier on exfat-fuse,
// per-file flushes plus the device on fusefat).
func TestFlush(t *testing.T) {
	for _, kind := range []string{"ext4", "xfs", "btrfs", "exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			c := New()
			_, b, why, err := c.Describe(m.Dir)
			if err != nil {
				t.Fatal(err)
			}
			wantBarrier := fsinfo.BarrierSyncFS
			switch kind {
			case "exfat":
				// exfat-fuse flushes everything, its device too, on any fsync.
				wantBarrier = fsinfo.BarrierServerFsync
			case "vfat":
				wantBarrier = fsinfo.BarrierPerFile
				if !strings.Contains(why, m.Device) {
					t.Errorf("on %s the device %s is not flushed: %s", kind, m.Device, why)
				}
			}
			if b != wantBarrier {
				t.Fatalf("barrier on %s = %v (%s), want %v", kind, b, why, wantBarrier)
			}

			old := filepath.Join(m.Dir, "old.txt")
			if err := durable.WriteFile(old, []byte("old content"), 0o644); err != nil {
				t.Fatal(err)
			}
			sub := filepath.Join(m.Dir, "new", "deeper")
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			c.DirCreated(filepath.Join(m.Dir, "new"))
			c.DirCreated(sub)

			stage(t, c, filepath.Join(sub, "a.txt"), "aaa", false)
			stage(t, c, old, "replaced", false)
			kept := filepath.Join(m.Dir, "kept.txt")
			if err := durable.WriteFile(kept, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			stage(t, c, kept, "must not land", true)
			if n, _ := c.Pending(); n != 3 {
				t.Fatalf("Pending = %d, want 3", n)
			}
			// Before Flush nothing is published: the final names hold the
			// old content and the new file does not exist.
			if got, _ := os.ReadFile(old); string(got) != "old content" {
				t.Fatalf("before Flush %s holds %q", old, got)
			}
			if _, err := os.Stat(filepath.Join(sub, "a.txt")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a.txt visible before Flush: %v", err)
			}

			res := c.Flush()
			if len(res) != 3 {
				t.Fatalf("Flush returned %d results, want 3", len(res))
			}
			for _, r := range res {
				switch r.Entry.Final {
				case kept:
					if !r.Exists || r.Err == nil {
						t.Errorf("no-replace onto an existing file: Exists=%v Err=%v", r.Exists, r.Err)
					}
				default:
					if r.Err != nil {
						t.Errorf("%s: %v", r.Entry.Final, r.Err)
					}
				}
			}
			for path, want := range map[string]string{
				filepath.Join(sub, "a.txt"): "aaa", old: "replaced", kept: "keep me",
			} {
				if got, err := os.ReadFile(path); err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", path, got, err, want)
				}
			}
			if left := temps(t, m.Dir); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
			if n, _ := c.Pending(); n != 0 {
				t.Errorf("Pending after Flush = %d", n)
			}
		})
	}
}

func TestAbortPending(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	c := New()
	stage(t, c, filepath.Join(m.Dir, "x"), "x", false)
	stage(t, c, filepath.Join(m.Dir, "y"), "y", false)
	if n, left := c.AbortPending(); n != 2 || len(left) > 0 {
		t.Fatalf("AbortPending = %d, %v; want 2 removed, none left", n, left)
	}
	if left := temps(t, m.Dir); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if res := c.Flush(); len(res) != 0 {
		t.Fatalf("Flush after AbortPending published %d entries", len(res))
	}
	for _, n := range []string{"x", "y"} {
		if _, err := os.Stat(filepath.Join(m.Dir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after abort", n)
		}
	}
}

// TestStepPipelines: on a kernel file system a Step is the data barrier
// of what is staged and the barrier of the renames the Step before made,
// so a file is in place after one Step and reported after the next. On a
// FUSE file system the renames get their own barrier within the Step.
func TestStepPipelines(t *testing.T) {
	for _, kind := range []string{"ext4", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			c := New()
			a, b := filepath.Join(m.Dir, "a"), filepath.Join(m.Dir, "b")
			stage(t, c, a, "aaa", false)
			res := c.Step()
			if kind == "vfat" {
				if len(res) != 1 || res[0].Err != nil || c.Renamed() != 0 {
					t.Fatalf("Step on FUSE: %d results (%v), %d renamed; want a durable at once", len(res), res, c.Renamed())
				}
				return
			}
			if len(res) != 0 || c.Renamed() != 1 {
				t.Fatalf("first Step: %d results, %d renamed; want 0 and 1", len(res), c.Renamed())
			}
			// In place already, not yet reported.
			if got, err := os.ReadFile(a); err != nil || string(got) != "aaa" {
				t.Fatalf("a after the first Step: %q, %v", got, err)
			}
			stage(t, c, b, "bbb", false)
			res = c.Step()
			if len(res) != 1 || res[0].Entry.Final != a || res[0].Err != nil {
				t.Fatalf("second Step: %v; want a durable", res)
			}
			if c.Renamed() != 1 {
				t.Fatalf("after the second Step %d renamed, want b", c.Renamed())
			}
			res = c.Flush()
			if len(res) != 1 || res[0].Entry.Final != b || res[0].Err != nil {
				t.Fatalf("Flush: %v; want b durable", res)
			}
			if c.Renamed() != 0 {
				t.Errorf("Flush left %d renamed", c.Renamed())
			}
		})
	}
}

// TestStepBarrierFails: a Step whose barrier fails (the stick fails its
// cache flush) fails both the files it was to report, which are in place
// but may still be under their temporary names on the media, and the
// files staged for it, whose temporary files are removed.
func TestStepBarrierFails(t *testing.T) {
	s := vstick.New(t, "ext4", 0)
	c := New()
	a, b := filepath.Join(s.Dir, "a"), filepath.Join(s.Dir, "b")
	ea := stage(t, c, a, "aaa", false)
	if res := c.Step(); len(res) != 0 {
		t.Fatalf("first Step: %v", res)
	}
	stage(t, c, b, "bbb", false)
	s.Faults(t, vdisk.Faults{FailFlush: 1})
	res := c.Step()
	if len(res) != 2 {
		t.Fatalf("Step with a failing flush: %d results, want 2: %v", len(res), res)
	}
	for _, r := range res {
		switch {
		case r.Err == nil:
			t.Errorf("%s reported durable by a failed barrier", r.Entry.Final)
		case r.Entry.Final == a && !strings.Contains(r.Err.Error(), "in place but not known durable") ||
			r.Entry.Final == a && !strings.Contains(r.Err.Error(), ea.temp):
			t.Errorf("a: %v; want in place, not known durable, naming its temporary name", r.Err)
		case r.Entry.Final == b && !strings.Contains(r.Err.Error(), "not published"):
			t.Errorf("b: %v; want not published", r.Err)
		}
	}
	if _, err := os.Stat(b); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("b published after its data barrier failed: %v", err)
	}
	// ext4 aborts its journal on the failed flush and turns read-only, so
	// b's temporary file may be left: then its error must say where.
	var errs strings.Builder
	for _, r := range res {
		fmt.Fprintln(&errs, r.Err)
	}
	for _, p := range temps(t, s.Dir) {
		if !strings.Contains(errs.String(), "temporary file '"+p+"' could not be removed") {
			t.Errorf("temporary file %s left and not named: %s", p, errs.String())
		}
	}
	if res := c.Flush(); len(res) != 0 {
		t.Errorf("Flush after the failed Step: %v", res)
	}
}

// TestFlushFewestFlushes: on the FUSE sticks a batch costs the stick two
// cache flushes, one for the data and one for the renames, whatever the
// number of files and directories in it, and after those two everything
// reported is on the media: a power cut that keeps nothing of the
// stick's volatile cache loses none of it.
func TestFlushFewestFlushes(t *testing.T) {
	for _, kind := range []string{"exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			s := vstick.New(t, kind, 0)
			c := New()
			want := map[string]string{}
			for d := range 3 {
				dir := filepath.Join(s.Dir, fmt.Sprintf("d%d", d))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := c.DirCreated(dir); err != nil {
					t.Fatal(err)
				}
				for i := range 20 {
					p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
					want[p] = strings.Repeat(p, i+1)
				}
			}
			before := flushes(t, s)
			for p, content := range want {
				stage(t, c, p, content, false)
			}
			for _, r := range c.Flush() {
				if r.Err != nil {
					t.Fatalf("%s: %v", r.Entry.Final, r.Err)
				}
			}
			if n := flushes(t, s) - before; n != 2 {
				t.Errorf("a batch of %d files in 3 new directories cost %d flushes of the stick, want 2", len(want), n)
			}
			img := filepath.Join(t.TempDir(), "cut.img")
			if _, err := s.Disk.Cut(vdisk.CutOptions{Out: img, Mode: vdisk.CutNone, Yank: true}); err != nil {
				t.Fatal(err)
			}
			s.Remove(t)
			m := vstick.Replug(t, kind, img, t.TempDir())
			for p, content := range want {
				rel, _ := filepath.Rel(s.Dir, p)
				if got, err := os.ReadFile(filepath.Join(m.Dir, rel)); err != nil || string(got) != content {
					t.Errorf("after the cut %s holds %d bytes (%v), want %d", rel, len(got), err, len(content))
				}
			}
		})
	}
}

// flushes is how many cache flushes the stick has been asked for.
func flushes(t *testing.T, s *vstick.Stick) int64 {
	t.Helper()
	st, err := s.Disk.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.Flushes
}

// TestReplaceFlushedAtOnce: on exfat-fuse a rename onto an existing file
// is flushed before anything else is written, since the server hands the
// replaced file's clusters to the next file written: a batch of k
// replacements costs the stick k flushes more than a batch of new files.
func TestReplaceFlushedAtOnce(t *testing.T) {
	s := vstick.New(t, "exfat", 0)
	c := New()
	const k = 5
	batch := func(name string, size int) int64 {
		before := flushes(t, s)
		for i := range k {
			stage(t, c, filepath.Join(s.Dir, fmt.Sprintf("%s%d", name, i)), strings.Repeat("x", size+i), false)
		}
		for _, r := range c.Flush() {
			if r.Err != nil {
				t.Fatalf("%s: %v", r.Entry.Final, r.Err)
			}
		}
		return flushes(t, s) - before
	}
	batch("f", 1) // the files to replace
	if n := batch("f", 1000); n != k+2 {
		t.Errorf("%d files replacing others cost %d flushes, want %d", k, n, k+2)
	}
	if n := batch("g", 1); n != 2 {
		t.Errorf("%d new files cost %d flushes, want 2", k, n)
	}
}

//go:build linux

package copier

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sure-tools/sure/filter"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// contents maps every regular file under root (relative) to its bytes.
func contents(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cut is one crash image taken while the job runs, and what it must hold.
type cut struct {
	at, image string
	mode      string
	seed      uint64
}

// TestDeleteOnlyAfterBarrier mirrors a new tree onto an old one with
// Delete on the virtual stick, taking power-cut images (the stick goes
// on) while files are copied, once the copy is durable but before any
// removal, after the removals but before their barrier, and at the end.
// Every image must hold every file of the old tree the new one does not
// replace until the removals started; from the point the removals start
// every file of the new tree is there, complete; the excluded file is
// never removed; and once the job returned the extraneous files are gone
// for good.
func TestDeleteOnlyAfterBarrier(t *testing.T) {
	for _, kind := range []string{"ext4", "exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			s := vstick.New(t, kind, 0)
			tmp := t.TempDir()
			old, src := filepath.Join(tmp, "old"), filepath.Join(tmp, "src")
			writeFile(t, filepath.Join(old, "keep.bin"), 300<<10, 1)
			writeFile(t, filepath.Join(old, "gone.bin"), 200<<10, 2)
			writeFile(t, filepath.Join(old, "olddir", "x.bin"), 100<<10, 3)
			writeFile(t, filepath.Join(old, "olddir", "deeper", "y.bin"), 10<<10, 4)
			writeFile(t, filepath.Join(old, "skip.log"), 5<<10, 5)
			writeFile(t, filepath.Join(src, "keep.bin"), 250<<10, 11)
			for i := range 6 {
				writeFile(t, filepath.Join(src, "sub", fmt.Sprintf("n%d.bin", i)), 64<<10, uint64(20+i))
			}
			dst := filepath.Join(s.Dir, "mir")
			if _, err := Copy(context.Background(), []string{old + "/"}, dst, Options{Recursive: true}); err != nil {
				t.Fatal(err)
			}
			oldTree, newTree := contents(t, old), contents(t, src)

			var mu sync.Mutex
			var cuts []cut
			take := func(at, mode string, seed uint64) {
				mu.Lock()
				defer mu.Unlock()
				c := cut{at: at, image: filepath.Join(tmp, fmt.Sprintf("cut%d.img", len(cuts))), mode: mode, seed: seed}
				if _, err := s.Disk.Cut(vdisk.CutOptions{Out: c.image, Mode: mode, Seed: seed}); err != nil {
					t.Error(err)
					return
				}
				cuts = append(cuts, c)
			}
			started := 0
			testHookFileStart = func(string) {
				mu.Lock()
				started++
				n := started
				mu.Unlock()
				if n == 4 {
					take("copying", vdisk.CutSubset, 1)
					take("copying", vdisk.CutPrefix, 2)
				}
			}
			testHookBeforeDelete = func() {
				take("before delete", vdisk.CutNone, 0)
				take("before delete", vdisk.CutAll, 0)
			}
			testHookDeleted = func() {
				take("deleted", vdisk.CutSubset, 3)
				take("deleted", vdisk.CutPrefix, 4)
			}
			defer func() { testHookFileStart, testHookBeforeDelete, testHookDeleted = nil, nil, nil }()

			var fl filter.List
			if err := fl.Exclude("*.log"); err != nil {
				t.Fatal(err)
			}
			sum, err := Copy(context.Background(), []string{src + "/"}, dst, Options{Recursive: true, Delete: true, Filter: &fl, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Removed != 5 {
				t.Errorf("removed %d entries, want 5 (gone.bin, olddir and the three beneath it)", sum.Removed)
			}
			take("returned", vdisk.CutNone, 0)
			if len(cuts) != 7 {
				t.Fatalf("%d cuts taken, want 7: %+v", len(cuts), cuts)
			}

			for i, c := range cuts {
				dir := filepath.Join(tmp, fmt.Sprintf("replug%d", i))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				vstick.Replug(t, kind, c.image, dir)
				got := contents(t, filepath.Join(dir, "mir"))
				where := fmt.Sprintf("cut %s (%s)", c.at, c.mode)
				for rel, data := range oldTree {
					g, ok := got[rel]
					_, replaced := newTree[rel]
					switch {
					case rel == "skip.log":
						if !bytes.Equal(g, data) {
							t.Errorf("%s: the excluded %s is %d bytes (%v), want it kept", where, rel, len(g), ok)
						}
					case replaced:
						if !bytes.Equal(g, data) && !bytes.Equal(g, newTree[rel]) {
							t.Errorf("%s: %s holds %d bytes, neither the old nor the new content", where, rel, len(g))
						}
					case c.at == "copying" || c.at == "before delete":
						if !bytes.Equal(g, data) {
							t.Errorf("%s: %s of the old tree is lost (%d bytes, present %v) before the removals began", where, rel, len(g), ok)
						}
					case c.at == "returned" && ok:
						t.Errorf("%s: %s is still there after the job returned", where, rel)
					case ok && !bytes.Equal(g, data):
						t.Errorf("%s: %s is torn", where, rel)
					}
				}
				for rel, data := range newTree {
					g, ok := got[rel]
					switch {
					case c.at != "copying" && !bytes.Equal(g, data):
						t.Errorf("%s: %s of the new tree is %d bytes (present %v), want it complete", where, rel, len(g), ok)
					case ok && !bytes.Equal(g, data) && !bytes.Equal(g, oldTree[rel]):
						t.Errorf("%s: %s is torn", where, rel)
					}
				}
				if c.at == "returned" {
					if _, err := os.Lstat(filepath.Join(dir, "mir", "olddir")); err == nil {
						t.Errorf("%s: olddir is still there", where)
					}
				}
			}
		})
	}
}

// TestDeleteNotAfterFailure: a mirror in which a file fails, or which is
// interrupted, removes nothing from the destination.
func TestDeleteNotAfterFailure(t *testing.T) {
	for _, how := range []string{"failed", "interrupted"} {
		t.Run(how, func(t *testing.T) {
			tmp := t.TempDir()
			src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
			for i := range 4 {
				writeFile(t, filepath.Join(src, fmt.Sprintf("f%d", i)), 4096, uint64(i))
			}
			writeFile(t, filepath.Join(dst, "extra"), 100, 9)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			switch how {
			case "failed":
				// A source that is no longer a file when its copy starts
				// fails it.
				testHookFileStart = func(p string) {
					if filepath.Base(p) == "f2" {
						if err := os.Remove(p); err != nil {
							t.Error(err)
						}
						if err := os.Mkdir(p, 0o755); err != nil {
							t.Error(err)
						}
					}
				}
				defer func() { testHookFileStart = nil }()
			case "interrupted":
				testHookFileStart = func(string) { cancel() }
				defer func() { testHookFileStart = nil }()
			}
			called := false
			testHookBeforeDelete = func() { called = true }
			defer func() { testHookBeforeDelete = nil }()
			sum, err := Copy(ctx, []string{src + "/"}, dst, Options{Recursive: true, Delete: true, Workers: 1})
			if err == nil {
				t.Fatalf("the job succeeded: %+v", sum)
			}
			if _, err := os.Lstat(filepath.Join(dst, "extra")); err != nil || called || sum.Removed != 0 {
				t.Errorf("after a %s job: extra %v, delete pass run %v, %d removed; want it kept, not run", how, err, called, sum.Removed)
			}
		})
	}
}

// TestDeleteKeepsDirTimes: with -a, a mirrored directory that lost
// entries still has its source's modification time, as rsync -a
// --delete leaves it: the removals come after the times were set.
func TestDeleteKeepsDirTimes(t *testing.T) {
	tmp := t.TempDir()
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	writeFile(t, filepath.Join(src, "sub", "a"), 100, 1)
	writeFile(t, filepath.Join(dst, "sub", "extra"), 100, 2)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "sub"), old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(context.Background(), []string{src + "/"}, dst, Options{Archive: true, Delete: true}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "sub"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "sub", "extra")); err == nil {
		t.Error("dst/sub/extra is still there")
	}
	if !fi.ModTime().Equal(old) {
		t.Errorf("dst/sub modified %v, want the source's %v", fi.ModTime(), old)
	}
}

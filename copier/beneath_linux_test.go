//go:build linux

package copier

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// A stick is untrusted: links already on it must never carry a write out
// of the destination.

// hostileTree makes src/tree (sub/evil and ok), an empty outside directory
// the stick's links point to, and dst, on base (a temp dir if "").
func hostileTree(t *testing.T, base string) (src, dst, outside string) {
	t.Helper()
	if base == "" {
		base = t.TempDir()
	}
	src, dst, outside = filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "outside")
	for _, d := range []string{src, dst, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(src, "tree", "sub", "evil"), 100, 1)
	writeFile(t, filepath.Join(src, "tree", "ok"), 100, 2)
	return src, dst, outside
}

// nothingIn fails the test if anything is in dir.
func nothingIn(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s appeared outside the destination", filepath.Join(dir, e.Name()))
	}
}

func failedWith(t *testing.T, rec *recorder, dst, msg string) {
	t.Helper()
	for _, e := range rec.events() {
		if e.kind == "failed" && e.dst == dst && e.err != nil && strings.Contains(e.err.Error(), msg) {
			return
		}
	}
	t.Errorf("no failure of %s saying %q in %v", dst, msg, rec.events())
}

func TestPlantedDirSymlinkRefused(t *testing.T) {
	for _, c := range []struct {
		name, plant string // the planted link, relative to dst
	}{
		{"nested", "tree/sub"},
		{"top", "tree"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, dst, outside := hostileTree(t, "")
			link := filepath.Join(dst, c.plant)
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			_, err := Copy(context.Background(), []string{filepath.Join(src, "tree")}, dst+"/", Options{Recursive: true, Events: rec})
			if err == nil {
				t.Error("copy through a planted link reported success")
			}
			nothingIn(t, outside)
			failedWith(t, rec, link, "cannot overwrite non-directory '"+link+"' with directory")
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the planted link was changed: %v %v", fi, err)
			}
			if c.name == "nested" {
				sameFile(t, filepath.Join(src, "tree", "ok"), filepath.Join(dst, "tree", "ok"))
			}
		})
	}
}

func TestPlantedFileInPlaceOfDirRefused(t *testing.T) {
	src, dst, _ := hostileTree(t, "")
	writeFile(t, filepath.Join(dst, "tree", "sub"), 10, 3)
	rec := &recorder{}
	_, err := Copy(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{Recursive: true, Events: rec})
	if err == nil {
		t.Error("copy over a file in place of a directory reported success")
	}
	failedWith(t, rec, filepath.Join(dst, "tree", "sub"), "cannot overwrite non-directory")
}

// A link planted at a file's final name is replaced, link and all; what it
// points to is never written.
func TestPlantedFileSymlinkReplaced(t *testing.T) {
	for _, c := range []struct {
		name    string
		archive bool
	}{{"r", false}, {"a", true}} {
		t.Run(c.name, func(t *testing.T) {
			src, dst, outside := hostileTree(t, "")
			victim := filepath.Join(outside, "victim")
			if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, plant := range []string{"tree/ok", "tree/sub/evil"} {
				link := filepath.Join(dst, plant)
				if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(victim, link); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Copy(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{Recursive: true, Archive: c.archive}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"tree/ok", "tree/sub/evil"} {
				fi, err := os.Lstat(filepath.Join(dst, f))
				if err != nil || !fi.Mode().IsRegular() {
					t.Errorf("%s is not a regular file: %v %v", f, fi, err)
					continue
				}
				sameFile(t, filepath.Join(src, f), filepath.Join(dst, f))
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "keep\n" {
				t.Errorf("the link's target was written: %q %v", b, err)
			}
			if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("the link's target changed mode: %v %v", fi, err)
			}
		})
	}
}

// swapForLink replaces the directory dir by a symlink to outside, keeping
// the directory aside.
func swapForLink(dir, outside string) error {
	if err := os.Rename(dir, dir+".aside"); err != nil {
		return err
	}
	return os.Symlink(outside, dir)
}

// The window between the checks of a directory and the writes into it,
// taken deterministically: a hook swaps each directory for a link to
// outside right after it was accepted.
func TestSwapAfterCheckRefused(t *testing.T) {
	for _, c := range []struct {
		name     string
		existing bool // the directories are on the stick already
	}{{"created", false}, {"existing", true}} {
		t.Run(c.name, func(t *testing.T) {
			src, dst, outside := hostileTree(t, "")
			if c.existing {
				if err := os.MkdirAll(filepath.Join(dst, "tree", "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			sub := filepath.Join(dst, "tree", "sub")
			var swapped atomic.Bool
			testHookDirReady = func(d string) {
				if d == sub && !swapped.Swap(true) {
					if err := swapForLink(d, outside); err != nil {
						t.Error(err)
					}
				}
			}
			t.Cleanup(func() { testHookDirReady = nil })
			_, err := Copy(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{Recursive: true})
			if !swapped.Load() {
				t.Fatal("the hook never ran")
			}
			if err == nil {
				t.Error("copy into a swapped directory reported success")
			}
			nothingIn(t, outside)
		})
	}
}

// The same race taken as it comes: directories are swapped for links and
// back, a bounded number of times, while files are copied into them.
// Whatever the interleaving, nothing may land outside.
func TestSwapLoopNothingOutside(t *testing.T) {
	base := t.TempDir()
	src, dst, outside := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "outside")
	for _, d := range []string{dst, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const dirs, files = 4, 100
	for d := range dirs {
		for f := range files {
			writeFile(t, filepath.Join(src, "tree", string(rune('a'+d)), string(rune('a'+f%26))+string(rune('a'+f/26))), 64, uint64(f))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000 && ctx.Err() == nil; i++ {
			d := filepath.Join(dst, "tree", string(rune('a'+i%dirs)))
			if swapForLink(d, outside) == nil {
				os.Remove(d)
				os.Rename(d+".aside", d)
			}
		}
	}()
	Copy(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{Recursive: true, Workers: 4})
	cancel()
	wg.Wait()
	nothingIn(t, outside)
}

// A move keeps the source of every file it refused to write.
func TestMovePlantedLinkKeepsSources(t *testing.T) {
	src, dst, outside := hostileTree(t, "")
	if err := os.MkdirAll(filepath.Join(dst, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dst, "tree", "sub")); err != nil {
		t.Fatal(err)
	}
	_, err := Move(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{})
	if err == nil {
		t.Error("move through a planted link reported success")
	}
	nothingIn(t, outside)
	if _, err := os.Stat(filepath.Join(src, "tree", "sub", "evil")); err != nil {
		t.Errorf("the source of a refused file is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(src, "tree", "ok")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the source of a moved file is still there: %v", err)
	}
	sameFileContent(t, filepath.Join(dst, "tree", "ok"), 100, 2)
}

// sameFileContent checks path against what writeFile(size, seed) wrote.
func sameFileContent(t *testing.T, path string, size int64, seed uint64) {
	t.Helper()
	want := filepath.Join(t.TempDir(), "want")
	writeFile(t, want, size, seed)
	sameFile(t, want, path)
}

// On a real stick file system (ext4 on a loop device), planted links and
// the swap race alike.
func TestPlantedLinksExt4(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	src, dst, outside := hostileTree(t, m.Dir)
	if err := os.MkdirAll(filepath.Join(dst, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dst, "tree", "sub")); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{Recursive: true, Archive: true}); err == nil {
		t.Error("copy through a planted link reported success")
	}
	nothingIn(t, outside)
	if err := os.Remove(filepath.Join(dst, "tree", "sub")); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dst, "tree", "sub")
	testHookDirReady = func(d string) {
		if d == sub {
			swapForLink(d, outside)
		}
	}
	t.Cleanup(func() { testHookDirReady = nil })
	if _, err := Copy(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{Recursive: true, Archive: true}); err == nil {
		t.Error("copy into a swapped directory reported success")
	}
	nothingIn(t, outside)
}

// swapOnDurable swaps the directory of one file for a link to outside
// as soon as the file is reported durable, before it is read back.
type swapOnDurable struct {
	recorder
	dst, outside string
	swapped      bool
}

func (s *swapOnDurable) Durable(src, dst string, size int64) {
	s.recorder.Durable(src, dst, size)
	if dst == s.dst && !s.swapped {
		s.swapped = swapForLink(filepath.Dir(dst), s.outside) == nil
	}
}

// Verify reads back what was written, not a file a link swapped in since
// leads to, even one holding the same bytes.
func TestVerifyNotThroughSwappedLink(t *testing.T) {
	src, dst, outside := hostileTree(t, "")
	evil := filepath.Join(src, "tree", "sub", "evil")
	b, err := os.ReadFile(evil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "evil"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	ev := &swapOnDurable{dst: filepath.Join(dst, "tree", "sub", "evil"), outside: outside}
	sum, err := Copy(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{Recursive: true, Verify: true, Events: ev})
	if !ev.swapped {
		t.Fatal("the swap never happened")
	}
	// The directory swapped away fails too: its mode cannot be set.
	if err == nil || sum.Mismatched != 1 || sum.Verified != 1 {
		t.Errorf("Copy = %v, %d verified, %d mismatched; want the swapped file not verified", err, sum.Verified, sum.Mismatched)
	}
}

// swapSrcOnDurable swaps the source directory of one file for a link to
// outside as soon as its copy is reported durable, before the move
// removes the source.
type swapSrcOnDurable struct {
	recorder
	src, outside string
	swapped      bool
}

func (s *swapSrcOnDurable) Durable(src, dst string, size int64) {
	s.recorder.Durable(src, dst, size)
	if src == s.src && !s.swapped {
		s.swapped = swapForLink(filepath.Dir(src), s.outside) == nil
	}
}

// A move from an untrusted stick removes its sources without following
// links either: a source directory swapped for a link to elsewhere
// after the copy must not make it remove the file of the same name there.
func TestMoveRemovesNothingThroughSwappedLink(t *testing.T) {
	src, dst, outside := hostileTree(t, "")
	precious := filepath.Join(outside, "evil")
	if err := os.WriteFile(precious, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An existing tree: the move merges into it file by file.
	if err := os.MkdirAll(filepath.Join(dst, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	ev := &swapSrcOnDurable{src: filepath.Join(src, "tree", "sub", "evil"), outside: outside}
	_, err := Move(context.Background(), []string{filepath.Join(src, "tree")}, dst, Options{Events: ev})
	if !ev.swapped {
		t.Fatal("the swap never happened")
	}
	if err == nil {
		t.Error("a move whose source could not be removed reported success")
	}
	if b, err := os.ReadFile(precious); err != nil || string(b) != "precious\n" {
		t.Errorf("a file outside was removed or changed: %q %v", b, err)
	}
	sameFileContent(t, filepath.Join(dst, "tree", "sub", "evil"), 100, 1)
}

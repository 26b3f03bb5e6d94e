//go:build linux

package copier

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// treeOf reads every file and link under dir, by relative path: the
// content of files, "-> target" of links, "/" for directories.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == ".":
		case d.IsDir():
			m[rel] = "/"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m[rel] = "-> " + target
		case !d.Type().IsRegular():
			m[rel] = d.Type().String()
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// makeTree writes files (by relative path) under dir.
func makeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// trees are an old tree at the target and a new one to copy over it:
// files changed, added and gone, in several directories.
func trees(n int) (old, new map[string]string) {
	old, new = map[string]string{}, map[string]string{}
	for i := range n {
		dir := fmt.Sprintf("d%d", i%4)
		old[fmt.Sprintf("%s/f%02d", dir, i)] = strings.Repeat(fmt.Sprintf("old %d ", i), 100+i*50)
		new[fmt.Sprintf("%s/f%02d", dir, i)] = strings.Repeat(fmt.Sprintf("new %d ", i), 120+i*50)
	}
	old["only-old/x"] = "gone in the new tree"
	new["only-new/y"] = strings.Repeat("added ", 5000)
	return old, new
}

// stages lists the staged trees in dir.
func stages(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), stagePrefix) {
			s = append(s, e.Name())
		}
	}
	return s
}

// withDirs adds the directories of files to a tree map, as treeOf
// lists them.
func withDirs(files map[string]string) map[string]string {
	m := map[string]string{}
	for rel, c := range files {
		m[rel] = c
		for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
			m[d] = "/"
		}
	}
	return m
}

// TestAtomicCopy replaces an existing tree and makes a new one on ext4:
// the target is the source's tree exactly (files of the old tree gone),
// no staged tree is left, the events name final paths, and a stale stage
// of a dead job is removed while one whose job still holds the directory
// is not.
func TestAtomicCopy(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	oldFiles, newFiles := trees(12)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, newFiles)
	target := filepath.Join(m.Dir, "tree")
	makeTree(t, target, oldFiles)
	stale := filepath.Join(m.Dir, newStageName())
	makeTree(t, stale, map[string]string{"a/b": "left by a killed job"})

	rec := &recorder{}
	sum, err := Copy(context.Background(), []string{src}, target, Options{Recursive: true, NoTargetDir: true, Atomic: true, Events: rec})
	if err != nil {
		t.Fatalf("Copy: %v (%+v)", err, sum)
	}
	if !sum.Published || sum.Files != len(newFiles) {
		t.Errorf("summary %+v: want published, %d files", sum, len(newFiles))
	}
	if got := treeOf(t, target); !sameTree(got, withDirs(newFiles)) {
		t.Errorf("target holds %d entries, want the new tree's %d", len(got), len(withDirs(newFiles)))
	}
	if s := stages(t, m.Dir); len(s) != 0 {
		t.Errorf("staged trees left: %v", s)
	}
	for _, e := range rec.events() {
		if (e.kind == "durable" || e.kind == "copying") && !strings.HasPrefix(e.dst, target+"/") {
			t.Errorf("durable event names %s, not a path in %s", e.dst, target)
		}
	}

	// Into a directory: DEST/src appears at once. Another job holds the
	// directory: its stage stays.
	into := filepath.Join(m.Dir, "into")
	if err := os.Mkdir(into, 0o755); err != nil {
		t.Fatal(err)
	}
	busy := filepath.Join(into, newStageName())
	makeTree(t, busy, map[string]string{"c": "another job's"})
	f, err := os.Open(into)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	if sum, err := Copy(context.Background(), []string{src}, into, Options{Recursive: true, Atomic: true}); err != nil || !sum.Published {
		t.Fatalf("Copy into a directory: %v (%+v)", err, sum)
	}
	if got := treeOf(t, filepath.Join(into, "src")); !sameTree(got, withDirs(newFiles)) {
		t.Errorf("%s/src is not the new tree", into)
	}
	if s := stages(t, into); len(s) != 1 || s[0] != filepath.Base(busy) {
		t.Errorf("stages in %s: %v, want only the busy %s", into, s, filepath.Base(busy))
	}
}

// TestAtomicNothingPublished: a job with one file that cannot be copied
// (a FIFO) and a stopped job leave the old tree whole and no stage.
func TestAtomicNothingPublished(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	oldFiles, newFiles := trees(8)
	target := filepath.Join(m.Dir, "tree")
	makeTree(t, target, oldFiles)
	want := treeOf(t, target)

	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, newFiles)
	if err := syscall.Mkfifo(filepath.Join(src, "d1", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := Copy(context.Background(), []string{src}, target, Options{Recursive: true, NoTargetDir: true, Atomic: true})
	if err == nil || sum.Published || sum.Files != 0 || sum.Failed == 0 {
		t.Errorf("with a FIFO: %v, %+v: want a failure, nothing published or counted durable", err, sum)
	}
	if got := treeOf(t, target); !sameTree(got, want) {
		t.Error("the old tree changed")
	}
	if s := stages(t, m.Dir); len(s) != 0 {
		t.Errorf("staged trees left: %v", s)
	}

	os.Remove(filepath.Join(src, "d1", "fifo"))
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	testHookFileStart = func(string) {
		if started.Add(1) == 4 {
			cancel()
		}
	}
	defer func() { testHookFileStart = nil }()
	sum, err = Copy(ctx, []string{src}, target, Options{Recursive: true, NoTargetDir: true, Atomic: true, Workers: 1})
	testHookFileStart = nil
	if !sum.Interrupted || sum.Published || !errors.Is(err, context.Canceled) {
		t.Errorf("stopped: %v, %+v: want interrupted, nothing published", err, sum)
	}
	if got := treeOf(t, target); !sameTree(got, want) {
		t.Error("the old tree changed")
	}
	if s := stages(t, m.Dir); len(s) != 0 {
		t.Errorf("staged trees left: %v", s)
	}
}

// TestAtomicRefusedOnFUSE: exfat-fuse and fusefat cannot swap two
// directories; --atomic is refused, naming the file system, before
// anything is written.
func TestAtomicRefusedOnFUSE(t *testing.T) {
	for _, kind := range []string{"exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			src := filepath.Join(t.TempDir(), "src")
			makeTree(t, src, map[string]string{"a": "a"})
			before := treeOf(t, m.Dir)
			_, err := Copy(context.Background(), []string{src}, filepath.Join(m.Dir, "tree"), Options{Recursive: true, Atomic: true})
			var ae *AtomicRefusedError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), kind) || !strings.Contains(err.Error(), "nothing was written") {
				t.Fatalf("got %v, want a refusal naming %s", err, kind)
			}
			t.Log(err)
			if got := treeOf(t, m.Dir); !sameTree(got, before) {
				t.Errorf("the destination changed: %v", got)
			}
		})
	}
}

// TestAtomicPowerCuts copies a new tree over an old one on the virtual
// stick and takes crash images (power cuts, in-order and reordering
// cache, torn sectors) while the files are staged, once the stage is
// durable, after the swap, after its flush and after the old tree's
// removal. Each image, mounted after the run, holds at the target the
// whole old tree or the whole new one, never a mix; the new one from the
// publication's flush on, the old one before the swap.
func TestAtomicPowerCuts(t *testing.T) {
	for _, kind := range []string{"ext4", "xfs", "btrfs"} {
		t.Run(kind, func(t *testing.T) {
			fsimage.Require(t, kind)
			oldFiles, newFiles := trees(24)
			oldTree, newTree := withDirs(oldFiles), withDirs(newFiles)
			type cut struct {
				img, phase string
			}
			var cuts []cut
			imgs := t.TempDir()
			// Registered before the stick, so run after it is unmounted:
			// a clone of a mounted xfs or btrfs would not mount beside it.
			t.Cleanup(func() {
				counts := map[string]int{}
				for _, c := range cuts {
					counts[checkCut(t, kind, c.img, c.phase, oldTree, newTree)]++
					os.Remove(c.img)
				}
				t.Logf("%d crash images: %v", len(cuts), counts)
			})
			stick := newStick(t, kind, 0, vdisk.Faults{})
			target := filepath.Join(stick.Dir, "tree")
			makeTree(t, target, oldFiles)
			if err := syncAll(stick.Dev); err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(t.TempDir(), "src")
			makeTree(t, src, newFiles)

			take := func(phase string) {
				for i, mode := range []string{vdisk.CutPrefix, vdisk.CutSubset} {
					img := filepath.Join(imgs, fmt.Sprintf("%d.img", len(cuts)))
					if _, err := stick.Disk.Cut(vdisk.CutOptions{Out: img, Mode: mode, Seed: uint64(len(cuts)), Tear: i == 1}); err != nil {
						t.Error(err)
						return
					}
					cuts = append(cuts, cut{img, phase})
				}
			}
			var started atomic.Int32
			testHookFileStart = func(string) {
				if n := started.Add(1); n == 9 || n == 20 {
					take("staging")
				}
			}
			testHookPublish = take
			defer func() { testHookFileStart, testHookPublish = nil, nil }()
			sum, err := Copy(context.Background(), []string{src}, target, Options{
				Recursive: true, NoTargetDir: true, Atomic: true, Workers: 1, BatchFiles: 5})
			testHookFileStart, testHookPublish = nil, nil
			if err != nil || !sum.Published {
				t.Fatalf("Copy: %v (%+v)", err, sum)
			}
			take("returned")
		})
	}
}

// syncAll makes everything written so far durable on the stick.
func syncAll(dev string) error {
	unix.Sync()
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// checkCut mounts a crash image and says what the target holds: "old" or
// "new", failing the test for a mix, or for the wrong one at phase.
func checkCut(t *testing.T, kind, img, phase string, oldTree, newTree map[string]string) string {
	t.Helper()
	if out, err := fsimage.Fsck(kind, img); err != nil {
		t.Errorf("%s cut at %s: %v\n%s", kind, phase, err, out)
	}
	mnt := img + ".mnt"
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(mnt)
	m, err := fsimage.MountImage(kind, img, mnt)
	if err != nil {
		t.Errorf("%s cut at %s: the image does not mount: %v", kind, phase, err)
		return "unmountable"
	}
	defer func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	}()
	got := treeOf(t, filepath.Join(mnt, "tree"))
	var is string
	switch {
	case sameTree(got, oldTree):
		is = "old"
	case sameTree(got, newTree):
		is = "new"
	default:
		var diff []string
		for k := range got {
			if oldTree[k] != got[k] && newTree[k] != got[k] {
				diff = append(diff, k)
			}
		}
		sort.Strings(diff)
		t.Errorf("%s cut at %s: the target is neither tree (%d entries; matching neither: %v)", kind, phase, len(got), diff)
		return "mix"
	}
	switch phase {
	case "staging", "staged":
		if is != "old" {
			t.Errorf("%s cut at %s: the new tree is in place before the swap", kind, phase)
		}
	case "published", "removed", "returned":
		if is != "new" {
			t.Errorf("%s cut at %s: the old tree is back after the swap was flushed", kind, phase)
		}
	}
	return phase + ":" + is
}

// TestAtomicMove moves a tree over an old one onto another file system:
// the target is the new tree, the source is gone, no stage is left; a
// file that cannot be copied keeps the whole source and the old tree.
func TestAtomicMove(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	oldFiles, newFiles := trees(6)
	target := filepath.Join(m.Dir, "tree")
	makeTree(t, target, oldFiles)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, newFiles)
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := treeOf(t, src)
	if sum, err := Move(context.Background(), []string{src}, target, Options{NoTargetDir: true, Atomic: true}); err == nil || sum.Published {
		t.Fatalf("with a FIFO: %v (%+v), want a failure and nothing published", err, sum)
	}
	if got := treeOf(t, src); !sameTree(got, want) {
		t.Error("the source changed though nothing was published")
	}
	if got := treeOf(t, target); !sameTree(got, withDirs(oldFiles)) {
		t.Error("the old tree changed though nothing was published")
	}

	os.Remove(filepath.Join(src, "fifo"))
	sum, err := Move(context.Background(), []string{src}, target, Options{NoTargetDir: true, Atomic: true})
	if err != nil || !sum.Published {
		t.Fatalf("Move: %v (%+v)", err, sum)
	}
	if got := treeOf(t, target); !sameTree(got, withDirs(newFiles)) {
		t.Error("the target is not the new tree")
	}
	if _, err := os.Lstat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the source is still there: %v", err)
	}
	if s := stages(t, m.Dir); len(s) != 0 {
		t.Errorf("staged trees left: %v", s)
	}
}

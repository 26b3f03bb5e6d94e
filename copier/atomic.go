package copier

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
)

// An atomic tree copy (Options.Atomic) is staged under a hidden name
// beside its target, made durable like any copy, then put in place with
// one rename: an exchange with the old tree when there is one, which is
// removed only once the exchange is durable. After a crash at any point
// the target is the whole old tree or the whole new one; a staged tree
// left behind is removed by the next atomic job in that directory.

// stagePrefix starts the name of a staged tree; a random part and
// durable.TempSuffix follow.
const stagePrefix = ".sure-tree-"

// isStage reports whether a base name is one of sure's staged trees.
func isStage(name string) bool {
	return strings.HasPrefix(name, stagePrefix) && strings.HasSuffix(name, durable.TempSuffix) &&
		len(name) == len(stagePrefix)+16+len(durable.TempSuffix)
}

func newStageName() string {
	return stagePrefix + strings.TrimPrefix(durable.NewTempName(), durable.TempPrefix)
}

// AtomicRefusedError says that a file system cannot take a tree in one
// step; nothing was written.
type AtomicRefusedError struct {
	Target string
	FS     string // the file system, as the user knows it
	Why    string
}

func (e *AtomicRefusedError) Error() string {
	return fmt.Sprintf("cannot copy to '%s' atomically: %s %s; nothing was written", e.Target, e.FS, e.Why)
}

// fsName names a mount for a message: its type, and its server's kind.
func fsName(m fsinfo.Mount) string {
	if m.IsFUSE() {
		return string(fsinfo.KindOf(m))
	}
	return m.FSType
}

// checkAtomic refuses a job --atomic cannot run, before anything is
// written: it returns the source directory and the target tree.
func checkAtomic(srcs []string, dest string, destIsDir bool, opt jobSpec) (string, string, error) {
	if len(srcs) != 1 {
		return "", "", &UsageError{"--atomic copies one directory at a time"}
	}
	switch {
	case opt.Parents:
		return "", "", &UsageError{"--atomic does not go with --parents"}
	case opt.Backup != BackupNone:
		return "", "", &UsageError{"--atomic replaces the whole tree: it does not go with --backup"}
	case opt.NoClobber || opt.Update != UpdateAll || opt.Confirm != nil:
		return "", "", &UsageError{"--atomic replaces the whole tree: it does not go with -n, -u or -i"}
	case opt.Manifest != "" || opt.man != nil:
		// The manifest would name the staged paths.
		return "", "", &UsageError{"--atomic does not go with --manifest"}
	}
	src := srcs[0]
	stat := os.Lstat
	if opt.followOperand() {
		stat = os.Stat
	}
	info, err := stat(src)
	if err != nil {
		return "", "", err
	}
	if !info.IsDir() {
		return "", "", &UsageError{fmt.Sprintf("--atomic copies a directory, and '%s' is not one", src)}
	}
	if !opt.Recursive {
		return "", "", &UsageError{fmt.Sprintf("-r not specified; omitting directory '%s'", src)}
	}
	target := targetFor(src, dest, destIsDir)
	m, err := fsinfo.ForPath(filepath.Dir(target))
	if err != nil {
		return "", "", err
	}
	if why := fsinfo.CapsOf(m).NoDurableSwap; why != "" {
		return "", "", &AtomicRefusedError{Target: target, FS: fsName(m), Why: why}
	}
	return src, target, nil
}

// testHookPublish, set by tests, runs at each phase of the publication:
// "staged" (the staged tree is durable), "swapped" (renamed into place,
// not yet flushed), "published" (in place and durable), "removed" (the
// old tree removed, flushed): tests cut the power there.
var testHookPublish func(phase string)

// copyAtomic copies the directory srcs[0] as Copy would, staged and put
// in place at once. A move (opt.move) removes its sources only once the
// new tree is durable in place.
func copyAtomic(ctx context.Context, srcs []string, dest string, destIsDir bool, opt jobSpec) (Summary, error) {
	src, target, err := checkAtomic(srcs, dest, destIsDir, opt)
	var ue *UsageError
	var ae *AtomicRefusedError
	if errors.As(err, &ue) || errors.As(err, &ae) {
		return Summary{}, err
	}
	// Failures before anything is written are told as cp tells them.
	failed := func(err error) (Summary, error) {
		opt.Events.Failed(srcs[0], target, err)
		return Summary{Failed: 1, AtomicTarget: target}, err
	}
	if err != nil {
		return failed(err)
	}
	parent, name := filepath.Dir(target), filepath.Base(target)
	root, err := beneath.Open(parent)
	if err != nil {
		return failed(err)
	}
	defer root.Close()
	top, err := root.Dir(parent)
	if err != nil {
		return failed(err)
	}
	defer top.Release()
	unlock, err := lockStages(top)
	if err != nil {
		return failed(err)
	}
	defer unlock()
	old, err := top.Lstat(name)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return failed(err)
	}
	if exists && !old.IsDir() {
		return failed(fmt.Errorf("cannot overwrite non-directory '%s' with directory '%s'", target, src))
	}

	stageName := newStageName()
	stage := filepath.Join(parent, stageName)
	held := &heldEvents{inner: opt.Events, from: stage, to: target}
	if held.inner == nil {
		held.inner = nopEvents{}
	}
	sopt := opt
	sopt.Atomic, sopt.move, sopt.noJournal, sopt.NoTargetDir, sopt.ResumeEvery, sopt.Events = false, false, true, true, -1, held
	sum, err := copyJob(ctx, []string{src}, stage, sopt)
	sum.AtomicTarget = target
	unpublished := func(err error) (Summary, error) {
		sum.Files, sum.Bytes, sum.Dirs, sum.UpToDate, sum.Verified = 0, 0, 0, 0, 0
		if rerr := removeTree(top, stageName); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			sum.TempsLeft = append(sum.TempsLeft, fmt.Sprintf("staged tree '%s' could not be removed: %v", stage, rerr))
		}
		return sum, err
	}
	if err == nil && ctx.Err() != nil {
		sum.Interrupted = true
		err = fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if err != nil {
		return unpublished(err)
	}
	if testHookPublish != nil {
		testHookPublish("staged")
	}

	if exists {
		err = top.Exchange(stageName, name)
	} else {
		err = top.Rename(stageName, name, true)
	}
	if err != nil {
		sum.Failed++
		held.inner.Failed(src, target, err)
		return unpublished(err)
	}
	if testHookPublish != nil {
		testHookPublish("swapped")
	}
	c := commit.NewIn(root)
	if err = c.DirChanged(parent); err == nil {
		err = c.FlushDirs()
	}
	if err != nil {
		// In place, but whether the media has it is not known: the old
		// tree is left where it is for a rerun to remove.
		sum.Failed++
		err = fmt.Errorf("'%s' is in place but not known durable: %w", target, err)
		held.inner.Failed(src, target, err)
		sum.Files, sum.Bytes, sum.UpToDate, sum.Verified = 0, 0, 0, 0
		return sum, err
	}
	sum.Published = true
	if testHookPublish != nil {
		testHookPublish("published")
	}
	copied := held.release()
	if exists {
		// The old tree, now under the staged name, holds nothing the
		// target needs; a crash before its removal is durable leaves it
		// for the next run.
		err := removeTree(top, stageName)
		if err == nil {
			err = c.DirChanged(parent)
		}
		if err == nil {
			err = c.FlushDirs()
		}
		if err != nil {
			sum.TempsLeft = append(sum.TempsLeft, fmt.Sprintf("the replaced tree, now '%s', could not be removed: %v", stage, err))
		}
		if testHookPublish != nil {
			testHookPublish("removed")
		}
	}
	if opt.move {
		if err := removeMoved(src, copied, held.inner); err != nil {
			sum.Failed++
			return sum, err
		}
	}
	return sum, nil
}

// removeTree removes name from d and everything beneath it, no link
// followed.
func removeTree(d *beneath.Dir, name string) error {
	fi, err := d.Lstat(name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return d.Remove(name)
	}
	sub, err := d.Sub(name)
	if err != nil {
		return err
	}
	entries, err := sub.ReadDir()
	if err == nil {
		for _, e := range entries {
			if err = removeTree(sub, e.Name()); err != nil {
				break
			}
		}
	}
	sub.Release()
	if err != nil {
		return err
	}
	return d.RemoveDir(name)
}

// removeStaleStages removes the staged trees that earlier atomic jobs in
// d left when they were killed or lost power. The caller holds d's lock
// alone: no other job's stage is among them.
func removeStaleStages(d *beneath.Dir) {
	entries, err := d.ReadDir()
	if err != nil {
		return
	}
	for _, e := range entries {
		if isStage(e.Name()) && e.IsDir() {
			removeTree(d, e.Name())
		}
	}
}

// removeMoved removes a move's sources once their copies are in place and
// durable: the files copied, then the directories left empty, deepest
// first. A file added to the source meanwhile stays, with its directory.
func removeMoved(src string, copied []string, ev Events) error {
	root, err := beneath.Open(filepath.Dir(filepath.Clean(src)))
	if err != nil {
		return err
	}
	defer root.Close()
	var errs []error
	for _, f := range copied {
		d, name, err := root.Parent(f)
		if err == nil {
			err = d.Remove(name)
			d.Release()
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("'%s' is durable in its new place, but could not be removed: %w", f, err))
		}
	}
	var dirs []string
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		d, name, err := root.Parent(dirs[i])
		if err == nil {
			d.RemoveDir(name) // one still holding files stays
			d.Release()
		}
	}
	for _, err := range errs {
		ev.Failed(src, "", err)
	}
	return errors.Join(errs...)
}

// heldEvents passes on a staged copy's events under the target's names,
// and holds back what says a file is durable (or verified) until the tree
// is in place: before that, no file is at its final name.
type heldEvents struct {
	inner    Events
	from, to string

	mu   sync.Mutex
	held []func()
	srcs []string // sources copied or found up to date, for a move
}

func (h *heldEvents) name(dst string) string {
	if rel, err := filepath.Rel(h.from, dst); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.Join(h.to, rel)
	}
	return dst
}

func (h *heldEvents) hold(src string, f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = append(h.held, f)
	if src != "" {
		h.srcs = append(h.srcs, src)
	}
}

// release tells what was held, and returns the sources it was about.
func (h *heldEvents) release() []string {
	h.mu.Lock()
	held, srcs := h.held, h.srcs
	h.held = nil
	h.mu.Unlock()
	for _, f := range held {
		f()
	}
	return srcs
}

func (h *heldEvents) Durable(src, dst string, size int64) {
	dst = h.name(dst)
	h.hold(src, func() { h.inner.Durable(src, dst, size) })
}

func (h *heldEvents) Skipped(src, dst, why string) {
	dst = h.name(dst)
	if why == "up to date (durable)" {
		h.hold(src, func() { h.inner.Skipped(src, dst, why) })
		return
	}
	h.inner.Skipped(src, dst, why)
}

func (h *heldEvents) Failed(src, dst string, err error) { h.inner.Failed(src, h.name(dst), err) }

func (h *heldEvents) Planned(files int, bytes int64) {
	if p, ok := h.inner.(Progress); ok {
		p.Planned(files, bytes)
	}
}

func (h *heldEvents) Copying(src, dst string, size int64) {
	if p, ok := h.inner.(Progress); ok {
		p.Copying(src, h.name(dst), size)
	}
}

func (h *heldEvents) OnDevice(dst string, n int64) {
	if p, ok := h.inner.(Progress); ok {
		p.OnDevice(h.name(dst), n)
	}
}

func (h *heldEvents) Flushing(files int, bytes int64) {
	if p, ok := h.inner.(Progress); ok {
		p.Flushing(files, bytes)
	}
}

func (h *heldEvents) Verified(src, dst string, size int64) {
	if v, ok := h.inner.(Verifier); ok {
		dst = h.name(dst)
		h.hold("", func() { v.Verified(src, dst, size) })
	}
}

func (h *heldEvents) Mismatch(src, dst string, err error) {
	if v, ok := h.inner.(Verifier); ok {
		v.Mismatch(src, h.name(dst), err)
	}
}

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

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
	"github.com/sure-tools/sure/preflight"
)

// Move moves srcs to dest as `mv` would. On the same file system a source
// is renamed and both parent directories are flushed. Across file systems
// it is copied with everything `cp -a` keeps, and each source file is
// removed only after its copy is durable; source directories are removed
// once empty, and the removals are flushed. A file that failed is never
// removed from the source.
func Move(ctx context.Context, srcs []string, dest string, opt Options) (Summary, error) {
	opt.Recursive, opt.Archive, opt.move = true, true, true
	if opt.Manifest != "" && opt.man == nil {
		return moveWithManifest(ctx, srcs, dest, opt)
	}
	if len(srcs) == 0 {
		return Summary{}, &UsageError{"missing file operand"}
	}
	destInfo, derr := os.Stat(dest)
	destIsDir := derr == nil && destInfo.IsDir()
	if len(srcs) > 1 && !destIsDir {
		return Summary{}, &UsageError{fmt.Sprintf("target '%s' is not a directory", dest)}
	}
	p, err := preflight.Check(srcs, dest, opt.preflight())
	if err != nil {
		return Summary{}, err
	}
	opt.plan = p
	// Before the renames, which report files durable.
	if pr, ok := opt.Events.(Progress); ok {
		pr.Planned(p.Files, p.Bytes)
		opt.told = true
	}
	events := opt.Events
	if events == nil {
		events = nopEvents{}
	}
	sum := Summary{Preflight: p}
	var rest []string
	for _, src := range srcs {
		if ctx.Err() != nil {
			break
		}
		target := targetFor(src, dest, destIsDir)
		if why := p.SkipReason(src); why != "" {
			sum.Skipped++
			events.Skipped(src, target, why)
			continue
		}
		target, _ = p.Target(src, target)
		done, err := renameInPlace(src, target, opt.NoClobber)
		switch {
		case done && err == nil:
			sum.Files++
			events.Durable(src, target, 0)
			if err := listMoved(opt.man, target); err != nil {
				sum.Failed++
				events.Failed(src, target, err)
			}
		case done:
			sum.Failed++
			events.Failed(src, target, err)
		case errors.Is(err, fs.ErrExist) && opt.NoClobber:
			sum.Skipped++
			events.Skipped(src, target, "exists (-n)")
		default:
			rest = append(rest, src)
		}
	}
	if len(rest) == 0 {
		if ctx.Err() != nil {
			sum.Interrupted = true
			return sum, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		if sum.Failed > 0 {
			return sum, fmt.Errorf("%d files failed", sum.Failed)
		}
		return sum, nil
	}
	// Across file systems: copy, and let the copier remove what is durable.
	s, err := Copy(ctx, rest, dest, opt)
	s.Files += sum.Files
	s.Failed += sum.Failed
	s.Skipped += sum.Skipped
	if err == nil && sum.Failed > 0 {
		err = fmt.Errorf("%d files failed", s.Failed)
	}
	return s, err
}

// renameInPlace moves src to target with one rename when both are on the
// same file system. done is false when the move must be a copy instead
// (different file systems, or a directory onto a non-empty one would need
// merging, which rename cannot do).
func renameInPlace(src, target string, noClobber bool) (done bool, err error) {
	info, err := os.Lstat(src)
	if err != nil {
		return true, err
	}
	if tinfo, terr := os.Lstat(target); terr == nil {
		if os.SameFile(info, tinfo) {
			return true, fmt.Errorf("'%s' and '%s' are the same file", src, target)
		}
		if info.IsDir() && tinfo.IsDir() {
			// mv merges nothing; sure merges by copying into it, which
			// with -n also keeps every existing file.
			return false, nil
		}
		if noClobber {
			return false, &os.PathError{Op: "move", Path: target, Err: fs.ErrExist}
		}
		if info.IsDir() != tinfo.IsDir() {
			if info.IsDir() {
				return true, fmt.Errorf("cannot overwrite non-directory '%s' with directory '%s'", target, src)
			}
			return true, fmt.Errorf("cannot overwrite directory '%s' with non-directory '%s'", target, src)
		}
	}
	if info.IsDir() && preflight.Inside(target, src) {
		return true, fmt.Errorf("cannot move '%s' to a subdirectory of itself, '%s'", src, target)
	}
	if !sameDevice(filepath.Dir(src), filepath.Dir(target)) {
		return false, nil
	}
	if info.IsDir() && losesRenamedDirs(filepath.Dir(src)) {
		return false, nil
	}
	err = durable.RenameUnflushed(src, target, noClobber)
	var le *os.LinkError
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist) && noClobber:
		return false, err
	case errors.As(err, &le) && isCrossDevice(le.Err):
		// Same device, different mounts (a bind mount): rename refuses.
		return false, nil
	default:
		return true, err
	}
	// The rename is one journal entry; flushing the target's directory
	// and then the source's makes the move durable in both places.
	if err := durable.SyncDir(filepath.Dir(target)); err != nil {
		return true, fmt.Errorf("'%s' is moved but not known durable: %w", target, err)
	}
	if filepath.Dir(src) != filepath.Dir(target) {
		if err := durable.SyncDir(filepath.Dir(src)); err != nil {
			return true, fmt.Errorf("'%s' is moved but its removal from '%s' is not known durable: %w", target, filepath.Dir(src), err)
		}
	}
	return true, nil
}

// losesRenamedDirs reports a file system whose rename of a directory loses
// the directory's contents: fusefat does (coreutils mv loses them too).
// There a directory is moved file by file, through the commit protocol.
func losesRenamedDirs(dir string) bool {
	m, err := fsinfo.ForPath(dir)
	return err == nil && m.FSType == "fuse.fusefat"
}

// removeSources removes, after the last barrier, the source directories a
// move emptied (deepest first) and flushes every source directory that lost
// an entry. A directory still holding a file that failed stays.
func (r *run) removeSources() {
	for i := len(r.dirs) - 1; i >= 0; i-- {
		d := r.dirs[i]
		if err := r.inSource(d.src, func(dir *beneath.Dir, name string) error { return dir.RemoveDir(name) }); err == nil {
			r.movedFrom[filepath.Dir(d.src)] = true
			delete(r.movedFrom, d.src)
		}
	}
	dirs := make([]string, 0, len(r.movedFrom))
	for d := range r.movedFrom {
		dirs = append(dirs, d)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if err := r.syncSourceDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.fail(d, "", fmt.Errorf("the copies are durable, but the removal of their sources from '%s' is not: %w", d, err))
		}
	}
}

// removeSource removes the source of a file whose copy is now durable.
func (r *run) removeSource(src, dst string) {
	if err := r.inSource(src, func(d *beneath.Dir, name string) error { return d.Remove(name) }); err != nil {
		r.fail(src, dst, fmt.Errorf("'%s' is durable, but its source could not be removed: %w", dst, err))
		return
	}
	r.mu.Lock()
	r.movedFrom[filepath.Dir(src)] = true
	r.mu.Unlock()
}

// openSourceRoot opens the directory of a move's operand as the user
// named it: its sources are removed beneath it without following a link,
// as the destination is written, since a stick moved from is untrusted
// too.
func (r *run) openSourceRoot(src string) error {
	dir := filepath.Dir(filepath.Clean(src))
	r.mu.Lock()
	_, ok := r.srcRoots[dir]
	r.mu.Unlock()
	if ok {
		return nil
	}
	root, err := beneath.Open(dir)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.srcRoots[dir] = root
	r.mu.Unlock()
	return nil
}

// sourceRoot is the root of path's operand.
func (r *run) sourceRoot(path string) (*beneath.Root, error) {
	var root *beneath.Root
	r.mu.Lock()
	for dir, rt := range r.srcRoots {
		if rel, err := filepath.Rel(dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			if root == nil || len(rt.Path()) > len(root.Path()) {
				root = rt
			}
		}
	}
	r.mu.Unlock()
	if root == nil {
		return nil, &os.PathError{Op: "remove", Path: path, Err: beneath.ErrOutside}
	}
	return root, nil
}

// inSource runs op on path's name in its directory, opened beneath the
// root of its operand.
func (r *run) inSource(path string, op func(d *beneath.Dir, name string) error) error {
	root, err := r.sourceRoot(path)
	if err != nil {
		return err
	}
	d, name, err := root.Parent(path)
	if err != nil {
		return err
	}
	defer d.Release()
	return op(d, name)
}

// syncSourceDir flushes the source directory dir, opened beneath the root
// of its operand.
func (r *run) syncSourceDir(dir string) error {
	root, err := r.sourceRoot(dir)
	if err != nil {
		return err
	}
	d, err := root.Dir(dir)
	if err != nil {
		return err
	}
	defer d.Release()
	return durable.SyncDirOf(d.File())
}

// closeSourceRoots closes what openSourceRoot opened.
func (r *run) closeSourceRoots() {
	for _, root := range r.srcRoots {
		root.Close()
	}
}

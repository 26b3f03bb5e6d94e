// Move: a source on the destination's file system is renamed once its
// data is durable; others are copied, and each source removed only once
// its copy is durable (report.go calls removeSource).

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
	"sync"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
	"github.com/sure-tools/sure/manifest"
	"github.com/sure-tools/sure/preflight"
)

// Move moves srcs to dest as `mv` would. On the same file system a source
// is renamed, but only once the data of every file it holds (a whole tree,
// for a directory) is durable: a rename that reaches the media before the
// data would leave empty or torn files under the new names after a power
// cut. Then both parent directories are flushed. Across file systems it is
// copied with everything `cp -a` keeps, and each source file is removed
// only after its copy is durable; source directories are removed once
// empty, and the removals are flushed. A file that failed is never removed
// from the source.
func Move(ctx context.Context, srcs []string, dest string, opt Options) (Summary, error) {
	return move(ctx, srcs, dest, jobSpec{Options: opt})
}

// move is Move of the job opt describes: the caller's, or one whose
// manifest moveWithManifest created.
func move(ctx context.Context, srcs []string, dest string, opt jobSpec) (Summary, error) {
	opt.Recursive, opt.Archive, opt.move = true, true, true
	opt.normalize()
	if opt.Manifest != "" && opt.man == nil {
		return moveWithManifest(ctx, srcs, dest, opt)
	}
	destIsDir, err := opt.operands(srcs, dest)
	if err != nil {
		return Summary{}, err
	}
	if opt.Atomic && !opt.DryRun {
		if opt.Events == nil {
			opt.Events = nopEvents{}
		}
		// Copied, then put in place at once; the sources go only after.
		return copyAtomic(ctx, srcs, dest, destIsDir, opt)
	}
	po := opt.preflight()
	excl := opt.excluder(srcs)
	po.Exclude = excl
	p, err := preflight.Check(srcs, dest, po)
	if err != nil {
		return Summary{}, err
	}
	opt.plan = p
	// Before the renames, which report files durable.
	if pr, ok := opt.Events.(Progress); ok {
		pr.Planned(p.Files+p.Renames+p.Symlinks, p.Bytes)
		opt.told = true
	}
	events := opt.Events
	if events == nil {
		events = nopEvents{}
	}
	sum := Summary{Preflight: p}
	if ask := opt.Confirm; ask != nil {
		// Operands copied across file systems meet the copier's own
		// question; one answer per file is enough.
		asked := map[string]bool{}
		opt.Confirm = func(dst string) bool {
			if a, ok := asked[dst]; ok {
				return a
			}
			asked[dst] = ask(dst)
			return asked[dst]
		}
	}
	c := commit.New()
	destDir := dest
	if !destIsDir {
		destDir = filepath.Dir(dest)
	}
	if m, b, why, err := c.Describe(destDir); err == nil {
		sum.Dest, sum.Barrier, sum.BarrierWhy = m, b, why
	}
	var rest []string
	var moves []*moved
	for _, src := range srcs {
		if ctx.Err() != nil {
			break
		}
		target := targetFor(src, dest, destIsDir)
		if fi, err := os.Lstat(src); err == nil && excl != nil && excl(src, fi.IsDir()) {
			sum.Excluded++
			continue // stays where it is
		}
		if why := p.SkipReason(src); why != "" {
			sum.Skipped++
			events.Skipped(src, target, why)
			continue
		}
		target, _ = p.Target(src, target)
		if why, err := keepExisting(src, target, opt.Options); why != "" || err != nil {
			if err != nil {
				sum.Failed++
				events.Failed(src, target, err)
			} else {
				sum.Skipped++
				events.Skipped(src, target, why)
			}
			continue
		}
		rename, err := renameable(src, target, opt.NoClobber)
		if err == nil && rename && opt.Backup != BackupNone && !opt.DryRun {
			if tinfo, terr := os.Lstat(target); terr == nil && !tinfo.IsDir() {
				// The backup is flushed with the rename: same directory.
				_, err = backupIn(beneath.Unconfined(), target, opt.Backup, opt.BackupSuffix)
			}
		}
		switch {
		case errors.Is(err, fs.ErrExist) && opt.NoClobber:
			sum.Skipped++
			events.Skipped(src, target, "exists (-n)")
		case err != nil:
			sum.Failed++
			events.Failed(src, target, err)
		case rename && excl != nil && isDir(src):
			// One rename would take what the filter excludes along.
			rest = append(rest, src)
		case rename:
			moves = append(moves, &moved{src: src, target: target})
		default:
			rest = append(rest, src)
		}
	}
	if opt.DryRun {
		for _, m := range moves {
			what := "move"
			if _, err := os.Lstat(m.target); err == nil {
				what = "replace"
			}
			var size int64
			if fi, err := os.Lstat(m.src); err == nil && fi.Mode().IsRegular() {
				size = fi.Size()
			}
			sum.Would++
			sum.WouldBytes += size
			if d, ok := events.(DryRunEvents); ok {
				d.Would(m.src, m.target, what, size)
			}
		}
		moves = nil
	}
	rest = append(rest, renameAll(ctx, c, moves, opt, events, &sum)...)
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
	s, err := copyJob(ctx, rest, dest, opt)
	s.Files += sum.Files
	s.Bytes += sum.Bytes
	s.Dirs += sum.Dirs
	s.Failed += sum.Failed
	s.Skipped += sum.Skipped
	s.Would += sum.Would
	s.WouldBytes += sum.WouldBytes
	s.Excluded += sum.Excluded
	if s.Dest.MountPoint == "" {
		s.Dest, s.Barrier, s.BarrierWhy = sum.Dest, sum.Barrier, sum.BarrierWhy
	}
	if err == nil && sum.Failed > 0 {
		err = fmt.Errorf("%d files failed", s.Failed)
	}
	return s, err
}

func isDir(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir()
}

// moved is one operand moved by a rename on its own file system.
type moved struct {
	src, target string
	entries     []movedEntry // what it holds: itself, and for a directory everything under it
	mu          sync.Mutex
	err         error // why its data is not known durable; then it is not renamed
}

type movedEntry struct {
	rel  string // from the operand; "." for itself
	size int64  // of a regular file, as it was flushed
	dir  bool
}

func (m *moved) failed(err error) {
	m.mu.Lock()
	m.err = errors.Join(m.err, err)
	m.mu.Unlock()
}

// renameAll moves each operand of moves with one rename: first the data of
// every file under every operand and the entries of every directory
// inside are made durable (a file system's barrier or each file's flush,
// as the commit protocol does for copies), then the operands are renamed,
// then both parents of each get their barrier. Only then are the files
// reported durable. It returns the operands that must be copied instead
// (a rename refused across mounts of one device).
func renameAll(ctx context.Context, c *commit.Committer, moves []*moved, opt jobSpec, events Events, sum *Summary) (copyInstead []string) {
	if len(moves) == 0 {
		return nil
	}
	flushMoved(c, moves, opt.Options)
	var renamed []*moved
	for _, m := range moves {
		switch {
		case m.err != nil:
			sum.Failed++
			events.Failed(m.src, m.target, fmt.Errorf("cannot move '%s' to '%s': its data could not be made durable first: %w", m.src, m.target, m.err))
			continue
		case ctx.Err() != nil:
			continue // not moved: the source is as it was
		}
		err := durable.RenameUnflushed(m.src, m.target, opt.NoClobber)
		var le *os.LinkError
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrExist) && opt.NoClobber:
			sum.Skipped++
			events.Skipped(m.src, m.target, "exists (-n)")
			continue
		case errors.As(err, &le) && isCrossDevice(le.Err):
			// Same device, different mounts (a bind mount): rename refuses.
			copyInstead = append(copyInstead, m.src)
			continue
		default:
			sum.Failed++
			events.Failed(m.src, m.target, err)
			continue
		}
		renamed = append(renamed, m)
		// A rename is one journal entry; both directories' barriers make
		// it durable in both places.
		for _, d := range []string{filepath.Dir(m.target), filepath.Dir(m.src)} {
			if err := c.DirChanged(d); err != nil {
				m.failed(err)
			}
		}
	}
	if err := c.FlushDirs(); err != nil {
		for _, m := range renamed {
			m.failed(err)
		}
	}
	for _, m := range renamed {
		if m.err != nil {
			sum.Failed++
			events.Failed(m.src, m.target, fmt.Errorf("'%s' is moved but not known durable: %w", m.target, m.err))
			continue
		}
		for _, e := range m.entries {
			if e.dir {
				sum.Dirs++
				continue
			}
			sum.Files++
			sum.Bytes += e.size
			events.Durable(filepath.Join(m.src, e.rel), filepath.Join(m.target, e.rel), e.size)
		}
		if err := listMoved(opt.man, m.target); err != nil {
			sum.Failed++
			events.Failed(m.src, m.target, err)
		}
	}
	return copyInstead
}

// flushMoved makes durable, before any rename, the data of every regular
// file under each operand and the entries of every directory inside it
// (files written by another program may still be in RAM only, and a
// directory made by one may hold entries never flushed). Per-file flushes
// run on several workers; batches bound what the Committer holds. A
// failure marks its operand.
func flushMoved(c *commit.Committer, moves []*moved, opt Options) {
	workers, batch := opt.Workers, opt.BatchFiles
	if workers <= 0 {
		workers = 8
	}
	if batch <= 0 {
		batch = 2000
	}
	type file struct {
		path string
		m    *moved
	}
	files := make(chan file)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range files {
				if err := c.InPlace(f.path, f.m); err != nil {
					f.m.failed(err)
				}
			}
		}()
	}
	settle := func(results []commit.Result) {
		for _, res := range results {
			if res.Err != nil {
				res.Entry.Tag.(*moved).failed(res.Err)
			}
		}
	}
	for _, m := range moves {
		err := filepath.WalkDir(m.src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(m.src, p)
			if d.IsDir() {
				m.entries = append(m.entries, movedEntry{rel: rel, dir: true})
				return c.DirChanged(p)
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			e := movedEntry{rel: rel}
			// A symlink or a special file holds no data of its own: its
			// directory's barrier covers it.
			if info.Mode().IsRegular() {
				e.size = info.Size()
				files <- file{p, m}
				if n, _ := c.Pending(); n >= batch {
					settle(c.Flush())
				}
			}
			m.entries = append(m.entries, e)
			return nil
		})
		if err != nil {
			m.failed(err)
		}
	}
	close(files)
	wg.Wait()
	settle(c.Flush())
	if err := c.FlushDirs(); err != nil {
		for _, m := range moves {
			m.failed(err)
		}
	}
}

// keepExisting applies -u, -i and --update=none-fail to an existing
// non-directory target of a move: why it stays, or an error.
func keepExisting(src, target string, opt Options) (string, error) {
	tinfo, err := os.Lstat(target)
	if err != nil || tinfo.IsDir() {
		return "", nil
	}
	info, err := os.Lstat(src)
	if err != nil || os.SameFile(info, tinfo) {
		return "", nil
	}
	switch {
	case opt.Update == UpdateNoneFail:
		return "", fmt.Errorf("not replacing '%s'", target)
	case opt.Update == UpdateOlder && !info.IsDir() && dstNotOlder(info, tinfo):
		return "not older than its source (-u)", nil
	case opt.Confirm != nil && !opt.NoClobber && !opt.Confirm(target):
		return "kept (-i)", nil
	}
	return "", nil
}

// renameable checks, as mv does, whether src can go to target, and
// reports whether one rename can do it: false when the move must be a copy
// instead (different file systems, or a directory onto a non-empty one
// would need merging, which rename cannot do). An error matching
// fs.ErrExist with noClobber means target is there and stays.
func renameable(src, target string, noClobber bool) (bool, error) {
	info, err := os.Lstat(src)
	if err != nil {
		return false, err
	}
	if tinfo, terr := os.Lstat(target); terr == nil {
		if os.SameFile(info, tinfo) {
			return false, fmt.Errorf("'%s' and '%s' are the same file", src, target)
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
				return false, fmt.Errorf("cannot overwrite non-directory '%s' with directory '%s'", target, src)
			}
			return false, fmt.Errorf("cannot overwrite directory '%s' with non-directory '%s'", target, src)
		}
	}
	if info.IsDir() && preflight.Inside(target, src) {
		return false, fmt.Errorf("cannot move '%s' to a subdirectory of itself, '%s'", src, target)
	}
	if !sameDevice(filepath.Dir(src), filepath.Dir(target)) {
		return false, nil
	}
	if info.IsDir() && losesRenamedDirs(filepath.Dir(src)) {
		return false, nil
	}
	return true, nil
}

// losesRenamedDirs reports a file system whose rename of a directory loses
// the directory's contents. There a directory is moved file by file,
// through the commit protocol.
func losesRenamedDirs(dir string) bool {
	m, err := fsinfo.ForPath(dir)
	return err == nil && fsinfo.CapsOf(m).LosesRenamedDirs
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

// moveWithManifest is Move with Options.Manifest: one manifest lists the
// files renamed in place and the files copied across file systems.
func moveWithManifest(ctx context.Context, srcs []string, dest string, opt jobSpec) (Summary, error) {
	m, err := manifest.Create(opt.Manifest)
	if err != nil {
		return Summary{}, err
	}
	defer m.Cleanup()
	opt.man = m
	sum, err := move(ctx, srcs, dest, opt)
	if sum.Files+sum.UpToDate == 0 && err != nil {
		return sum, err // refused or failed before anything moved
	}
	if cerr := m.Commit(); cerr != nil {
		sum.Failed++
		cerr = fmt.Errorf("manifest '%s' not written: %w", opt.Manifest, cerr)
		if opt.Events != nil {
			opt.Events.Failed("", opt.Manifest, cerr)
		}
		err = errors.Join(err, cerr)
	}
	return sum, err
}

// listMoved adds the files under target, just renamed there on their own
// file system, to the manifest (nil: none asked for). Their data did not
// move, so it is hashed as it is.
func listMoved(m *manifest.Writer, target string) error {
	if m == nil {
		return nil
	}
	return filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		sum, err := manifest.HashFile(p)
		if err != nil {
			return err
		}
		return m.Add(p, sum)
	})
}

package copier

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/beneath"
)

// RemoveEvents hears, with Delete, of each destination entry removed
// because the source does not hold it (in a dry run, each that would
// be), once the removal is durable. Calls come from one goroutine.
type RemoveEvents interface {
	Removed(dst string, dir bool)
}

// mirror is what Delete needs of the walk: the destination directories
// whose source was walked whole, and every name the job put (or kept)
// in them. Only mirrored directories lose entries; a directory made for
// --parents or a mount point -x did not enter is not one.
type mirror struct {
	on    bool // Delete: without it no name is kept, so memory stays flat
	mu    sync.Mutex
	names map[string]map[string]bool // destination directory -> names the source holds
	dirs  []mirrorDir                // in the order walked
}

type mirrorDir struct{ dst, src string }

// keep records that the job puts dst there: it is not extraneous.
func (m *mirror) keep(dst string) {
	if !m.on {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names == nil {
		m.names = map[string]map[string]bool{}
	}
	dir := filepath.Dir(dst)
	if m.names[dir] == nil {
		m.names[dir] = map[string]bool{}
	}
	m.names[dir][filepath.Base(dst)] = true
}

// walked records that the whole of the source directory src was walked
// into dst.
func (m *mirror) walked(dst, src string) {
	if !m.on {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirs = append(m.dirs, mirrorDir{dst: dst, src: src})
}

// testHookBeforeDelete, set by tests, runs once the whole copy is
// durable and before the first removal; testHookDeleted after the last
// removal and before the barrier that makes them durable.
var testHookBeforeDelete, testHookDeleted func()

// removal is one destination entry removed, told once its parent's
// barrier is done.
type removal struct {
	dst string
	dir bool
}

// deleteExtraneous removes from every mirrored directory what the source
// does not hold, then flushes the directories that lost entries; it runs
// only after the job's last barrier succeeded with nothing failed, so a
// cut before it finds every file of the old tree still there. An entry
// the filter excludes is kept, as is everything beneath it that it
// excludes; a directory that keeps such an entry stays.
func (r *run) deleteExtraneous() {
	if testHookBeforeDelete != nil {
		testHookBeforeDelete()
	}
	var removed []removal
	seen := map[string]bool{}
	var dirJobs map[string]int // destination -> its index in r.dirs
	if r.opt.Preserve.any() {
		dirJobs = make(map[string]int, len(r.dirs))
		for i, d := range r.dirs {
			dirJobs[d.dst] = i
		}
	}
	for _, md := range r.mirror.dirs {
		if seen[md.dst] {
			continue // merged from several sources: names holds them all
		}
		seen[md.dst] = true
		dir, err := r.root.Dir(md.dst)
		if err != nil {
			if r.opt.DryRun && errors.Is(err, fs.ErrNotExist) {
				continue // a dry run made no directory
			}
			r.fail("", md.dst, fmt.Errorf("cannot read directory '%s' to delete what its source lacks: %w", md.dst, err))
			continue
		}
		entries, err := dir.ReadDir()
		if err != nil {
			dir.Release()
			r.fail("", md.dst, fmt.Errorf("cannot read directory '%s': %w", md.dst, err))
			continue
		}
		keep := r.mirror.names[md.dst]
		changed := false
		for _, e := range entries {
			name := e.Name()
			if keep[name] || durable.IsTemp(name) || name == JournalName {
				continue
			}
			gone, ok := r.removeEntry(dir, name, filepath.Join(md.src, name), e.IsDir())
			removed = append(removed, gone...)
			changed = changed || ok
		}
		dir.Release()
		if changed && !r.opt.DryRun {
			r.restoreDirAttrs(md.dst, dirJobs)
			if err := r.c.DirChanged(md.dst); err != nil {
				r.fail("", md.dst, err)
			}
		}
	}
	if testHookDeleted != nil {
		testHookDeleted()
	}
	if !r.opt.DryRun && len(removed) > 0 {
		if err := r.c.FlushDirs(); err != nil {
			r.fail("", r.dest, fmt.Errorf("removed %d entries not in the source, but the removals are not known durable: %w", len(removed), err))
			return
		}
	}
	r.mu.Lock()
	r.sum.Removed += len(removed)
	r.mu.Unlock()
	if re, ok := r.opt.Events.(RemoveEvents); ok {
		for _, g := range removed {
			if l, ok := r.events.(*lockedEvents); ok {
				l.mu.Lock()
				re.Removed(g.dst, g.dir)
				l.mu.Unlock()
			} else {
				re.Removed(g.dst, g.dir)
			}
		}
	}
}

// restoreDirAttrs sets again, where attributes are kept (-a), those of
// the directory dst that its removals changed: its times.
func (r *run) restoreDirAttrs(dst string, dirJobs map[string]int) {
	i, ok := dirJobs[dst]
	if !ok {
		return
	}
	d := r.dirs[i]
	perm := d.info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if _, err := r.setDirAttrs(d.src, d.dst, d.info, perm, false, false); err != nil {
		r.fail(d.src, d.dst, err)
	}
}

// removeEntry removes name from dir, a whole tree for a directory,
// except what the filter excludes (src names it as the source would).
// It returns what went, deepest first, and whether dir lost an entry.
func (r *run) removeEntry(dir *beneath.Dir, name, src string, isDir bool) ([]removal, bool) {
	if r.excl != nil && r.excl(src, isDir) {
		return nil, false // protected, as rsync keeps excluded files
	}
	dst := dir.Name(name)
	if !isDir {
		if !r.opt.DryRun {
			if err := dir.Remove(name); err != nil {
				r.fail("", dst, fmt.Errorf("cannot remove '%s': %w", dst, err))
				return nil, false
			}
		}
		return []removal{{dst: dst}}, true
	}
	sub, err := dir.Sub(name)
	if err != nil {
		r.fail("", dst, fmt.Errorf("cannot remove '%s': %w", dst, err))
		return nil, false
	}
	entries, err := sub.ReadDir()
	if err != nil {
		sub.Release()
		r.fail("", dst, fmt.Errorf("cannot remove '%s': %w", dst, err))
		return nil, false
	}
	var removed []removal
	all, changed := true, false
	for _, e := range entries {
		gone, ok := r.removeEntry(sub, e.Name(), filepath.Join(src, e.Name()), e.IsDir())
		removed = append(removed, gone...)
		changed = changed || ok
		all = all && ok
	}
	sub.Release()
	if !all {
		// Something excluded stays inside: so does the directory.
		if changed && !r.opt.DryRun {
			if err := r.c.DirChanged(dst); err != nil {
				r.fail("", dst, err)
			}
		}
		return removed, false
	}
	if !r.opt.DryRun {
		if err := dir.RemoveDir(name); err != nil {
			r.fail("", dst, fmt.Errorf("cannot remove directory '%s': %w", dst, err))
			return removed, false
		}
	}
	return append(removed, removal{dst: dst, dir: true}), true
}

// checkDelete refuses Delete where it has nothing to mirror: without -r
// or without a directory among the operands.
func (o *jobSpec) checkDelete(srcs []string) error {
	if !o.Delete {
		return nil
	}
	if o.move {
		return &UsageError{"option --delete is not for mv: a move already leaves nothing behind"}
	}
	if !o.Recursive {
		return &UsageError{"option --delete requires -r: it mirrors directories"}
	}
	for _, s := range srcs {
		if fi, err := os.Stat(s); err == nil && fi.IsDir() {
			return nil
		}
	}
	return &UsageError{"option --delete requires a directory to copy"}
}

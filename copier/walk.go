// Read: the walk of each operand and its tree, in Copy's goroutine. It
// decides each entry's fate before anything of it is written: directories
// are made here, symlinks staged, files already up to date (compare.go)
// only made durable, and regular files handed to the workers (stage.go).

package copier

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/beneath"
	"github.com/sure-tools/sure/preflight"
)

// createError says, in cp's words (mv's for a move), that name cannot
// be created at all.
type createError struct {
	what, name string
	src        string
	move       bool
}

func (e *createError) Error() string {
	if e.move {
		return fmt.Sprintf("cannot move '%s' to '%s': No such file or directory", e.src, e.name)
	}
	return fmt.Sprintf("cannot create %s '%s': No such file or directory", e.what, e.name)
}

func (e *createError) Unwrap() error { return fs.ErrNotExist }

// createWhat is what cp calls a non-directory of mode m it creates.
func createWhat(m fs.FileMode) string {
	if m&fs.ModeSymlink != 0 {
		return "symbolic link"
	}
	return "regular file"
}

// copyArg copies one command-line operand to target.
func (r *run) copyArg(src, target string) {
	var ok bool
	if target, ok = r.planned(src, target); !ok {
		return
	}
	follow := r.opt.followOperand()
	var info fs.FileInfo
	var err error
	if follow {
		info, err = os.Stat(src)
	} else {
		info, err = os.Lstat(src)
	}
	if err != nil {
		r.fail(src, target, err)
		return
	}
	if r.excluded(src, info.IsDir()) {
		return
	}
	r.mirror.keep(target)
	// An empty destination names no file; joined with the names below a
	// source it would be the working directory.
	empty := target == ""
	if r.opt.move {
		if err := r.openSourceRoot(src); err != nil {
			r.fail(src, target, err)
			return
		}
	}
	// What stands at the target is looked at itself, a link not followed;
	// only DEST as the user typed it (the target of a single file) is
	// followed to tell a copy onto itself.
	tinfo, terr := r.root.Lstat(target)
	same := terr == nil && beneath.SameFile(info, tinfo)
	if target == r.dest {
		if fi, err := os.Stat(target); err == nil && os.SameFile(info, fi) {
			same = true
		}
	}
	if same {
		r.fail(src, target, fmt.Errorf("'%s' and '%s' are the same file", src, target))
		return
	}
	switch {
	case info.IsDir():
		if !r.opt.Recursive {
			r.fail(src, target, fmt.Errorf("-r not specified; omitting directory '%s'", src))
			return
		}
		if empty {
			r.fail(src, target, &createError{what: "directory", name: target, src: src, move: r.opt.move})
			return
		}
		if preflight.Inside(target, src) {
			r.fail(src, target, fmt.Errorf("cannot copy a directory, '%s', into itself, '%s'", src, target))
			return
		}
		if terr == nil && !tinfo.IsDir() {
			r.fail(src, target, fmt.Errorf("cannot overwrite non-directory '%s' with directory '%s'", target, src))
			return
		}
		r.copyTree(src, target)
	default:
		if empty {
			r.fail(src, target, &createError{what: createWhat(info.Mode()), name: target, src: src, move: r.opt.move})
			return
		}
		if terr == nil && tinfo.IsDir() {
			r.fail(src, target, fmt.Errorf("cannot overwrite directory '%s' with non-directory '%s'", target, src))
			return
		}
		r.copyEntry(src, target, info, false)
	}
}

// copyTree walks src and copies it under target, streaming: only the
// entries of the directory being read are held in memory.
func (r *run) copyTree(src, target string) {
	// An operand followed to its directory (-H, -L) is walked through the
	// link: the walk itself never follows one.
	if fi, err := os.Lstat(src); err == nil && fi.Mode()&fs.ModeSymlink != 0 && !strings.HasSuffix(src, string(filepath.Separator)) {
		src += string(filepath.Separator)
	}
	var rootDev uint64
	if r.opt.OneFileSystem {
		if fi, err := os.Stat(src); err == nil {
			rootDev, _ = deviceID(fi)
		}
	}
	// The destination directories this walk created, along the path it
	// is on (the walk is depth first): nothing can be under their names
	// yet, so their entries are not looked up one by one.
	var made []string
	filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if r.ctx.Err() != nil {
			return filepath.SkipAll
		}
		rel, _ := filepath.Rel(src, path)
		dst := filepath.Join(target, rel)
		if path != src {
			if r.excluded(path, d != nil && d.IsDir()) {
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			r.mirror.keep(dst) // also under the name a plan gives it
			var ok bool
			if dst, ok = r.planned(path, dst); !ok {
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if err != nil {
			r.fail(path, dst, err)
			if d != nil && d.IsDir() {
				// Made already, and failed: finishing it must not
				// read it again, nor fail for it once more.
				r.mu.Lock()
				if r.unread == nil {
					r.unread = map[string]bool{}
				}
				r.unread[dst] = true
				r.mu.Unlock()
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			r.fail(path, dst, err)
			if d.IsDir() {
				return filepath.SkipDir // once named is enough: reading it would fail too
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 && r.opt.Deref == DerefAll {
			return r.copyFollowed(path, dst)
		}
		if d.IsDir() {
			ok, created := r.makeDir(path, dst, info)
			if !ok {
				return filepath.SkipDir
			}
			if created {
				made = append(onPath(made, filepath.Dir(dst)), dst)
			}
			if dev, ok := deviceID(info); r.opt.OneFileSystem && ok && path != src && dev != rootDev {
				return filepath.SkipDir // -x: the mount point is made, not entered
			}
			r.mirror.keep(dst)
			r.mirror.walked(dst, path)
			return nil
		}
		made = onPath(made, filepath.Dir(dst))
		r.copyEntry(path, dst, info, len(made) > 0 && made[len(made)-1] == filepath.Dir(dst))
		return nil
	})
}

// onPath drops from the end of dirs those that do not hold dir.
func onPath(dirs []string, dir string) []string {
	for len(dirs) > 0 {
		top := dirs[len(dirs)-1]
		if dir == top || strings.HasPrefix(dir, top+string(filepath.Separator)) {
			break
		}
		dirs = dirs[:len(dirs)-1]
	}
	return dirs
}

// copyFollowed copies what the symlink path points to (-L): a directory
// as a tree, anything else as a file. A link to a directory that holds
// it is a cycle, refused as cp refuses it.
func (r *run) copyFollowed(path, dst string) error {
	info, err := os.Stat(path)
	if err != nil {
		r.fail(path, dst, err)
		return nil
	}
	if !info.IsDir() {
		r.copyEntry(path, dst, info, false)
		return nil
	}
	for p := filepath.Dir(path); p != "." && p != filepath.Dir(p); p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && os.SameFile(fi, info) {
			r.fail(path, dst, fmt.Errorf("cannot copy cyclic symbolic link '%s'", path))
			return nil
		}
	}
	r.copyTree(path+string(filepath.Separator), dst)
	return nil
}

// makeParents creates under dest the directories of src's path
// (--parents), as makeDir makes a directory of the tree.
func (r *run) makeParents(src, dest string) bool {
	for _, d := range parentsDirs(src) {
		info, err := os.Stat(d)
		if err != nil {
			r.fail(src, filepath.Join(dest, d), err)
			return false
		}
		if ok, _ := r.makeDir(d, filepath.Join(dest, d), info); !ok {
			return false
		}
	}
	return true
}

// testHookDirReady, set by tests, runs once a destination directory is
// accepted and before anything is written into it: the window in which a
// hostile stick could swap it for a link.
var testHookDirReady func(dst string)

// makeDir creates dst for the source directory src, or accepts an existing
// directory there (trees are merged, as cp does); created says it made it.
func (r *run) makeDir(src, dst string, info fs.FileInfo) (ok, created bool) {
	if r.opt.DryRun {
		if fi, err := r.root.Lstat(dst); err == nil && !fi.IsDir() {
			r.fail(src, dst, fmt.Errorf("cannot overwrite non-directory '%s' with directory '%s'", dst, src))
			return false, false
		}
		return true, false
	}
	if filepath.Clean(dst) == filepath.Clean(r.destDir) {
		// SRC/ mirrored onto DEST (Delete): DEST is the root, kept as it
		// is; what is written into it is flushed by the commit protocol.
		return true, false
	}
	var perm, made fs.FileMode
	parent, name, err := r.root.Parent(dst)
	if err != nil {
		r.fail(src, dst, err)
		return false, false
	}
	defer parent.Release()
	// The kernel masks the mode with the umask, as it does for cp; only the
	// owner bits are added, to fill the directory, and they go at the end.
	// Reading the umask instead would mean setting it, for every goroutine.
	done := r.c.Writing()
	err = parent.Mkdir(name, info.Mode().Perm()|0o700)
	done()
	switch {
	case err == nil:
		created = true
		if err := r.c.DirCreated(dst); err != nil {
			r.fail(src, dst, err)
			return false, false
		}
		st, err := parent.Lstat(name)
		if err != nil {
			r.fail(src, dst, err)
			return false, false
		}
		made = st.Mode().Perm()
		perm = made & info.Mode().Perm()
	case errors.Is(err, fs.ErrExist):
		// Opened, not looked at: a link or a file there is refused as cp
		// refuses it, and a link is never followed.
		d, serr := parent.Sub(name)
		if errors.Is(serr, beneath.ErrSymlink) || errors.Is(serr, errNotDir) {
			r.fail(src, dst, fmt.Errorf("cannot overwrite non-directory '%s' with directory '%s'", dst, src))
			return false, false
		}
		if serr != nil {
			r.fail(src, dst, serr)
			return false, false
		}
		removeStaleTemps(d, func(name string) bool { return r.journal.keepsTemp(r.rel(dst), name) })
		d.Release()
	default:
		r.fail(src, dst, err)
		return false, false
	}
	if testHookDirReady != nil {
		testHookDirReady(dst)
	}
	r.mu.Lock()
	// Remembered for the end of the job only when something is left to do
	// there (finishDirs, removeSources): else a tree of many directories
	// would hold a record of each until then.
	if r.opt.Preserve.any() || r.opt.move || created && perm != made {
		r.dirs = append(r.dirs, dirJob{src: src, dst: dst, info: info, created: created, perm: perm})
	}
	r.sum.Dirs++
	r.mu.Unlock()
	return true, created
}

// copyEntry copies a non-directory: regular files go to the workers,
// symlinks are staged here, anything else is refused. inMade says dst's
// directory was created by this walk, so nothing is at dst to look up.
func (r *run) copyEntry(src, dst string, info fs.FileInfo, inMade bool) {
	var existing fs.FileInfo
	if !inMade {
		if fi, err := r.root.Lstat(dst); err == nil {
			existing = fi
		}
	}
	if existing != nil && r.opt.NoClobber {
		r.skip(src, dst, "exists (-n)")
		return
	}
	if existing != nil && existing.IsDir() {
		r.fail(src, dst, fmt.Errorf("cannot overwrite directory '%s' with non-directory '%s'", dst, src))
		return
	}
	if existing != nil {
		switch {
		case r.opt.Update == UpdateNoneFail:
			r.fail(src, dst, fmt.Errorf("not replacing '%s'", dst))
			return
		case r.opt.Update == UpdateOlder && dstNotOlder(info, existing):
			r.skip(src, dst, "not older than its source (-u)")
			return
		case r.opt.Confirm != nil && !r.opt.Confirm(dst):
			r.skip(src, dst, "kept (-i)")
			return
		}
	}
	done, ss := r.complete(info, existing, src, dst)
	if r.opt.DryRun && (done || info.Mode().IsRegular() || info.Mode()&fs.ModeSymlink != 0) {
		r.would(src, dst, info, existing, done)
		return
	}
	r.admit()
	if done {
		// Left complete by an earlier run (its journal or the check asked
		// for says so); the commit protocol never puts a partial file
		// under a final name. Its last barrier may not have run; the next
		// one covers it. A copy of sure's own gets no backup either.
		if err := r.c.InPlace(dst, &job{src: src, dst: dst, info: info, upToDate: true, sums: ss}); err != nil {
			r.fail(src, dst, err)
		}
		return
	}
	if existing != nil && r.opt.Backup != BackupNone {
		if err := r.backup(dst); err != nil {
			r.fail(src, dst, err)
			return
		}
		existing = nil
	}
	switch mode := info.Mode(); {
	case mode.IsRegular():
		j := job{src: src, dst: dst, info: info, existing: existing}
		if r.linkedLater(&j) {
			return
		}
		select {
		case r.jobs <- j:
		case <-r.ctx.Done():
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err == nil {
			err = r.c.SymlinkWith(target, dst, r.opt.NoClobber, &job{src: src, dst: dst, info: info}, r.symlinkAttrs(info))
		}
		if err != nil {
			r.fail(src, dst, err)
			return
		}
		r.maybeFlush()
	default:
		r.fail(src, dst, fmt.Errorf("'%s' is not a regular file (%s): not copied", src, kind(mode)))
	}
}

// removeStaleTemps removes the temporary files an interrupted run left in
// dir, except those keep names (partial copies to resume). They never held
// anything under a final name; a run still writing into the same
// directory would fail its own file, not lose one.
func removeStaleTemps(dir *beneath.Dir, keep func(name string) bool) {
	entries, err := dir.ReadDir()
	if err != nil {
		return
	}
	for _, e := range entries {
		if durable.IsTemp(e.Name()) && (e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0) && !keep(e.Name()) {
			dir.Remove(e.Name())
		}
	}
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return m.Type().String()
}

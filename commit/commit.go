// Package commit is sure's commit protocol: how a file reaches its final
// name so that, at every instant, that name holds the old complete content
// or the new complete content, and so that a file is reported durable only
// when it is.
//
// A file is written under a temporary name in its final directory
// (durable.CreateTemp). Many files then share two barriers:
//
//  1. barrier: the data of every staged file reaches the media;
//  2. every temporary file is renamed onto its final name;
//  3. barrier: the renames (directory entries) reach the media.
//
// Only after step 3 is a file durable. Step pipelines the batches where
// one syncfs flushes the file system: the barrier after one batch's renames
// is also the data barrier of the next batch, so a job of many batches
// pays one barrier per batch, not two.
//
// On a file system where one syncfs flushes everything and reports errors,
// a barrier is one syncfs. Where syncfs writes everything but sends the
// drive no cache flush (vfat, exfat, ntfs3), it is syncfs, then an fsync of
// a directory there, which flushes the drive. Elsewhere (FUSE file systems, kernels before
// 5.8, macOS, Windows) each file is flushed on its own when it is staged
// and each changed directory after the renames, in parallel; under a FUSE
// file system the block device is then flushed too, since the server may
// not pass fsync on (fusefat does not).
//
// A failed barrier is final (see package durable): the files it covered are
// failed, their temporary files removed where they still exist, and nothing
// is retried.
package commit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
)

// Entry is one file (or symlink) on its way to its final name.
type Entry struct {
	Final string
	Tag   any // the caller's, returned in Result
	Size  int64

	temp      string
	noReplace bool
	fs        *fileSystem
	renamed   bool
	failed    bool // Flush did not make it durable; Link refuses it
	inPlace   bool // already under its final name; only the barriers apply
}

// Result tells the fate of an entry after Flush. Err is nil only when the
// file is durable under its final name. Exists is set when a no-replace
// commit found the final name taken; the entry's data was discarded.
type Result struct {
	Entry  *Entry
	Err    error
	Exists bool
}

type fileSystem struct {
	mount   fsinfo.Mount
	barrier fsinfo.Barrier
	why     string
	dir     string // a directory on it, opened for syncfs
	device  string // block device under a FUSE file system, flushed at each barrier
}

// Committer stages files and commits them in batches. Its methods may be
// called from several goroutines; Flush calls are serialized.
type Committer struct {
	// BeforeBarrier, when set, hears each Flush's batch (entries, staged
	// bytes) just before its first barrier starts, so that progress can say
	// a flush is under way. It is set once, before the first Flush.
	BeforeBarrier func(files int, bytes int64)
	// DataBarrierDone, when set, hears each entry of a Flush's batch once
	// the first barrier, the one for the data, has ended: err is nil when
	// that barrier covered the entry's file system. The data is then on
	// the device and its pages are clean, though the file is not yet in
	// place: a caller bounding its dirty memory can give it back here
	// instead of after the second barrier, so the next batch fills while
	// the renames are committed. It is set once, before the first Flush.
	DataBarrierDone func(e *Entry, err error)

	mu      sync.Mutex
	byDev   map[devID]*fileSystem
	pending []*Entry
	bytes   int64
	dirs    map[string]*fileSystem // directories to flush in per-file mode

	flushMu sync.Mutex
	// Under flushMu: entries a Step renamed onto their final names, and
	// their directories, waiting for the next barrier to be reported.
	renamed     []*Entry
	renamedDirs map[string]*fileSystem
}

// New returns an empty Committer.
func New() *Committer {
	return &Committer{byDev: map[devID]*fileSystem{}, dirs: map[string]*fileSystem{}, renamedDirs: map[string]*fileSystem{}}
}

// fileSystemOf finds (once per device) how the file system holding dir is
// made durable.
func (c *Committer) fileSystemOf(dir string) (*fileSystem, error) {
	id, err := deviceOf(dir)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.byDev[id]; ok {
		return f, nil
	}
	m, err := fsinfo.ForPath(dir)
	if err != nil {
		return nil, err
	}
	b, why := fsinfo.BarrierFor(m)
	f := &fileSystem{mount: m, barrier: b, why: why, dir: dir}
	if b == fsinfo.BarrierPerFile {
		f.device, _ = fsinfo.BackingDevice(m)
	}
	c.byDev[id] = f
	return f, nil
}

// FileSystem says how the entry's file system is made durable, and the
// block device under it when it is a FUSE file system ("" if unknown), so
// that the writer of the data can wait for its writeback the same way.
func (e *Entry) FileSystem() (fsinfo.Mount, fsinfo.Barrier, string) {
	return e.fs.mount, e.fs.barrier, e.fs.device
}

// Describe says how files under dir will be made durable, in words.
func (c *Committer) Describe(dir string) (fsinfo.Mount, fsinfo.Barrier, string, error) {
	f, err := c.fileSystemOf(dir)
	if err != nil {
		return fsinfo.Mount{}, 0, "", err
	}
	return f.mount, f.barrier, f.why, nil
}

// Create opens a new temporary file for final in final's directory. The
// caller writes the data and attributes, then calls Stage or Abort.
func (c *Committer) Create(final string, perm fs.FileMode, noReplace bool) (*Entry, *os.File, error) {
	dir := filepath.Dir(final)
	f, err := c.fileSystemOf(dir)
	if err != nil {
		return nil, nil, err
	}
	file, err := durable.CreateTemp(dir, perm)
	if err != nil {
		return nil, nil, err
	}
	return &Entry{Final: final, temp: file.Name(), noReplace: noReplace, fs: f}, file, nil
}

// Abort closes and removes the temporary file of an entry that will not be
// staged. The error, a *TempLeftError, says the file is still there.
func (c *Committer) Abort(e *Entry, file *os.File) error {
	if file != nil {
		file.Close()
	}
	return removeTemp(e.temp)
}

// TempLeftError says that the temporary file of a failed entry could not
// be removed (a destination gone read-only or away): it is still at Temp,
// holding no final name.
type TempLeftError struct {
	Temp string
	Err  error
}

func (e *TempLeftError) Error() string {
	return fmt.Sprintf("temporary file '%s' could not be removed: %v", e.Temp, e.Err)
}

func (e *TempLeftError) Unwrap() error { return e.Err }

// removeTemp removes a temporary file; one already gone is fine.
func removeTemp(temp string) error {
	err := os.Remove(temp)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &TempLeftError{Temp: temp, Err: err}
}

// failTemp removes the temporary file of a failed entry and adds to err
// where it is, if it could not be removed.
func failTemp(err error, temp string) error {
	if rerr := removeTemp(temp); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// Stage takes a written temporary file into the next batch and closes it.
// Where every file is flushed on its own, that flush happens here, so that
// the flushes of parallel writers overlap; elsewhere the writer has
// started the file's writeback (package copier) and the barrier waits for
// it. On error the temporary file is removed.
func (c *Committer) Stage(e *Entry, file *os.File) error {
	var err error
	if e.fs.barrier == fsinfo.BarrierPerFile {
		err = durable.SyncFile(file)
	}
	if cerr := file.Close(); err == nil && cerr != nil {
		err = &os.PathError{Op: "close", Path: e.Final, Err: cerr}
	}
	if err != nil {
		return failTemp(err, e.temp)
	}
	c.mu.Lock()
	c.pending = append(c.pending, e)
	c.bytes += e.Size
	c.mu.Unlock()
	return nil
}

// Symlink stages a symbolic link to target under final: it is created
// under a temporary name and renamed like a file.
func (c *Committer) Symlink(target, final string, noReplace bool, tag any) error {
	return c.stageNew(final, noReplace, tag, func(temp string) error {
		return os.Symlink(target, temp)
	})
}

// stageNew stages an entry that create makes at a fresh temporary name in
// final's directory (a symlink, a hard link).
func (c *Committer) stageNew(final string, noReplace bool, tag any, create func(temp string) error) error {
	dir := filepath.Dir(final)
	f, err := c.fileSystemOf(dir)
	if err != nil {
		return err
	}
	// A temporary file reserves a unique name; the entry then replaces it.
	file, err := durable.CreateTemp(dir, 0o600)
	if err != nil {
		return err
	}
	file.Close()
	temp := file.Name()
	if err := os.Remove(temp); err != nil {
		return err
	}
	if err := create(temp); err != nil {
		return err
	}
	e := &Entry{Final: final, Tag: tag, temp: temp, noReplace: noReplace, fs: f}
	c.mu.Lock()
	c.pending = append(c.pending, e)
	c.mu.Unlock()
	return nil
}

// ErrLinkSource is returned by Link when the entry to link to did not
// become durable: there is nothing trustworthy to link.
var ErrLinkSource = errors.New("the first copy of the hard-linked file failed")

// Link stages final as a hard link to the file of an earlier entry, for
// files the source holds under several names. The link is made under a
// temporary name (to from's temporary file while it is staged, to its
// final name once it is committed) and renamed like a file, so final is
// reported durable only after the barriers, as from is. An error from the
// link itself is an *os.LinkError; EPERM, ENOTSUP, EMLINK or EXDEV there
// mean the destination cannot hold this link, and the caller copies the
// data instead.
func (c *Committer) Link(from *Entry, final string, noReplace bool, tag any) error {
	// Serialized with Flush: from's temporary name turns into its final
	// name there.
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	if from.failed {
		return &os.PathError{Op: "link", Path: from.Final, Err: ErrLinkSource}
	}
	old := from.temp
	if from.renamed || from.inPlace {
		old = from.Final
	}
	return c.stageNew(final, noReplace, tag, func(temp string) error {
		return os.Link(old, temp)
	})
}

// InPlace takes a file that already holds its final content under its
// final name (left by an interrupted run, whose last barrier may not have
// run) into the next batch, so that it is reported only once the barriers
// have covered it.
func (c *Committer) InPlace(final string, tag any) error {
	f, err := c.fileSystemOf(filepath.Dir(final))
	if err != nil {
		return err
	}
	if f.barrier == fsinfo.BarrierPerFile {
		file, err := os.Open(final)
		if err != nil {
			return err
		}
		err = durable.SyncFile(file)
		file.Close()
		if err != nil {
			return err
		}
	}
	e := &Entry{Final: final, Tag: tag, fs: f, inPlace: true}
	c.mu.Lock()
	c.pending = append(c.pending, e)
	c.mu.Unlock()
	return nil
}

// DirCreated records a directory made by the caller: its own entries and
// its entry in its parent must reach the media before Flush reports.
func (c *Committer) DirCreated(dir string) error {
	if err := c.DirChanged(dir); err != nil {
		return err
	}
	return c.DirChanged(filepath.Dir(dir))
}

// DirChanged records a directory whose attributes or entries the caller
// changed outside the Committer.
func (c *Committer) DirChanged(dir string) error {
	f, err := c.fileSystemOf(dir)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.dirs[dir] = f
	c.mu.Unlock()
	return nil
}

// Pending returns the number of staged entries and their bytes.
func (c *Committer) Pending() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending), c.bytes
}

// Renamed returns the number of entries renamed onto their final names by
// Step and waiting for the next barrier.
func (c *Committer) Renamed() int {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	return len(c.renamed)
}

// AbortPending removes the temporary files of every staged entry and
// forgets them, for an interrupted job. It returns how many were removed
// and where the ones that could not be removed (a destination gone
// read-only or away) still are. Entries a Step already renamed are not
// staged any more: Flush settles them.
func (c *Committer) AbortPending() (removed int, left []*TempLeftError) {
	c.mu.Lock()
	batch := c.pending
	c.pending, c.bytes = nil, 0
	c.mu.Unlock()
	for _, e := range batch {
		var tl *TempLeftError
		if err := removeTemp(e.temp); errors.As(err, &tl) {
			left = append(left, tl)
			continue
		}
		removed++
	}
	return removed, left
}

// Step runs one barrier of the pipeline. The barrier makes durable the
// renames of the previous Step, and those entries are returned as
// durable (or failed); it is also the data barrier of every entry staged
// now, which is then renamed onto its final name and waits for the next
// Step or Flush. Entries that fail on the way (their data barrier, their
// rename) are returned too. Staged entries of a file system whose barrier
// failed are failed and their temporary files removed.
//
// Only where one barrier flushes the whole file system (syncfs) are
// renames left waiting. Elsewhere the renames get their barrier at once,
// with nothing else written in between: FAT and exFAT servers replace a
// file in several writes (free the old clusters, rewrite the entry), and
// the device takes them in the order of its own writeback, so the less
// there is to write after a rename before its flush, the shorter the time
// in which a power cut finds the old name pointing at freed clusters.
func (c *Committer) Step() []Result {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	res := c.step(true)
	for _, e := range c.renamed {
		if !e.fs.barrier.WholeFS() {
			return append(res, c.step(false)...)
		}
	}
	return res
}

// Flush commits every entry staged or renamed so far and returns when
// each is durable or failed: a Step, then a barrier for its renames. It
// returns one Result per entry.
func (c *Committer) Flush() []Result {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	res := c.step(true)
	return append(res, c.step(false)...)
}

// step is Step, or with take false only the barrier for the renames
// already made, leaving staged entries for later.
func (c *Committer) step(take bool) []Result {
	c.mu.Lock()
	var batch []*Entry
	var staged int64
	if take {
		batch, staged = c.pending, c.bytes
		c.pending, c.bytes = nil, 0
	}
	dirs := c.dirs
	c.dirs = map[string]*fileSystem{}
	c.mu.Unlock()
	done := c.renamed
	for dir, f := range c.renamedDirs {
		dirs[dir] = f
	}
	c.renamed, c.renamedDirs = nil, map[string]*fileSystem{}
	if len(batch)+len(done) == 0 {
		// Directories alone wait for FlushDirs, which reports on them.
		c.mu.Lock()
		for dir, f := range dirs {
			c.dirs[dir] = f
		}
		c.mu.Unlock()
		return nil
	}
	if c.BeforeBarrier != nil {
		c.BeforeBarrier(len(batch)+len(done), staged)
	}

	// One barrier: the directory entries of the renames made last time
	// (and of directories created since), and the data of every staged
	// file. Per-file file systems had their data flushed at Stage.
	dirErrs := syncDirs(dirs)
	failed := barrier(slices.Concat(batch, done), dirs)
	for dir, err := range dirErrs {
		f := dirs[dir]
		failed[f] = errors.Join(failed[f], err)
	}

	results := make([]Result, 0, len(batch)+len(done))
	for _, e := range done {
		r := Result{Entry: e}
		if err := failed[e.fs]; err != nil {
			r.Err = fmt.Errorf("%s is in place but not known durable: %w", e.Final, err)
			if !e.inPlace {
				// The data is durable, the rename is not: after a
				// crash or on the medium as it is now, the copy may
				// still be under its temporary name.
				r.Err = fmt.Errorf("%w; the rename may not have reached the media, so the copy may be under its temporary name '%s' instead", r.Err, e.temp)
			}
		}
		e.failed = r.Err != nil
		results = append(results, r)
	}

	if c.DataBarrierDone != nil {
		for _, e := range batch {
			c.DataBarrierDone(e, failed[e.fs])
		}
	}
	for _, e := range batch {
		r := Result{Entry: e}
		switch err := failed[e.fs]; {
		case err != nil && e.inPlace:
			r.Err = fmt.Errorf("%s: not known durable: %w", e.Final, err)
		case err != nil:
			r.Err = failTemp(fmt.Errorf("%s: data not known durable, not published: %w", e.Final, err), e.temp)
		case !e.inPlace:
			if err := durable.RenameUnflushed(e.temp, e.Final, e.noReplace); err != nil {
				if errors.Is(err, fs.ErrExist) && e.noReplace {
					r.Exists = true
				}
				r.Err = failTemp(err, e.temp)
			}
		}
		if r.Err != nil {
			e.failed = true
			results = append(results, r)
			continue
		}
		// In place now; an entry left in place by an earlier run joins
		// too, since its directory entry may never have been flushed.
		e.renamed = true
		c.renamed = append(c.renamed, e)
		if e.fs.barrier == fsinfo.BarrierPerFile {
			c.renamedDirs[filepath.Dir(e.Final)] = e.fs
		}
	}
	return results
}

// FlushDirs makes durable the directories recorded by DirCreated and
// DirChanged since the last Flush, for a caller with no file left staged
// (Flush reports failures only through the files of its batch). The error
// names what is not known durable.
func (c *Committer) FlushDirs() error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	dirs := c.dirs
	c.dirs = map[string]*fileSystem{}
	c.mu.Unlock()
	var errs []error
	for _, err := range syncDirs(dirs) {
		errs = append(errs, err)
	}
	for f, err := range barrier(nil, dirs) {
		errs = append(errs, fmt.Errorf("directories on %s not known durable: %w", f.mount.MountPoint, err))
	}
	return errors.Join(errs...)
}

// barrier flushes every file system of the batch (and of the changed
// directories) as a whole: one syncfs where that reaches the device, syncfs
// and an fsync of a directory where only the fsync flushes the drive, or a
// flush of the block device under a FUSE file system, whose server may have
// ignored the per-file flushes. It returns the failures by file system.
func barrier(batch []*Entry, dirs map[string]*fileSystem) map[*fileSystem]error {
	seen := map[*fileSystem]bool{}
	failed := map[*fileSystem]error{}
	do := func(f *fileSystem) {
		if seen[f] {
			return
		}
		seen[f] = true
		var err error
		switch {
		case f.barrier == fsinfo.BarrierSyncFS:
			err = durable.SyncFS(f.dir)
		case f.barrier == fsinfo.BarrierSyncFSFlush:
			err = durable.SyncFSFlush(f.dir)
		case f.device != "":
			err = durable.SyncPath(f.device)
		}
		if err != nil {
			failed[f] = err
		}
	}
	for _, e := range batch {
		do(e.fs)
	}
	for _, f := range dirs {
		do(f)
	}
	return failed
}

// syncDirs flushes, in parallel, the directories of per-file file systems
// and returns the errors by directory.
func syncDirs(dirs map[string]*fileSystem) map[string]error {
	var mu sync.Mutex
	errs := map[string]error{}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for dir, f := range dirs {
		if f.barrier != fsinfo.BarrierPerFile {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := durable.SyncDir(dir); err != nil {
				mu.Lock()
				errs[dir] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

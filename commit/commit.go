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
// Where the file system's commit covers the data that completed to the
// device before it (fsinfo.Caps.CommitCoversLanded), a file whose data the
// caller has waited for onto the device (Committer.Landed) skips step 1:
// it is renamed first, and the one barrier after the renames makes its
// data and its name durable together, so a small job's files pay one
// barrier.
//
// On a file system where one syncfs flushes everything and reports errors,
// a barrier is one syncfs. Where syncfs writes everything but sends the
// drive no cache flush (vfat, exfat, ntfs3), it is syncfs, then an fsync of
// a directory there, which flushes the drive. Where the FUSE server writes
// everything it holds and flushes its device on any fsync (exfat-fuse), it
// is one fsync of a directory there, and a rename onto an existing file is
// flushed at once, no write going to the server in between (see publish).
// Elsewhere (other FUSE file systems, kernels before 5.8, macOS, Windows)
// each file is flushed on its own when it is staged and each changed
// directory after the renames, in parallel; under a FUSE file system the
// block device is then flushed too, since the server may not pass fsync
// on (fusefat does not).
//
// Every name is made relative to a directory descriptor opened beneath the
// job's destination (package beneath): a link on the stick is never
// followed, and a directory swapped for one after it was checked is not
// written through.
//
// A failed barrier is final (see package durable): the files it covered are
// failed, their temporary files removed where they still exist, and nothing
// is retried.
package commit

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
)

// Entry is one file (or symlink) on its way to its final name.
type Entry struct {
	Final string
	Tag   any // the caller's, returned in Result
	Size  int64

	temp      string       // the temporary file's path, for messages
	tempName  string       // its name in dir
	name      string       // the final name in dir
	dirPath   string       // the directory of Final
	dir       *beneath.Dir // held until the entry's fate is reported; nil past the root's budget
	noReplace bool
	file      bool // a regular file the caller wrote (Create, Adopt)
	fs        *fileSystem
	renamed   bool
	failed    bool // Flush did not make it durable; Link refuses it
	inPlace   bool // already under its final name; only the barriers apply
	// times, where a rename resets them, are the times Chtimes set, to set
	// again on the final name; timesLost says that failed.
	times     *[2]time.Time
	timesLost bool
	c         *Committer
}

// Result tells the fate of an entry after Flush. Err is nil only when the
// file is durable under its final name. Exists is set when a no-replace
// commit found the final name taken; the entry's data was discarded.
// TimesLost is set when the times given to Chtimes could not be set again
// after a rename that reset them: the file is durable, its times are not
// the ones asked for.
type Result struct {
	Entry     *Entry
	Err       error
	Exists    bool
	TimesLost bool
}

type fileSystem struct {
	mount   fsinfo.Mount
	caps    fsinfo.Caps
	barrier fsinfo.Barrier
	why     string
	dir     string // a directory on it, opened beneath the root for syncfs
	device  string // block device under a FUSE file system, flushed at each barrier
	// lost is a flush that failed between barriers (after a replacing
	// rename, see step), under flushMu: the next barrier fails with it.
	lost error
	// landedCovers: one syncfs covers a rename and the data that landed
	// before it (fsinfo.Caps.CommitCoversLanded).
	landedCovers bool
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
	// AfterRenames, when set, hears the entries of each Flush's batch that
	// were just renamed onto their final names, their data durable (or
	// landed, see Landed), before the barrier that makes the renames durable and reports
	// them: what the caller writes on the same file system then (on a
	// per-file one, flushed by the caller) is durable by that barrier too.
	// It is set once, before the first Flush.
	AfterRenames func(entries []*Entry)
	// Landed, when set, waits until the data of a staged file the caller
	// wrote has completed to the device (L1: its writeback waited for and
	// no error met) and says whether it has. On a file system whose
	// commit covers such data, a file it answers yes for is renamed
	// before its batch's barrier, which then makes it durable. It is set
	// once, before the first Flush.
	Landed func(e *Entry) bool

	root *beneath.Root
	ops  ops

	mu      sync.Mutex
	byDev   map[devID]*fileSystem
	pending []*Entry
	bytes   int64
	dirs    map[string]*fileSystem // directories to flush in per-file mode

	// reuse is held by a rename onto an existing file until its flush,
	// and by each write for the time it takes (Writing): the server may
	// give the replaced file's clusters to any file written meanwhile.
	reuse sync.RWMutex

	flushMu sync.Mutex
	// Under flushMu: entries a Step renamed onto their final names, and
	// their directories, waiting for the next barrier to be reported.
	renamed     []*Entry
	renamedDirs map[string]*fileSystem
}

// New returns an empty Committer that takes every path as it is named,
// links and all: for files in places of the caller's own.
func New() *Committer {
	return NewIn(beneath.Unconfined())
}

// NewIn returns an empty Committer for files beneath root, none of which
// is reached through a link.
func NewIn(root *beneath.Root) *Committer {
	return &Committer{root: root, ops: osOps{}, byDev: map[devID]*fileSystem{}, dirs: map[string]*fileSystem{}, renamedDirs: map[string]*fileSystem{}}
}

// fileSystemOf finds (once per device) how the file system holding d is
// made durable. The mount is looked up by the root's path, the user's own,
// when d is on the root's device: a path beneath it could be swapped for
// a link to another mount between the two looks.
func (c *Committer) fileSystemOf(d *beneath.Dir) (*fileSystem, error) {
	id, err := deviceOf(d.File())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.byDev[id]; ok {
		return f, nil
	}
	where := d.Path()
	if rf := c.root.File(); rf != nil {
		if rid, err := deviceOf(rf); err == nil && rid == id {
			where = c.root.Path()
		}
	}
	f, err := c.ops.describe(where)
	if err != nil {
		return nil, err
	}
	f.dir = d.Path()
	c.byDev[id] = f
	return f, nil
}

// parent opens final's directory beneath the root, and finds the file
// system it is on; the caller releases the directory.
func (c *Committer) parent(final string) (*beneath.Dir, string, *fileSystem, error) {
	d, name, err := c.root.Parent(final)
	if err != nil {
		return nil, "", nil, err
	}
	f, err := c.fileSystemOf(d)
	if err != nil {
		d.Release()
		return nil, "", nil, err
	}
	return d, name, f, nil
}

// FileSystem says what the entry's file system can do, how it is made
// durable, and the block device under it when it is a FUSE file system
// ("" if unknown), so that the writer of the data can wait for its
// writeback the same way.
func (e *Entry) FileSystem() (fsinfo.Caps, fsinfo.Barrier, string) {
	return e.fs.caps, e.fs.barrier, e.fs.device
}

// FileSystemID identifies the entry's file system: two entries of one
// Committer on the same file system have equal IDs, so that a caller can
// remember what it learnt of it without a stat per file.
func (e *Entry) FileSystemID() any { return e.fs }

// fileSystemAt is fileSystemOf for the directory at path.
func (c *Committer) fileSystemAt(path string) (*fileSystem, error) {
	d, err := c.root.Dir(path)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return c.fileSystemOf(d)
}

// Describe says how files under dir will be made durable, in words.
func (c *Committer) Describe(dir string) (fsinfo.Mount, fsinfo.Barrier, string, error) {
	f, err := c.fileSystemAt(dir)
	if err != nil {
		return fsinfo.Mount{}, 0, "", err
	}
	return f.mount, f.barrier, f.why, nil
}

// Caps says what the file system holding dir can do and promise.
func (c *Committer) Caps(dir string) (fsinfo.Caps, error) {
	f, err := c.fileSystemAt(dir)
	if err != nil {
		return fsinfo.Caps{}, err
	}
	return f.caps, nil
}

// Create opens a new temporary file for final in final's directory. The
// caller writes the data and attributes, then calls Stage or Abort.
func (c *Committer) Create(final string, perm fs.FileMode, noReplace bool) (*Entry, *os.File, error) {
	d, name, f, err := c.parent(final)
	if err != nil {
		return nil, nil, err
	}
	done := c.Writing()
	file, err := c.ops.createTemp(d, perm)
	done()
	if err != nil {
		d.Release()
		return nil, nil, err
	}
	e := &Entry{Final: final, temp: file.Name(), tempName: filepath.Base(file.Name()), name: name, dirPath: d.Path(), noReplace: noReplace, file: true, fs: f, c: c}
	e.hold(d)
	return e, file, nil
}

// Adopt takes up the temporary file temp that an interrupted run left in
// final's directory, to write the rest of it and then Stage or Abort it
// as if Create had made it. It is opened for writing, a link there not
// followed; what it holds is the caller's to check.
func (c *Committer) Adopt(final, temp string, noReplace bool) (*Entry, *os.File, error) {
	if !durable.IsTemp(temp) {
		return nil, nil, &os.PathError{Op: "open", Path: filepath.Join(filepath.Dir(final), temp), Err: fs.ErrInvalid}
	}
	d, name, err := c.root.Parent(final)
	if err != nil {
		return nil, nil, err
	}
	f, err := c.fileSystemOf(d)
	if err != nil {
		d.Release()
		return nil, nil, err
	}
	file, err := d.OpenFile(temp, os.O_RDWR)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = file.Stat(); err == nil && !fi.Mode().IsRegular() {
			err = &os.PathError{Op: "open", Path: d.Name(temp), Err: fs.ErrInvalid}
		}
		if err != nil {
			file.Close()
		}
	}
	if err != nil {
		d.Release()
		return nil, nil, err
	}
	e := &Entry{Final: final, temp: d.Name(temp), tempName: temp, name: name, dirPath: d.Path(), noReplace: noReplace, file: true, fs: f, c: c}
	e.hold(d)
	return e, file, nil
}

// TempName is the base name of the entry's temporary file, in Final's
// directory.
func (e *Entry) TempName() string { return e.tempName }

// SyncDir flushes the entry's directory, so that its temporary file's
// name survives a crash: for a partial file a rerun will take up.
func (e *Entry) SyncDir() error {
	return e.inDir(func(d *beneath.Dir) error { return durable.SyncDirOf(d.File()) })
}

// Keep closes the temporary file of an entry that will not be staged now
// and leaves it where it is, for a later run to Adopt.
func (c *Committer) Keep(e *Entry, file *os.File) error {
	defer e.release()
	if err := file.Close(); err != nil {
		return &os.PathError{Op: "close", Path: e.temp, Err: err}
	}
	return nil
}

// Chtimes sets the times of the entry's temporary file, through its
// directory.
func (e *Entry) Chtimes(atime, mtime time.Time) error {
	if err := e.inDir(func(d *beneath.Dir) error { return e.c.ops.chtimes(d, e.tempName, atime, mtime) }); err != nil {
		return err
	}
	if e.fs.caps.RenameResetsTimes {
		e.times = &[2]time.Time{atime, mtime}
	}
	return nil
}

// hold keeps the entry's directory open until its fate is decided, so
// that its rename happens in the very directory it was written in,
// whatever is renamed in its place meanwhile. Past the root's budget of
// open directories (a tree of many small directories under a low limit
// of open files) it is opened again, beneath the root, when needed.
func (e *Entry) hold(d *beneath.Dir) {
	if d.Spare() {
		e.dir = d
		return
	}
	d.Release()
}

// inDir runs op in the entry's directory.
func (e *Entry) inDir(op func(d *beneath.Dir) error) error {
	if e.dir != nil {
		return op(e.dir)
	}
	d, err := e.c.root.Dir(e.dirPath)
	if err != nil {
		return err
	}
	defer d.Release()
	return op(d)
}

// release gives back the entry's directory once its fate is decided.
func (e *Entry) release() {
	if e.dir != nil {
		e.dir.Release()
		e.dir = nil
	}
}

// Abort closes and removes the temporary file of an entry that will not be
// staged. The error, a *TempLeftError, says the file is still there.
func (c *Committer) Abort(e *Entry, file *os.File) error {
	if file != nil {
		c.ops.close(file)
	}
	defer e.release()
	return removeTemp(e)
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

// removeTemp removes an entry's temporary file; one already gone is fine.
func removeTemp(e *Entry) error {
	err := e.inDir(func(d *beneath.Dir) error { return e.c.ops.remove(d, e.tempName) })
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &TempLeftError{Temp: e.temp, Err: err}
}

// failTemp removes the temporary file of a failed entry and adds to err
// where it is, if it could not be removed.
func failTemp(err error, e *Entry) error {
	if rerr := removeTemp(e); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// testHookWriteWaits, set by tests, runs when Writing has to wait.
var testHookWriteWaits func()

// Writing is called around each write the caller makes to a file system
// of the Committer (a file's data, a new directory, its journal) and
// returns once no rename onto an existing file is waiting for its flush
// (see publish); the caller calls done as soon as the write returns,
// waiting for nothing else in between.
func (c *Committer) Writing() (done func()) {
	if !c.reuse.TryRLock() {
		if testHookWriteWaits != nil {
			testHookWriteWaits()
		}
		c.reuse.RLock()
	}
	return c.reuse.RUnlock
}

// Stage takes a written temporary file into the next batch and closes it.
// Where every file is flushed on its own, that flush happens here, so that
// the flushes of parallel writers overlap; elsewhere the writer has
// started the file's writeback (package copier) and the barrier waits for
// it. On error the temporary file is removed.
func (c *Committer) Stage(e *Entry, file *os.File) error {
	var err error
	if e.fs.barrier == fsinfo.BarrierPerFile {
		err = c.ops.syncFile(file)
	}
	done := c.Writing()
	cerr := c.ops.close(file)
	done()
	if err == nil && cerr != nil {
		err = &os.PathError{Op: "close", Path: e.Final, Err: cerr}
	}
	if err != nil {
		err = failTemp(err, e)
		e.release()
		return err
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
	return c.SymlinkWith(target, final, noReplace, tag, nil)
}

// SymlinkWith is Symlink, and then, when set, attrs sets the link's own
// attributes (owner, times) on its temporary name before it is staged.
func (c *Committer) SymlinkWith(target, final string, noReplace bool, tag any, attrs func(d *beneath.Dir, temp string) error) error {
	return c.stageNew(final, noReplace, tag, func(d *beneath.Dir, temp string) error {
		if err := c.ops.symlink(d, target, temp); err != nil || attrs == nil {
			return err
		}
		if err := attrs(d, temp); err != nil {
			c.ops.remove(d, temp)
			return err
		}
		return nil
	})
}

// stageNew stages an entry that create makes at a fresh temporary name in
// final's directory (a symlink, a hard link).
func (c *Committer) stageNew(final string, noReplace bool, tag any, create func(d *beneath.Dir, temp string) error) error {
	d, name, f, err := c.parent(final)
	if err != nil {
		return err
	}
	// The name is random; one taken (by an earlier run's leftover) is
	// simply not used.
	var temp string
	for range 100 {
		temp = durable.NewTempName()
		if err = create(d, temp); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		d.Release()
		return err
	}
	e := &Entry{Final: final, Tag: tag, temp: d.Name(temp), tempName: temp, name: name, dirPath: d.Path(), noReplace: noReplace, fs: f, c: c}
	e.hold(d)
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
	// Under flushMu an entry holds its directory until its fate is
	// reported (within the root's budget); else it is found again
	// beneath the root.
	fromDir, old := from.dir, from.tempName
	if from.renamed || from.inPlace {
		old = from.name
	}
	if fromDir == nil {
		d, err := c.root.Dir(from.dirPath)
		if err != nil {
			return err
		}
		defer d.Release()
		fromDir = d
	}
	return c.stageNew(final, noReplace, tag, func(d *beneath.Dir, temp string) error {
		return c.ops.link(d, fromDir, old, temp)
	})
}

// InPlace takes a file that already holds its final content under its
// final name (left by an interrupted run, whose last barrier may not have
// run) into the next batch, so that it is reported only once the barriers
// have covered it.
func (c *Committer) InPlace(final string, tag any) error {
	d, name, f, err := c.parent(final)
	if err != nil {
		return err
	}
	if f.barrier == fsinfo.BarrierPerFile {
		file, err := c.ops.openInPlace(d, name)
		if err == nil {
			err = c.ops.syncFile(file)
			c.ops.close(file)
		}
		if err != nil {
			d.Release()
			return err
		}
	}
	e := &Entry{Final: final, Tag: tag, fs: f, name: name, dirPath: d.Path(), inPlace: true, c: c}
	e.hold(d)
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
	f, err := c.fileSystemAt(dir)
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
		err := removeTemp(e)
		e.release()
		if errors.As(err, &tl) {
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
// the device takes them in the order of its own writeback, so a write of
// another file sent before the flush may land in the freed clusters while
// the old name still points at them.
func (c *Committer) Step() []Result {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	res, _ := c.step(true, nil)
	for _, e := range c.renamed {
		if !e.fs.barrier.WholeFS() {
			more, _ := c.step(false, nil)
			return append(res, more...)
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
	res, _ := c.step(true, nil)
	more, _ := c.step(false, nil)
	return append(res, more...)
}

// Finish is the caller's last change of a job (directories' attributes,
// the removal of a file of its own), made on the file systems of the
// batch. renamed says that every entry of the batch was renamed onto its
// final name; the changes it records (DirChanged) join the barrier.
type Finish func(renamed bool)

// FlushFinishing is Flush for the job's last batch. Where every file
// system of its last barrier logs its metadata in the order it changes
// (its commit covers landed data, fsinfo.Caps.CommitCoversLanded), finish
// runs after the batch's last renames and before that barrier, which then
// makes its changes durable too: one barrier fewer than Flush and then
// FlushDirs, and no change of finish durable without the renames before
// it. finished says whether finish ran; if not, the caller makes its
// changes and calls FlushDirs, as after Flush. dirErr names the
// directories finish recorded that the barrier did not make durable.
func (c *Committer) FlushFinishing(finish Finish) (res []Result, finished bool, dirErr error) {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	ok := true
	var fin *finishing
	wrap := func(renamed bool) *finishing {
		fin = &finishing{do: func() { finish(ok && renamed) }}
		return fin
	}
	res, fin = c.step(true, wrap)
	for _, r := range res {
		ok = ok && r.Err == nil
	}
	if fin == nil {
		var more []Result
		more, fin = c.step(false, wrap)
		res = append(res, more...)
	}
	if fin == nil {
		return res, false, nil
	}
	return res, true, fin.err
}

// finishing is a Finish run within a step: dirs are the directories it
// recorded, err the barrier's failures on their file systems.
type finishing struct {
	do   func()
	dirs map[string]*fileSystem
	err  error
}

// step is Step, or with take false only the barrier for the renames
// already made, leaving staged entries for later. With finish, the
// caller's last changes are made before the barrier where it covers them
// (see FlushFinishing); the finishing returned is nil when they were not.
func (c *Committer) step(take bool, finish func(renamed bool) *finishing) ([]Result, *finishing) {
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
		return nil, nil
	}
	if c.BeforeBarrier != nil {
		c.BeforeBarrier(len(batch)+len(done), staged)
	}
	results := make([]Result, 0, len(batch)+len(done))
	early, batch, results := c.renameLanded(batch, results)
	var fin *finishing
	if finish != nil && len(batch) == 0 && orderedLog(early, done, dirs) {
		fin = finish(len(results) == 0)
		fin.do()
		fin.dirs = c.takeDirs()
		maps.Copy(dirs, fin.dirs)
	}

	// One barrier: the directory entries of the renames made last time
	// (and of directories created since), the data of every staged file,
	// and both the data and the names of the files renamed just now.
	// Per-file file systems had their data flushed at Stage.
	dirErrs := c.syncDirs(dirs)
	failed := c.barrier(slices.Concat(batch, done, early), dirs)
	for dir, err := range dirErrs {
		f := dirs[dir]
		failed[f] = errors.Join(failed[f], err)
	}
	if fin != nil {
		fin.err = dirsErr(fin.dirs, failed)
	}

	for _, e := range early {
		r := Result{Entry: e, TimesLost: e.timesLost}
		if err := failed[e.fs]; err != nil {
			// Renamed before its only barrier: neither its data nor its
			// name is known to have reached the media.
			r.Err = fmt.Errorf("%s is in place but not known durable: %w; neither its data nor its rename is known to have reached the media, so a copy, complete or not, may be under its temporary name '%s' instead", e.Final, err, e.temp)
		}
		if c.DataBarrierDone != nil {
			c.DataBarrierDone(e, failed[e.fs])
		}
		e.failed = r.Err != nil
		e.release()
		results = append(results, r)
	}
	for _, e := range done {
		r := Result{Entry: e, TimesLost: e.timesLost}
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
		e.release()
		results = append(results, r)
	}

	if c.DataBarrierDone != nil {
		for _, e := range batch {
			c.DataBarrierDone(e, failed[e.fs])
		}
	}
	var now []*Entry
	for _, e := range batch {
		r := Result{Entry: e}
		switch err := failed[e.fs]; {
		case err != nil && e.inPlace:
			r.Err = fmt.Errorf("%s: not known durable: %w", e.Final, err)
		case err != nil:
			r.Err = failTemp(fmt.Errorf("%s: data not known durable, not published: %w", e.Final, err), e)
		case !e.inPlace:
			r = c.publish(e)
		}
		if r.Err != nil {
			e.failed = true
			e.release()
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
		if !e.inPlace {
			now = append(now, e)
		}
	}
	if c.AfterRenames != nil && len(now) > 0 {
		c.AfterRenames(now)
	}
	return results, fin
}

// orderedLog says whether every file system of a barrier over these
// entries and directories logs its metadata in the order it changes, so
// that a change made after the entries' renames is never durable without
// them, and the barrier makes it durable with them.
func orderedLog(early, done []*Entry, dirs map[string]*fileSystem) bool {
	for _, e := range slices.Concat(early, done) {
		if !e.fs.landedCovers {
			return false
		}
	}
	for _, f := range dirs {
		if !f.landedCovers {
			return false
		}
	}
	return true
}

// takeDirs takes the directories recorded since the last take.
func (c *Committer) takeDirs() map[string]*fileSystem {
	c.mu.Lock()
	defer c.mu.Unlock()
	dirs := c.dirs
	c.dirs = map[string]*fileSystem{}
	return dirs
}

// dirsErr names the file systems of dirs that the barrier did not make
// durable, as FlushDirs does.
func dirsErr(dirs map[string]*fileSystem, failed map[*fileSystem]error) error {
	seen := map[*fileSystem]bool{}
	var errs []error
	for _, f := range dirs {
		if err := failed[f]; err != nil && !seen[f] {
			seen[f] = true
			errs = append(errs, fmt.Errorf("directories on %s not known durable: %w", f.mount.MountPoint, err))
		}
	}
	return errors.Join(errs...)
}

// renameLanded renames onto their final names the files of batch whose
// data has landed on a file system whose commit covers it (see Landed),
// before the barrier, and returns them, the entries left for the usual
// two barriers, and results with those that failed to be renamed added.
func (c *Committer) renameLanded(batch []*Entry, results []Result) (early, rest []*Entry, _ []Result) {
	for _, e := range batch {
		if !e.file || !e.fs.landedCovers || !c.landed(e) {
			rest = append(rest, e)
			continue
		}
		r := c.publish(e)
		if r.Err != nil {
			if c.DataBarrierDone != nil {
				c.DataBarrierDone(e, r.Err)
			}
			e.failed = true
			e.release()
			results = append(results, r)
			continue
		}
		e.renamed = true
		early = append(early, e)
	}
	if skipLandedWait {
		for _, e := range early {
			c.syncDir(e.dirPath)
		}
	}
	if c.AfterRenames != nil && len(early) > 0 {
		c.AfterRenames(early)
	}
	return early, rest, results
}

// landed asks the caller whether e's data is on the device.
func (c *Committer) landed(e *Entry) bool {
	if skipLandedWait {
		return true
	}
	return c.Landed != nil && c.Landed(e)
}

// publish renames e's temporary file onto its final name, within the one
// directory held since the file was created: a link now at the final name
// is replaced, not followed. On failure the temporary file is removed and
// the result says why.
func (c *Committer) publish(e *Entry) Result {
	r := Result{Entry: e}
	replaces := e.fs.barrier == fsinfo.BarrierServerFsync && !e.noReplace &&
		e.inDir(func(d *beneath.Dir) error { _, err := d.Lstat(e.name); return err }) == nil
	if replaces {
		// The server frees the old file's clusters at the rename and gives
		// them to the next file written, whose data the drive may keep
		// while losing the rename (the old name then shows it): no write
		// goes to the server until the rename is flushed.
		c.reuse.Lock()
	}
	// Within the one directory held since the file was created: a link
	// now at the final name is replaced, not followed.
	err := e.inDir(func(d *beneath.Dir) error { return c.ops.rename(d, e.tempName, e.name, e.noReplace) })
	if err == nil && replaces {
		if ferr := c.syncDir(e.fs.dir); ferr != nil {
			e.fs.lost = errors.Join(e.fs.lost, ferr)
		}
	}
	if replaces {
		c.reuse.Unlock()
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) && e.noReplace {
			r.Exists = true
		}
		return Result{Entry: e, Exists: r.Exists, Err: failTemp(err, e)}
	}
	if e.times != nil {
		// Before the barrier that covers the rename, which then covers
		// the times too.
		e.timesLost = e.inDir(func(d *beneath.Dir) error { return c.ops.chtimes(d, e.name, e.times[0], e.times[1]) }) != nil
	}
	return r
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
	for _, err := range c.syncDirs(dirs) {
		errs = append(errs, err)
	}
	for f, err := range c.barrier(nil, dirs) {
		errs = append(errs, fmt.Errorf("directories on %s not known durable: %w", f.mount.MountPoint, err))
	}
	return errors.Join(errs...)
}

// barrier flushes every file system of the batch (and of the changed
// directories) as a whole: one syncfs where that reaches the device, syncfs
// and an fsync of a directory where only the fsync flushes the drive, one
// fsync of a directory where the FUSE server then flushes everything, or a
// flush of the block device under another FUSE file system, whose server
// may have ignored the per-file flushes. It returns the failures by file
// system.
func (c *Committer) barrier(batch []*Entry, dirs map[string]*fileSystem) map[*fileSystem]error {
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
			err = c.inFSDir(f, c.ops.syncFS)
		case f.barrier == fsinfo.BarrierSyncFSFlush:
			err = c.inFSDir(f, c.ops.syncFSFlush)
		case f.barrier == fsinfo.BarrierServerFsync:
			err = c.syncDir(f.dir)
		case f.device != "":
			err = c.ops.syncDevice(f.device)
		}
		if f.lost != nil {
			err, f.lost = errors.Join(f.lost, err), nil
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

// inFSDir calls op on f's directory, opened beneath the root, so that
// it is that very file system which is flushed: ops.syncFS, or
// ops.syncFSFlush where syncfs sends the drive no FLUSH and the fsync of
// that same directory does.
func (c *Committer) inFSDir(f *fileSystem, op func(*os.File) error) error {
	d, err := c.root.Dir(f.dir)
	if err != nil {
		return err
	}
	defer d.Release()
	return op(d.File())
}

// syncDir flushes the directory at path, opened beneath the root.
func (c *Committer) syncDir(path string) error {
	d, err := c.root.Dir(path)
	if err != nil {
		return err
	}
	defer d.Release()
	return c.ops.syncDir(d.File())
}

// syncDirs flushes, in parallel, the directories of per-file file systems
// and returns the errors by directory.
func (c *Committer) syncDirs(dirs map[string]*fileSystem) map[string]error {
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
			if err := c.syncDir(dir); err != nil {
				mu.Lock()
				errs[dir] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

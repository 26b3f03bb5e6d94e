// The job: Copy's options and results, and copyJob, which checks a job,
// runs the stages (doc.go) and ends it once every file is settled.

package copier

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/filter"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
	"github.com/sure-tools/sure/preflight"
)

// Options are cp's options that change what is copied and how.
type Options struct {
	Recursive bool // copy directories
	Archive   bool // -a: Recursive, Preserve all, Deref never
	NoClobber bool // never replace an existing file (Update none)

	Preserve Preserve // attributes kept beyond cp's default mode
	Deref    Deref    // which source symlinks are followed
	Update   Update   // which existing destination files are replaced
	// Confirm, when set, is asked before an existing file is replaced
	// (-i); false keeps the file. It is called from one goroutine.
	Confirm func(dst string) bool
	// Backup keeps each replaced file under a backup name, made durable
	// with the new file: NAME+BackupSuffix ("~" when empty) or NAME.~N~.
	Backup        Backup
	BackupSuffix  string
	NoTargetDir   bool     // -T: DEST is never a directory to copy into
	Parents       bool     // --parents: each operand's path is kept under DEST
	OneFileSystem bool     // -x: directories on other file systems are made, not entered
	Reflink       Tristate // share extents with the source (FICLONE): where possible, always, never
	Sparse        Tristate // holes: keep the source's, make them for zeros too, or write every byte

	// What proves an existing destination file identical, so that it is
	// kept instead of replaced. By default only the job journal does: the
	// file is one an interrupted sure job finished (journal.go).
	// QuickCheck also takes rsync's quick check (same size and
	// modification time), SizeOnly the size alone.
	QuickCheck bool
	SizeOnly   bool

	// DryRun checks the job (pre-flight included) and tells, through
	// DryRunEvents, what it would copy, replace or move, writing nothing.
	DryRun bool

	// Filter leaves out what its rules exclude (rsync's --exclude and
	// --include; package filter): an excluded directory is not entered,
	// and a move leaves excluded sources where they are.
	Filter *filter.List
	// Delete makes each directory copied as part of a tree a mirror of
	// its source (rsync's --delete): once the whole copy is durable, and
	// only if every file of it is, destination entries the source does
	// not hold are removed, except those Filter excludes (delete.go).
	Delete bool

	// What the destination's file system cannot hold (names, sizes) is
	// refused before anything is written, unless one of these says what
	// to do instead (package preflight).
	SkipInvalid   bool // leave it out and copy the rest
	RenameInvalid bool // give invalid or case-colliding names a valid one
	NoSpaceCheck  bool // start even if the free space looks too small (tests of a full disk)

	// ResumeEvery is how far apart the durable steps of a big file's copy
	// are, which a rerun after an interruption resumes from (resume.go);
	// 0 means DefaultResumeEvery, negative none.
	ResumeEvery int64

	Workers int // files copied at once; 0 means 8
	// Staged files are committed every second (checkpointEvery), or
	// sooner when this many are staged; 0 means 2,000 files and 256 MiB.
	BatchFiles int
	BatchBytes int64

	// MaxDirty bounds the page-cache memory the job's writes keep dirty
	// or under writeback, across all workers and staged files; 0 means
	// DefaultMaxDirty. Write-behind windows shrink to fit, and staged
	// files are committed early when they hold it all.
	MaxDirty int64

	// Verify reads every file back from the device once it is durable and
	// compares it with the source as it was read (level L3); a move then
	// removes only sources whose copy verified. Checksum makes resume
	// compare an existing destination of the source's size by content
	// instead of by modification time. Manifest names a file to write the
	// BLAKE3 sums of the files copied to, in b3sum's format (package
	// manifest). See verify.go.
	Verify   bool
	Checksum bool
	Manifest string

	// Atomic copies one directory as a whole: staged under a hidden name
	// beside its target, made durable, then put in place with one rename
	// (an exchange with the old tree, removed afterwards). Refused where
	// the file system cannot do that in one durable step (atomic.go).
	Atomic bool

	Events Events // may be nil
}

// Events hears about each file as its fate is decided. Calls may come from
// several goroutines, never at once.
type Events interface {
	// Durable: dst is on the media under its final name, directory entry
	// included. Where later writes could still undo that (fusefat), it
	// comes only after the job's last barrier.
	Durable(src, dst string, size int64)
	// Skipped: dst was left as it was, on purpose (-n and dst exists).
	Skipped(src, dst, why string)
	// Failed: dst does not hold a new copy of src; the reason names it.
	Failed(src, dst string, err error)
}

// Summary counts the outcome of a job.
type Summary struct {
	Files       int // regular files and symlinks now durable
	Bytes       int64
	Dirs        int // directories made durable
	Skipped     int
	UpToDate    int // already complete at the destination (resume), now known durable
	Failed      int
	Interrupted bool
	// DestFailed is why the job stopped early on its own: the destination
	// stopped taking writes (*DestFailedError). Files not reached by then
	// were not tried.
	DestFailed   error
	Partial      int      // big files stopped mid-way whose temporary file is kept, durable up to a step, for a rerun to finish
	Discarded    int      // staged files dropped at an interruption or a stop, their temporary files removed
	TempsLeft    []string // temporary files of dropped files that could not be removed, with the cause
	AttrsNotKept int      // files and directories whose mode, owner or times the destination cannot hold
	LinksNotKept int      // names of hard-linked files copied as separate files: the destination holds no hard links
	Dest         fsinfo.Mount
	Barrier      fsinfo.Barrier
	BarrierWhy   string
	Preflight    *preflight.Plan // what SkipInvalid and RenameInvalid changed
	Would        int             // DryRun: files that would be copied or moved
	WouldBytes   int64           // their bytes
	Verified     int             // files read back from the device and found equal to their source (Verify)
	Mismatched   int             // durable files that differ on the device, or could not be read back (Verify)
	Excluded     int             // source entries Filter left out (a directory counts once)
	Removed      int             // Delete: destination entries removed (in a dry run, that would be)
	AtomicTarget string          // Atomic: the tree put in place at once
	Published    bool            // Atomic: the new tree is durable at AtomicTarget
}

// UsageError is an error in the job itself, found before anything was
// written (wrong number of operands, target not a directory).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

type job struct {
	src, dst string
	info     fs.FileInfo
	existing fs.FileInfo // dst before the copy, nil if absent
	upToDate bool        // dst already held this content; only made durable
	track    *tracker    // its bytes on their way to the device (land.go)
	link     *linkFirst  // later names of this source file link to its copy (links.go)
	sums     *sums       // the source's hashes, for Verify and Manifest (verify.go)
	notKept  bool        // counted in AttrsNotKept already
}

type dirJob struct {
	src, dst string
	info     fs.FileInfo
	created  bool
	perm     fs.FileMode // the mode cp gives a new directory: the source's, less the umask
}

type run struct {
	ctx    context.Context // the caller's, also cancelled when the destination fails (destfail.go)
	stop   context.CancelCauseFunc
	opt    jobSpec
	root   *beneath.Root // the destination directory: every name is opened beneath it
	dest   string        // DEST as the user typed it
	c      *commit.Committer
	events Events

	mu      sync.Mutex
	sum     Summary
	dirs    []dirJob
	unread  map[string]bool // destination directories whose source could not be read
	jobs    chan job
	flushCh chan struct{}
	// stepped is signalled after each barrier step, for a walk waiting
	// for the files staged to be taken (admit).
	stepMu  sync.Mutex
	stepped *sync.Cond

	destDir string     // where the destination is probed after a failure
	probeMu sync.Mutex // one probe at a time

	movedFrom map[string]bool                  // source directories a move removed entries from
	srcRoots  map[string]*beneath.Root         // a move's operands' directories, its sources removed beneath them (move.go)
	journal   *journal                         // files this job made durable, for a rerun after an interruption (journal.go)
	eng       engine                           // dirty budget, write-behind, progress (engine.go)
	links     hardLinks                        // -a: names of multiply linked source files (links.go)
	vr        *verifyRun                       // Verify, Manifest (verify.go)
	excl      func(path string, dir bool) bool // Filter, nil without one (filter.go)
	mirror    mirror                           // Delete (delete.go)

	// holdReports: files are reported (and a move's sources removed)
	// only after the job's last barrier (fsinfo.Caps.ReportsOnlyAtEnd); held
	// are the files barriers covered until then.
	holdReports bool
	held        heldFiles
	// hashJournal: the destination's change times do not tell a copy
	// written since, so the journal holds hashes (journal.go).
	hashJournal bool
}

// Copy copies srcs to dest as `cp` would (dest is a directory when there
// are several sources or when it exists as one) and returns when every file
// is durable, failed, or the context is done. The error is non-nil for a
// job that could not start (*UsageError) or ended with failures.
func Copy(ctx context.Context, srcs []string, dest string, opt Options) (Summary, error) {
	return copyJob(ctx, srcs, dest, jobSpec{Options: opt})
}

// copyJob runs the copy opt describes: Copy's, a move's across file
// systems, or a staged tree's.
func copyJob(ctx context.Context, srcs []string, dest string, opt jobSpec) (Summary, error) {
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.BatchFiles <= 0 {
		opt.BatchFiles = 2000
	}
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = 256 << 20
	}
	if err := opt.dirtyDefaults(); err != nil {
		return Summary{}, err
	}
	if opt.Events == nil {
		opt.Events = nopEvents{}
	}
	opt.normalize()
	if opt.DryRun {
		opt.Verify, opt.Manifest = false, "" // a manifest would be written
	}
	destIsDir, err := opt.operands(srcs, dest)
	if err != nil {
		return Summary{}, err
	}
	if opt.Atomic {
		if !opt.DryRun {
			return copyAtomic(ctx, srcs, dest, destIsDir, opt)
		}
		if _, _, err := checkAtomic(srcs, dest, destIsDir, opt); err != nil {
			return Summary{}, err
		}
	}
	if opt.plan == nil {
		po := opt.preflight()
		po.Exclude = opt.excluder(srcs)
		po.Contents = opt.Delete
		if !opt.move && !opt.noJournal {
			po.Reused = keptPartials(dest, destIsDir)
		}
		p, err := preflight.Check(srcs, dest, po)
		if err != nil {
			return Summary{}, err
		}
		opt.plan = p
	}

	destDir := dest
	if !destIsDir {
		destDir = filepath.Dir(dest)
	}
	// DEST is followed as typed, as cp does; nothing beneath it is.
	root, err := beneath.Open(destDir)
	if err != nil {
		return Summary{}, err
	}
	defer root.Close()
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	r := &run{
		ctx: rctx, stop: stop, opt: opt, root: root, c: commit.NewIn(root), events: &lockedEvents{e: opt.Events},
		jobs: make(chan job, 4*opt.Workers), flushCh: make(chan struct{}, 1),
		movedFrom: map[string]bool{}, srcRoots: map[string]*beneath.Root{},
	}
	defer r.closeSourceRoots()
	r.stepped = sync.NewCond(&r.stepMu)
	defer context.AfterFunc(r.ctx, r.signalStep)()
	r.destDir, r.dest = destDir, dest
	r.excl = opt.excluder(srcs)
	r.mirror.on = opt.Delete
	if m, b, why, err := r.c.Describe(destDir); err == nil {
		r.sum.Dest, r.sum.Barrier, r.sum.BarrierWhy = m, b, why
		if caps, err := r.c.Caps(destDir); err == nil {
			r.holdReports = caps.ReportsOnlyAtEnd
			r.hashJournal = !caps.ChangeTimes
		}
	}
	r.sum.Preflight = opt.plan
	// Before the engine: a job refused here must leave no lander running.
	if err := r.startVerify(); err != nil {
		return Summary{}, err
	}
	r.startEngine()
	if !opt.move && !opt.noJournal {
		r.openJournal()
	}
	defer r.closeJournal()

	var workers sync.WaitGroup
	for range opt.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range r.jobs {
				r.copyFile(j)
			}
		}()
	}
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		r.flusher()
	}()

	for _, src := range srcs {
		if r.ctx.Err() != nil {
			break
		}
		target := targetFor(src, dest, destIsDir)
		if opt.Delete && preflight.IsContents(src) {
			target = dest // SRC/ is mirrored onto DEST, as rsync mirrors it
		}
		if opt.Parents {
			target = filepath.Join(dest, src)
			if !r.makeParents(src, dest) {
				continue
			}
		}
		r.copyArg(src, target)
	}
	close(r.jobs)
	workers.Wait()
	r.makeLinks() // every first copy is staged or failed by now
	close(r.flushCh)
	<-flusherDone

	if r.ctx.Err() != nil {
		if df := r.destStopped(); df != nil && ctx.Err() == nil {
			r.sum.DestFailed = df
		} else {
			r.sum.Interrupted = true
		}
		var left []*commit.TempLeftError
		r.sum.Discarded, left = r.c.AbortPending()
		for _, tl := range left {
			r.sum.TempsLeft = append(r.sum.TempsLeft, tl.Error())
		}
		// Files already renamed onto their final names get the barrier
		// they were waiting for, so that they can be reported.
		r.settleBatch(r.c.Flush())
		if r.holdReports {
			r.releaseHeld(r.lastBarrier())
		}
	} else {
		// Files first: their renames change their directories' times,
		// which finishDirs sets afterwards (with -a) and then flushes.
		finished, dirErr := r.flushFinishing()
		if !finished {
			r.finishJob(true)
			dirErr = r.lastBarrier()
		}
		if dirErr != nil {
			r.fail("", "", dirErr)
		}
		r.releaseHeld(dirErr)
		// A source directory goes only once its copy is known durable.
		if opt.move && dirErr == nil && !opt.DryRun {
			r.removeSources()
		}
	}
	r.eng.land.stop()
	r.endVerify()
	// Nothing goes before the whole new tree is known durable.
	if opt.Delete && r.ctx.Err() == nil && r.sum.Failed == 0 && r.sum.Mismatched == 0 && !r.sum.Interrupted && r.sum.DestFailed == nil {
		r.deleteExtraneous()
	}
	sum := r.sum
	r.removeJournal(false)
	switch {
	case sum.Interrupted:
		return sum, fmt.Errorf("interrupted: %w", ctx.Err())
	case sum.DestFailed != nil:
		return sum, sum.DestFailed
	case sum.Failed > 0:
		return sum, fmt.Errorf("%d of %d files failed", sum.Failed, sum.Failed+sum.Files)
	case sum.Mismatched > 0:
		return sum, fmt.Errorf("%w: %d of %d files", ErrMismatch, sum.Mismatched, sum.Files+sum.UpToDate)
	}
	return sum, nil
}

// notDirTarget refuses, in GNU's words, several sources bound for dest,
// which is no directory: derr is why os.Stat found none.
// operands checks the operands as cp and mv do before anything is read,
// and says whether dest is a directory the sources go into.
func (opt *jobSpec) operands(srcs []string, dest string) (destIsDir bool, err error) {
	if len(srcs) == 0 {
		return false, &UsageError{"missing file operand"}
	}
	if err := opt.checkDelete(srcs); err != nil {
		return false, err
	}
	destInfo, derr := os.Stat(dest)
	destIsDir = derr == nil && destInfo.IsDir() && !opt.NoTargetDir
	if opt.NoTargetDir && len(srcs) > 1 {
		return false, &UsageError{fmt.Sprintf("extra operand '%s'", dest)}
	}
	if len(srcs) > 1 && !destIsDir || opt.Parents && !destIsDir {
		if derr != nil && !errors.Is(derr, fs.ErrNotExist) {
			return false, derr
		}
		if opt.Parents {
			return false, &UsageError{"with --parents, the destination must be a directory"}
		}
		return false, notDirTarget(dest, derr)
	}
	return destIsDir, nil
}

func notDirTarget(dest string, derr error) *UsageError {
	if errors.Is(derr, fs.ErrNotExist) {
		return &UsageError{fmt.Sprintf("target '%s': No such file or directory", dest)}
	}
	return &UsageError{fmt.Sprintf("target '%s': Not a directory", dest)}
}

// targetFor is where an operand goes, by cp's and mv's rule: into DEST
// when DEST is a directory, else DEST itself.
func targetFor(src, dest string, destIsDir bool) string {
	if destIsDir {
		return filepath.Join(dest, filepath.Base(filepath.Clean(src)))
	}
	return dest
}

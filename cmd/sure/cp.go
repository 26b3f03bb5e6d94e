package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/drivecache"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/flush"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
	"github.com/sure-tools/sure/pagecache"
)

func newCp() *cobra.Command {
	var opt copier.Options
	var verbose, quiet bool
	cmd := &cobra.Command{
		Use:   "cp [OPTION]... SRC... DEST",
		Short: "Copy files durably and atomically",
		Long: `Copy SRC to DEST, or several SRCs into the directory DEST, with cp's rules.
Each file is written under a hidden temporary name (.sure-*.tmp) next to its
final name, flushed to the media, then renamed into place, and the directory
is flushed too. An existing file is replaced atomically: at any instant it
holds its old or its new complete content. sure exits 0 only when every file
and directory entry is durable on the media.

GNU cp's options work as in GNU cp; besides those listed below:
  -p  same as --preserve=mode,ownership,timestamps
  -d  same as --no-dereference --preserve=links
  -H  follow symbolic links on the command line
  -b  like --backup, without an argument

With -t DIRECTORY, every operand is a source.`,
	}
	f := cmd.Flags()
	f.BoolVarP(&opt.Recursive, "recursive", "r", false, "copy directories recursively")
	f.BoolVarP(&opt.Recursive, "R", "R", false, "same as -r")
	f.Lookup("R").Hidden = true
	jobFlags(cmd, &opt, &verbose, &quiet, "copy", "print each file once it is durable")
	gnu := gnuJobFlags(cmd, &opt, false)
	cpOnly := cpOnlyFlags(cmd, &opt)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := gnu("cp"); err != nil {
			return err
		}
		if err := cpOnly(); err != nil {
			return err
		}
		return runJob(cmd, withTarget(cmd, args), "cp", copier.Copy, opt, verbose, quiet)
	}
	return cmd
}

// jobFlags defines the flags cp and mv share; job names the job ("copy",
// "move") and verboseHelp says what -v prints.
func jobFlags(cmd *cobra.Command, opt *copier.Options, verbose, quiet *bool, job, verboseHelp string) {
	f := cmd.Flags()
	f.BoolVar(&opt.SkipInvalid, "skip-invalid", false, "leave out files the destination cannot hold (names, sizes), copy the rest, and list them")
	f.BoolVar(&opt.RenameInvalid, "rename-invalid", false, "give names the destination cannot hold a valid one ('_' for bad characters), and list each rename")
	f.BoolVar(&opt.Atomic, "atomic", false, "copy one directory as a whole: staged under a hidden name, made durable, then put in place with one rename, so that DEST holds the whole old tree or the whole new one, never a mix")
	f.BoolVarP(verbose, "verbose", "v", false, verboseHelp)
	f.BoolVarP(quiet, "quiet", "q", false, "print nothing but errors")
	f.Bool("json", false, "write events as JSON lines on stdout (docs/json.md)")
	f.Var(byteSize{&opt.MaxDirty}, "max-dirty", "most memory the "+job+" keeps waiting for the device (dirty or under writeback); default 64M")
	verifyFlags(cmd, opt)
	filterFlags(cmd, opt)
	// Tuning knobs for tests and benchmarks: how many files or bytes one
	// barrier covers at most, and how many files are copied at once.
	f.IntVar(&opt.BatchFiles, "batch-files", 0, "commit after this many staged files")
	f.Int64Var(&opt.BatchBytes, "batch-bytes", 0, "commit after this many staged bytes")
	f.IntVar(&opt.Workers, "workers", 0, "files copied at once")
	// Tests of a disk filling up mid-copy get past the free-space check.
	f.BoolVar(&opt.NoSpaceCheck, "no-space-check", false, "start even if the free space looks too small")
	for _, n := range []string{"batch-files", "batch-bytes", "workers", "no-space-check"} {
		f.Lookup(n).Hidden = true
	}
}

// runJob runs a copy or a move and turns its outcome into sure's output
// and exit code.
func runJob(cmd *cobra.Command, args []string, verb string,
	job func(context.Context, []string, string, copier.Options) (copier.Summary, error),
	opt copier.Options, verbose, quiet bool) error {
	if opt.DryRun {
		return runDry(cmd, args, verb, job, opt, verbose)
	}
	stderr := cmd.ErrOrStderr()
	// The ui (progress.go) draws progress and --json events, and prints
	// each file's fate through a cpReporter.
	u := newUI(cmd, verb, args, verbose, quiet)
	opt.Events = u
	if confirm := opt.Confirm; confirm != nil {
		opt.Confirm = func(dst string) bool { return u.ask(func() bool { return confirm(dst) }) }
	}
	// Said once, before anything is written, rather than after every
	// file has failed its flush.
	if err := flush.Unreachable(args[len(args)-1]); err != nil {
		u.stop()
		fmt.Fprintf(stderr, "sure: %s: nothing was written: %v\n", verb, err)
		u.finished(copier.Summary{}, exitFailed, err)
		return exitError{exitFailed}
	}
	// A stop cleans up and ends with the summary; a repeated signal must
	// not cut that short.
	holdSignals(cmd.Context(), &heldJob{
		stopping: func(ctrlC bool) {
			if quiet {
				return
			}
			msg := fmt.Sprintf("sure: %s: stopping: removing unfinished temporary files and flushing the files already in place; the summary follows", verb)
			if ctrlC {
				msg += " (Ctrl-C again stops at once, leaving temporary files)"
			}
			u.notice(msg)
		},
		killed: fmt.Sprintf("sure: %s: stopped at once: unfinished temporary files (.sure-*.tmp) may be left; they hold no final name and can be deleted", verb),
	})
	sum, err := job(cmd.Context(), args[:len(args)-1], args[len(args)-1], opt)
	var flushErr error
	if err == nil {
		flushErr = recordFlushed(sum.Dest)
	}
	u.stop()
	if serr := stoppedBefore(stderr, verb, err, func(code int) { u.finished(sum, code, err) }); serr != nil {
		return serr
	}
	cause := flushErr
	if err != nil && !reported(sum) {
		// Stopped before any file's fate was told: the only word on it.
		cause = &toldError{jobErrorText(args[len(args)-1], err), err}
		fmt.Fprintf(stderr, "sure: %s: %s\n", verb, cause)
	}
	reportPlan(stderr, verb, sum.Preflight, verbose)
	line := summaryLine(sum, verbose)
	if flushErr != nil {
		// The files passed their barriers, but the drive has since failed
		// a flush: whatever it acknowledged may not be on its media.
		fmt.Fprintf(stderr, "sure: %s: %s\n", verb, quote.Text(fmt.Sprintf(
			"the final cache flush of the drive under %s failed: %v", sum.Dest.MountPoint, flushErr)))
		line += "; then the drive failed its final cache flush (see above), so it may have lost what it acknowledged: check the files (sure verify) before relying on them"
	}
	if !quiet || err != nil || flushErr != nil {
		fmt.Fprintln(stderr, line)
	}
	code := exitOK
	switch {
	case sum.Interrupted:
		code = exitInterrupted
	case sum.Mismatched > 0:
		code = exitMismatch
	case err != nil || flushErr != nil:
		code = exitFailed
	}
	u.finished(sum, code, cause)
	if code != exitOK {
		return exitError{code}
	}
	return nil
}

// cpReporter prints the fate of each file for cp and mv.
type cpReporter struct {
	out, err io.Writer
	verbose  bool
	verb     string
}

func (r *cpReporter) Durable(src, dst string, size int64) {
	if r.verbose {
		fmt.Fprintf(r.out, "%s -> %s\n", quote.Name(src), quote.Name(dst))
	}
}

func (r *cpReporter) Skipped(src, dst, why string) {
	if r.verbose {
		fmt.Fprintf(r.out, "skipped %s: %s\n", quote.Name(dst), quote.Text(why))
	}
}

func (r *cpReporter) Failed(src, dst string, err error) {
	fmt.Fprintf(r.err, "sure: %s: %s\n", r.verb, failureText(src, dst, err, r.verbose))
}

// failureText names the file and the cause, in coreutils' words where
// the cause is a plain system call's failure (messages.go). An error about
// sure's own temporary file is told as an error about the destination,
// whose name the user knows; the temporary file is gone unless the text
// says where it was left (failure.go). verbose adds what sure tried.
// Names that would act on the terminal are escaped.
func failureText(src, dst string, err error, verbose bool) string {
	left, err := splitLeft(err)
	return quote.Line(causeText(src, dst, err, verbose) + tooLongText(err) + leftText(left))
}

func causeText(src, dst string, err error, verbose bool) string {
	if err == nil {
		return fmt.Sprintf("%s -> %s: not copied", quote.Name(src), quote.Name(dst))
	}
	if t := coreutilsText(src, dst, err); t != "" {
		if verbose {
			t += fmt.Sprintf(" (copying %s -> %s: %v", quote.Name(src), quote.Name(dst), err)
			if tempFailure(err) {
				t += "; nothing was written under " + quote.Name(dst)
			}
			t += ")"
		}
		return t
	}
	msg := capitalErrno(err.Error(), err)
	if strings.Contains(msg, src) || strings.Contains(msg, dst) {
		return msg
	}
	return fmt.Sprintf("%s: %s", quote.Name(src), msg)
}

// tempFailure: err is about sure's temporary file, so the destination's
// final name was never touched.
func tempFailure(err error) bool {
	var pe *os.PathError
	if errors.As(err, &pe) && durable.IsTemp(filepath.Base(pe.Path)) {
		return true
	}
	var le *os.LinkError
	return errors.As(err, &le) && durable.IsTemp(filepath.Base(le.New))
}

// summaryLine says what is now guaranteed, and only that.
func summaryLine(s copier.Summary, verbose bool) string {
	if s.DestFailed != nil && !s.Interrupted && !verbose {
		return stoppedLine(s)
	}
	where := ""
	if s.Dest.MountPoint != "" {
		where = fmt.Sprintf(" on %s (%s, %s)", s.Dest.MountPoint, s.Dest.FSType, s.Barrier)
	}
	verified := ""
	if s.Verified+s.Mismatched > 0 {
		verified = fmt.Sprintf(", %d verified (read back from the device)", s.Verified)
	}
	durable := fmt.Sprintf("%s, %s durable%s%s", plural(s.Files, "file"), units.Bytes(s.Bytes), verified, where)
	var parts []string
	if s.Interrupted {
		parts = append(parts, "interrupted")
	}
	if s.DestFailed != nil {
		parts = append(parts, "stopped: "+s.DestFailed.Error())
	}
	if s.Failed > 0 {
		parts = append(parts, plural(s.Failed, "file")+" failed (see above)")
	}
	if s.Mismatched > 0 {
		parts = append(parts, plural(s.Mismatched, "file")+" not verified: different on the device or unreadable (see above)")
	}
	parts = append(parts, durable)
	if s.AtomicTarget != "" {
		if s.Published {
			parts = append(parts, "the tree was put in place at once as "+quote.Name(s.AtomicTarget))
		} else {
			parts = append(parts, "nothing was put in place: "+quote.Name(s.AtomicTarget)+" is as it was")
		}
	}
	if s.UpToDate > 0 {
		parts = append(parts, plural(s.UpToDate, "file")+" already complete from an earlier run, durable")
	}
	if s.Skipped > 0 {
		parts = append(parts, plural(s.Skipped, "file")+" skipped")
	}
	if s.Excluded > 0 {
		parts = append(parts, fmt.Sprintf("%d excluded", s.Excluded))
	}
	if s.Removed > 0 {
		parts = append(parts, fmt.Sprintf("%s not in the source removed (--delete), durable", entries(s.Removed)))
	}
	if s.AttrsNotKept > 0 {
		parts = append(parts, fmt.Sprintf("mode, owner or times not kept for %d (the file system cannot hold them)", s.AttrsNotKept))
	}
	if s.LinksNotKept > 0 {
		parts = append(parts, fmt.Sprintf("hard links not kept for %s: the file system cannot hold them (each was copied in full)", plural(s.LinksNotKept, "file")))
	}
	if s.Partial > 0 {
		parts = append(parts, plural(s.Partial, "partly copied file")+" kept under its temporary name, durable up to its last step, for the rerun to finish")
	}
	if s.Interrupted || s.DestFailed != nil {
		if s.Discarded > 0 {
			parts = append(parts, fmt.Sprintf("%s removed", plural(s.Discarded, "unfinished temporary file")))
		}
		if len(s.TempsLeft) > 0 {
			// Never claim a removal that failed: say where each one is.
			parts = append(parts, fmt.Sprintf("%d left behind (they hold no final name): %s", len(s.TempsLeft), strings.Join(s.TempsLeft, "; ")))
		}
	}
	switch {
	case s.Interrupted:
		parts = append(parts, "rerun the command to finish")
	case s.DestFailed != nil:
		parts = append(parts, "once the destination works again, rerun the command to finish")
	}
	return "sure: " + strings.Join(parts, "; ")
}

// stoppedLine is the summary of a job the destination stopped, in one
// short line: what happened to the destination, the counts, and what to
// do. -v gives the long form, with the probe's error.
func stoppedLine(s copier.Summary) string {
	var df *copier.DestFailedError
	what := "the destination can no longer be written"
	if errors.As(s.DestFailed, &df) {
		if errors.Is(df.Err, syscall.EROFS) {
			what = quote.Name(df.Dir) + " is read-only"
		} else {
			what = fmt.Sprintf("%s can no longer be written (%s)", quote.Name(df.Dir), errnoText(df.Err))
		}
	}
	parts := []string{"stopped: " + what}
	if s.Failed > 0 {
		parts = append(parts, plural(s.Failed, "file")+" failed (see above)")
	}
	parts = append(parts, fmt.Sprintf("%s, %s durable", plural(s.Files, "file"), units.Bytes(s.Bytes)))
	if s.UpToDate > 0 {
		parts = append(parts, plural(s.UpToDate, "file")+" already complete from an earlier run, durable")
	}
	if s.Skipped > 0 {
		parts = append(parts, plural(s.Skipped, "file")+" skipped")
	}
	if n := s.AttrsNotKept + s.LinksNotKept; n > 0 {
		parts = append(parts, fmt.Sprintf("attributes or hard links not kept for %d", n))
	}
	if len(s.TempsLeft) > 0 {
		// Never claim a removal that failed: say where each one is.
		parts = append(parts, fmt.Sprintf("%s left (no final name): %s", plural(len(s.TempsLeft), "temporary file"), strings.Join(s.TempsLeft, "; ")))
	}
	return "sure: " + strings.Join(parts, "; ") + "; rerun once it works again"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// recordFlushed flushes the drive under m once more and notes that it
// holds nothing unflushed, so that 'sure status' can answer yes until
// something else writes there. Failing to make the record only means no
// record; the error returned is the drive failing that flush.
func recordFlushed(m fsinfo.Mount) error {
	if m.MountPoint == "" {
		return nil
	}
	if _, err := drivecache.DiskFor(m); err != nil {
		return nil
	}
	// The job's own last changes carry times from the kernel's coarse
	// clock: wait one tick so that none of them reads as newer than the
	// record.
	time.Sleep(pagecache.CtimeSlack())
	_, err := flush.Record(m, time.Now())
	return err
}

package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/manifest"
	"github.com/sure-tools/sure/readback"
)

// verifyFlags gives cp and mv --verify and --manifest.
func verifyFlags(cmd *cobra.Command, opt *copier.Options) {
	f := cmd.Flags()
	f.BoolVar(&opt.Verify, "verify", false, "once each file is durable, read it back from the device and compare it with the source; exit 3 if any differs")
	f.StringVar(&opt.Manifest, "manifest", "", "write the BLAKE3 sums of the files to `FILE`, in b3sum's format ('sure verify FILE' or 'b3sum --check' checks them)")
}

func newVerify() *cobra.Command {
	var verbose, quiet bool
	cmd := &cobra.Command{
		Use:   "verify MANIFEST | verify SRC DEST",
		Short: "Read copies back from the device and compare them with a manifest or their sources",
		Long: `With one operand, check every file a BLAKE3 manifest lists (the format of
b3sum and of 'sure cp --manifest'; relative paths are relative to the
manifest's directory). With two, check that DEST is a copy of SRC, as
diff -r pairs them: every file and symlink under SRC must be at the same
place under DEST with the same content or target (files only in DEST are
not looked at).
Every copy is read from the device, not from the page cache: sure drops the
cached pages first and reads with O_DIRECT, and under a FUSE file system
(exFAT, FAT sticks) drops the block device's cache too.
Exit status: 0 all equal, 3 some file differs or is missing, 1 some file
could not be read or some line of the manifest is not in b3sum's format
(the first 5 such lines are named, the others counted).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{fmt.Errorf("verify: needs a manifest, or a source and a destination\nUsage: %s", cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c := &verifyCount{cmd: cmd, verbose: verbose}
			var err error
			what := ""
			if len(args) == 1 {
				what = "listed in " + quote.Name(args[0])
				err = manifest.Check(cmd.Context(), args[0], readback.New(), c.manifestLine)
			} else {
				what = "of " + quote.Name(args[0]) + " in " + quote.Name(args[1])
				err = copier.Compare(cmd.Context(), args[0], args[1], c.compared)
			}
			interrupted := cmd.Context().Err() != nil
			if err != nil && !interrupted {
				fmt.Fprintf(cmd.ErrOrStderr(), "sure: verify: %s\n", quote.Text(errorText(err)))
				c.unreadable++
			}
			if n := c.malformed - malformedShown; n > 0 {
				lines := "lines"
				if n == 1 {
					lines = "line"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "sure: verify: %d more %s not in b3sum's format, not shown\n", n, lines)
			}
			if !quiet || c.mismatched+c.unreadable > 0 || interrupted {
				fmt.Fprintln(cmd.ErrOrStderr(), c.summary(what, interrupted))
			}
			switch {
			case interrupted:
				return exitError{exitInterrupted}
			case c.mismatched > 0:
				return exitError{exitMismatch}
			case c.unreadable+c.malformed > 0:
				return exitError{exitFailed}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&verbose, "verbose", "v", false, "print each file that matches, as b3sum --check does (NAME: OK)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing but problems")
	return cmd
}

// verifyCount prints and counts the outcome of each file.
type verifyCount struct {
	cmd                        *cobra.Command
	verbose                    bool
	ok, mismatched, unreadable int
	malformed                  int // manifest lines not in b3sum's format
}

// malformedShown is how many lines not in b3sum's format are named; a
// file that is no manifest at all would otherwise name every line of it.
const malformedShown = 5

func (c *verifyCount) manifestLine(r manifest.Result) {
	var me *manifest.MismatchError
	var le *manifest.LineError
	switch {
	case r.Err == nil:
		c.matched(r.File)
	case errors.As(r.Err, &le):
		c.malformed++
		if c.malformed <= malformedShown {
			fmt.Fprintf(c.cmd.ErrOrStderr(), "sure: verify: %s\n", quote.Text(r.Err.Error()))
		}
	case errors.As(r.Err, &me):
		c.failed(quote.Text(r.Err.Error()))
	case errors.Is(r.Err, fs.ErrNotExist):
		// As b3sum --check, a listed file that is gone fails the check.
		c.failed(quote.Name(r.File) + " is missing")
	default:
		c.unread(r.Err)
	}
}

func (c *verifyCount) compared(r copier.Compared) {
	var me *copier.MismatchError
	switch {
	case r.Err == nil:
		c.matched(r.Dst)
	case errors.As(r.Err, &me):
		c.failed(quote.Text(r.Err.Error()))
	default:
		c.unread(r.Err)
	}
}

// matched counts a file that read back intact, named with -v.
func (c *verifyCount) matched(name string) {
	c.ok++
	if c.verbose {
		fmt.Fprintf(c.cmd.OutOrStdout(), "%s: OK\n", quote.Name(name))
	}
}

// failed counts a file that differs or is gone; why is already quoted.
func (c *verifyCount) failed(why string) {
	c.mismatched++
	fmt.Fprintf(c.cmd.ErrOrStderr(), "sure: verify: FAILED: %s\n", why)
}

func (c *verifyCount) unread(err error) {
	c.unreadable++
	fmt.Fprintf(c.cmd.ErrOrStderr(), "sure: verify: unreadable: %s\n", quote.Text(err.Error()))
}

func (c *verifyCount) summary(what string, interrupted bool) string {
	s := fmt.Sprintf("sure: verify: read back from the device, %s %s intact", plural(c.ok, "file"), what)
	if c.mismatched > 0 {
		s += fmt.Sprintf("; %s differing or missing (see above)", plural(c.mismatched, "file"))
	}
	if c.unreadable > 0 {
		s += fmt.Sprintf("; %s unreadable (see above)", plural(c.unreadable, "file"))
	}
	if c.malformed > 0 {
		s += fmt.Sprintf("; %s not in b3sum's format", plural(c.malformed, "line"))
		if c.ok+c.mismatched == 0 {
			s += " (is it a manifest?)"
		}
	}
	if interrupted {
		s += "; interrupted before the end"
	}
	return s
}

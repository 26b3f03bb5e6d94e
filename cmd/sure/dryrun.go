package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
)

// dryReporter prints what a dry run found: each file on stdout, failures
// on stderr.
type dryReporter struct {
	out, err io.Writer
	verb     string
	verbose  bool
}

func (d *dryReporter) Would(src, dst, what string, size int64) {
	if d.verb == "mv" && what != "keep" {
		what = map[string]string{"copy": "move", "move": "move", "replace": "move, replacing"}[what]
	}
	if what == "keep" {
		what = "keep (complete from an earlier run)"
	}
	fmt.Fprintf(d.out, "would %s %s -> %s\n", what, quote.Name(src), quote.Name(dst))
}

func (d *dryReporter) Durable(src, dst string, size int64) {}

func (d *dryReporter) Skipped(src, dst, why string) {
	fmt.Fprintf(d.out, "would skip %s: %s\n", quote.Name(dst), quote.Text(why))
}

func (d *dryReporter) Failed(src, dst string, err error) {
	fmt.Fprintf(d.err, "sure: %s: %s\n", d.verb, failureText(src, dst, err, d.verbose))
}

// runDry runs job as a dry run (--dry-run): the pre-flight and every
// decision are made, nothing is written; exit 1 when a file would fail.
func runDry(cmd *cobra.Command, args []string, verb string,
	job func(context.Context, []string, string, copier.Options) (copier.Summary, error),
	opt copier.Options, verbose bool) error {
	stderr := cmd.ErrOrStderr()
	opt.Events = &dryReporter{out: cmd.OutOrStdout(), err: stderr, verb: verb, verbose: verbose}
	sum, err := job(cmd.Context(), args[:len(args)-1], args[len(args)-1], opt)
	var ue *copier.UsageError
	if errors.As(err, &ue) {
		return usageError{fmt.Errorf("%s: %s", verb, ue.Msg)}
	}
	if refused(stderr, verb, err) {
		return exitError{exitFailed}
	}
	if err != nil && sum.Failed == 0 {
		fmt.Fprintf(stderr, "sure: %s: %s\n", verb, jobErrorText(args[len(args)-1], err))
	}
	reportPlan(stderr, verb, sum.Preflight, verbose)
	size := ""
	if sum.WouldBytes > 0 {
		size = " (" + units.Bytes(sum.WouldBytes) + ")"
	}
	line := fmt.Sprintf("sure: %s: dry run: %s%s would be %s", verb, plural(sum.Would, "file"), size,
		map[string]string{"cp": "copied", "mv": "moved"}[verb])
	if sum.UpToDate > 0 {
		line += fmt.Sprintf(", %s kept as complete from an earlier run", plural(sum.UpToDate, "file"))
	}
	if sum.Skipped > 0 {
		line += fmt.Sprintf(", %s skipped", plural(sum.Skipped, "file"))
	}
	if sum.Failed > 0 {
		line += fmt.Sprintf(", %s would fail (see above)", plural(sum.Failed, "file"))
	}
	fmt.Fprintln(stderr, line+"; nothing was written")
	if err != nil || sum.Failed > 0 {
		return exitError{exitFailed}
	}
	return nil
}

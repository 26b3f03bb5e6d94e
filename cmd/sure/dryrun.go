package main

import (
	"context"
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
	words := &dryReporter{out: cmd.OutOrStdout(), err: stderr, verb: verb, verbose: verbose}
	opt.Events = words
	var js *jsonDry
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		js = &jsonDry{dryReporter: words, j: newJSONStream(cmd.OutOrStdout())}
		srcs, dest := args[:len(args)-1], args[len(args)-1]
		js.j.emit("started", jsonStarted{Command: verb, Sources: srcs, SourcesB64: raw64s(srcs), Dest: dest, DestB64: raw64(dest), DryRun: true})
		opt.Events = js
	}
	sum, err := job(cmd.Context(), args[:len(args)-1], args[len(args)-1], opt)
	if serr := stoppedBefore(stderr, verb, err, func(code int) { js.finished(sum, code, err) }); serr != nil {
		return serr
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
	if sum.Excluded > 0 {
		line += fmt.Sprintf(", %d excluded", sum.Excluded)
	}
	if sum.Removed > 0 {
		line += fmt.Sprintf(", %s would be removed (--delete)", entries(sum.Removed))
	}
	if sum.Failed > 0 {
		line += fmt.Sprintf(", %s would fail (see above)", plural(sum.Failed, "file"))
	}
	fmt.Fprintln(stderr, line+"; nothing was written")
	if err != nil || sum.Failed > 0 {
		js.finished(sum, exitFailed, nil)
		return exitError{exitFailed}
	}
	js.finished(sum, exitOK, nil)
	return nil
}

// jsonDry is a dry run's --json stream: what the dryReporter would print
// on stdout goes there as events instead; failures still go to stderr in
// words too.
type jsonDry struct {
	*dryReporter
	j *jsonStream
}

func (d *jsonDry) Would(src, dst, what string, size int64) {
	d.j.emit("would", jsonWould{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Action: what, Size: size})
}

func (d *jsonDry) Removed(dst string, dir bool) {
	d.j.emit("would_remove", jsonRemoved{Path: dst, PathB64: raw64(dst), Dir: dir})
}

func (d *jsonDry) Skipped(src, dst, why string) {
	d.j.emit("skipped", jsonSkipped{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Reason: why})
}

func (d *jsonDry) Failed(src, dst string, err error) {
	d.dryReporter.Failed(src, dst, err)
	d.j.emit("error", jsonError{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Error: failureText(src, dst, err, true)})
}

// finished ends the stream; nothing is durable after a dry run.
func (d *jsonDry) finished(s copier.Summary, code int, cause error) {
	if d == nil {
		return
	}
	if cause != nil {
		d.j.emit("error", jsonError{Error: cause.Error()})
	}
	d.j.emit("finished", jsonFinished{Level: "none", Failed: s.Failed, Skipped: s.Skipped, UpToDate: s.UpToDate,
		ExitCode: code, DestMount: s.Dest.MountPoint, DestMountB64: raw64(s.Dest.MountPoint), FSType: s.Dest.FSType,
		DryRun: true, Would: s.Would, WouldBytes: s.WouldBytes, Excluded: s.Excluded, Removed: s.Removed})
}

type jsonWould struct {
	Src    string `json:"src"`
	SrcB64 string `json:"src_b64,omitempty"`
	Dst    string `json:"dst"`
	DstB64 string `json:"dst_b64,omitempty"`
	Action string `json:"action"` // copy, replace, keep, move
	Size   int64  `json:"size"`
}

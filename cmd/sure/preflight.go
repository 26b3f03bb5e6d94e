package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/preflight"
)

// refused prints a pre-flight refusal, which lists every problem of the
// job and says that nothing was written.
func refused(w io.Writer, verb string, err error) bool {
	var ar *copier.AtomicRefusedError
	if errors.As(err, &ar) {
		fmt.Fprintf(w, "sure: %s: %s\n", verb, quote.Text(ar.Error()))
		return true
	}
	var r *preflight.Refusal
	if !errors.As(err, &r) {
		return false
	}
	fmt.Fprintf(w, "sure: %s: %s\n", verb, quote.Text(r.Error()))
	return true
}

// stoppedBefore is the exit of a job that err stopped before it began: a
// usage error, or a refusal that it prints; nil for any other end.
// finished hears the exit code first.
func stoppedBefore(w io.Writer, verb string, err error, finished func(code int)) error {
	var ue *copier.UsageError
	if errors.As(err, &ue) {
		finished(exitUsage)
		return usageError{fmt.Errorf("%s: %s", verb, ue.Msg)}
	}
	if refused(w, verb, err) {
		finished(exitFailed)
		return exitError{exitFailed}
	}
	return nil
}

// reportPlan lists what --skip-invalid left out and what --rename-invalid
// renamed. The user asked for both, so they are not failures, but each
// file is named: a skipped file is not on the destination.
func reportPlan(w io.Writer, verb string, p *preflight.Plan, verbose bool) {
	if p == nil {
		return
	}
	if !verbose { // -v already printed each skip as it happened
		for _, s := range p.Skipped {
			fmt.Fprintf(w, "sure: %s: skipped %s: %s\n", verb, quote.Name(s.Src), s.Why)
		}
	}
	for _, r := range p.Renamed {
		fmt.Fprintf(w, "sure: %s: renamed %s -> %s: %s\n", verb, quote.Name(r.From), quote.Name(r.To), r.Why)
	}
}

// Command sure copies, moves and flushes data onto removable media and
// returns only when the data is on the media.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitFailed      = 1 // some files failed; the others are durable
	exitUsage       = 2
	exitMismatch    = 3 // --verify or sure verify: a copy differs from its source
	exitInterrupted = 130
)

// usageError marks errors in the command line, which exit with 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries an exit code for an error already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "sure",
		Short: "Copy to removable media and know it is there",
		Long: `sure copies, moves and flushes data onto USB sticks, SD cards and external
disks, and returns only when the data is on the media: not in RAM, not in the
drive's volatile cache. Every figure it prints says which level it counts:
handed (page cache), on device (writeback done), durable (flushed through the
drive's cache, directory entries included), verified (read back).`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{tryHelp{err, c.CommandPath()}}
	})
	root.AddCommand(newCp(), newMv(), newSync(), newStatus(), newVerify(),
		newDevices(), newEject(), newWrite(), newDoctor(), newMan())
	addExamples(root)
	addCompletions(root)
	markUsage(root)
	return root
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// The first SIGINT or SIGTERM cancels ctx and the job winds down
	// (signals.go).
	terminal := isTerminal(os.Stdin) || isTerminal(stderr)
	ctx, stop := watchSignals(context.Background(), stderr, terminal)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "sure: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "sure: %s\n", errorText(err))
		return exitFailed
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{fmt.Errorf("%s: %s\nUsage: %s", cmd.Name(), what, cmd.UseLine())}
		}
		return nil
	}
}

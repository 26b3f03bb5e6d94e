package main

import (
	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/copier"
)

func newMv() *cobra.Command {
	var opt copier.Options
	var verbose, quiet bool
	cmd := &cobra.Command{
		Use:   "mv [-n] [-v] SRC... DEST",
		Short: "Move files; a source is removed only once its copy is durable",
		Long: `Move SRC to DEST, or several SRCs into the directory DEST, with mv's rules.
On the same file system a source is renamed and both directories are flushed.
Onto another file system (a stick), each file is copied as 'sure cp -a'
would, and its source is removed only after the copy is durable; emptied
source directories are removed last. A file that fails stays in the source.
At no instant is a file in neither place.`,
		Args: minArgs(2, "needs a source and a destination"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJob(cmd, args, "mv", copier.Move, opt, verbose, quiet)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opt.NoClobber, "no-clobber", "n", false, "never replace an existing file")
	f.BoolVar(&opt.SkipInvalid, "skip-invalid", false, "leave out files the destination cannot hold (names, sizes), copy the rest, and list them")
	f.BoolVar(&opt.RenameInvalid, "rename-invalid", false, "give names the destination cannot hold a valid one ('_' for bad characters), and list each rename")
	f.BoolVarP(&verbose, "verbose", "v", false, "print each file once it is durable at its new place")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	f.Bool("json", false, "write events as JSON lines on stdout (docs/json.md)")
	verifyFlags(cmd, &opt)
	f.Var(byteSize{&opt.MaxDirty}, "max-dirty", "most memory the move keeps waiting for the device (dirty or under writeback); default 64M")
	return cmd
}

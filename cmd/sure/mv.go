package main

import (
	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/copier"
)

func newMv() *cobra.Command {
	var opt copier.Options
	var verbose, quiet bool
	cmd := &cobra.Command{
		Use:   "mv [OPTION]... SRC... DEST",
		Short: "Move files; a source is removed only once its copy is durable",
		Long: `Move SRC to DEST, or several SRCs into the directory DEST, with mv's rules.
On the same file system the data of every file moved (a whole tree for a
directory) is made durable first, then the source is renamed and both
directories are flushed.
Onto another file system (a stick), each file is copied as 'sure cp -a'
would, and its source is removed only after the copy is durable; emptied
source directories are removed last. A file that fails stays in the source.
At no instant is a file in neither place. A directory moved onto a
non-empty one of the same name is merged into it (mv refuses), so that a
rerun finishes an interrupted move: files of the same name there are
replaced (-n keeps them, -i asks).

GNU mv's options work as in GNU mv; -b is --backup without an argument.
With -t DIRECTORY, every operand is a source.`,
	}
	jobFlags(cmd, &opt, &verbose, &quiet, "move", "print each file once it is durable at its new place")
	gnu := gnuJobFlags(cmd, &opt, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := gnu("mv"); err != nil {
			return err
		}
		return runJob(cmd, withTarget(cmd, args), "mv", copier.Move, opt, verbose, quiet)
	}
	return cmd
}

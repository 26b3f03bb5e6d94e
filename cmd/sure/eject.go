package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/eject"
	"github.com/sure-tools/sure/internal/quote"
)

func newEject() *cobra.Command {
	var viaUDisks, quiet bool
	cmd := &cobra.Command{
		Use:   "eject PATH|DEVICE",
		Short: "Flush, unmount and power off a drive so it can be pulled",
		Long: `Make the drive behind PATH (a mount point or any path on it) or DEVICE (a
partition or a whole disk) safe to remove: flush and unmount every file
system on it (never lazily: when one is in use, sure names the processes
holding it and stops), flush the block device, send a SCSI drive
SYNCHRONIZE CACHE, PREVENT ALLOW MEDIUM REMOVAL (allow) and START STOP
UNIT (reporting what the drive answers), then cut the power of its USB
port and wait for the disk to go. A loop device is detached instead.
Without root, or with --udisks, the same is done through UDisks2 over
D-Bus, which lets the desktop session's user do it.
Each step is printed as it ends; the last line says whether the drive is
safe to remove. sure exits 0 only when it is.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("eject: one PATH or DEVICE\nUsage: %s", cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			opts := eject.Options{
				UDisks: viaUDisks || (os.Geteuid() != 0 && eject.NeedsRoot),
				Report: func(s eject.Step) {
					if s.Outcome == eject.Failed || quiet {
						return // the last line says it
					}
					fmt.Fprintf(stderr, "sure: %s\n", quote.Line(s.String()))
				},
			}
			dev, err := eject.Eject(cmd.Context(), args[0], opts)
			if err != nil {
				if dev == "" {
					dev = args[0]
				}
				fmt.Fprintf(stderr, "sure: NOT safe to remove %s: %s\n", quote.Line(dev), quote.Line(errorText(err)))
				if errors.Is(err, context.Canceled) {
					return exitError{exitInterrupted}
				}
				return exitError{exitFailed}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "safe to remove %s\n", quote.Line(dev))
			return nil
		},
	}
	cmd.Flags().BoolVar(&viaUDisks, "udisks", false, "go through UDisks2 over D-Bus even as root")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the last line")
	return cmd
}

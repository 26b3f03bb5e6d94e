package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/flush"
	"github.com/sure-tools/sure/internal/quote"
)

func newSync() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "sync [PATH...]",
		Short: "Flush file systems to their media, reporting errors",
		Long: `With PATHs, flush the file system holding each PATH once (syncfs): every
file's data, the metadata and the drive's cache. On a FUSE file system, where
syncfs does not reach the server, every file and directory under PATH is
flushed on its own instead, then the block device under it. Without PATH,
flush every file system backed by a device, each with its own syncfs (or,
for FUSE sticks, file by file and through the device) so that an error
names the file system.
While a flush runs, the bytes still dirty and under writeback are shown
draining, with the drive's write rate (from its own counters) and the time
left at that rate; they count the device's backing-device figures where
debugfs is mounted, else the whole system's (/proc/meminfo).
A failed flush means data written there since the last flush may be lost;
sure exits 1 and says where.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var results []flush.Result
			view := newSyncView(cmd.ErrOrStderr(), quiet)
			o := flush.Options{Progress: view.sample, Interval: view.interval}
			failed := 0
			var paths []string
			for _, p := range args {
				// A path that is not there is the user's error, not a
				// flush that failed: nothing can be lost there.
				if _, err := os.Stat(p); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "sure: cannot stat %s: %s\n", quote.Name(p), errnoText(err))
					failed++
					continue
				}
				paths = append(paths, p)
			}
			switch {
			case len(args) == 0:
				results = flush.AllWith(o)
			case len(paths) > 0:
				results = flush.PathsWith(paths, o)
			}
			view.stop()
			for _, r := range results {
				what := r.Mount.MountPoint
				if r.Mount.FSType != "" {
					what = quote.Line(fmt.Sprintf("%s (%s on %s)", r.Mount.MountPoint, r.Mount.FSType, r.Mount.Source))
				}
				if r.Skipped {
					if !quiet {
						fmt.Fprintf(cmd.ErrOrStderr(), "sure: %s: %s\n", what, r.Method)
					}
					continue
				}
				if r.Err != nil {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "sure: sync: %s: %s failed: %s; data written there since its last flush may not be on the media\n", what, r.Method, quote.Line(r.Err.Error()))
					continue
				}
				if !quiet {
					fmt.Fprintf(cmd.ErrOrStderr(), "sure: flushed %s: %s\n", what, r.Method)
				}
			}
			if failed > 0 {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	return cmd
}

// errnoText is err as coreutils words it: the system's message for the
// errno, capitalized ("No such file or directory").
func errnoText(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	msg := errno.Error()
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sure-tools/sure/lab/powercut"
	"github.com/sure-tools/sure/lab/vm"
)

func crashesCmd() *cobra.Command {
	var c powercut.CrashConfig
	var files, maxSmall int
	var big int64
	var replay int
	var keep, sum bool
	var inVM vm.CrashConfig
	var useVM bool
	cmd := &cobra.Command{
		Use:   "crashes [flags] -- COMMAND",
		Short: "Record one run of COMMAND and check every crash state it could leave",
		Long: `crashes runs COMMAND once with sh -c, as powercut does ($SRC, $DST, $DEV,
$STICK_PID), on a fresh virtual stick that records every write and cache
flush. It then builds crash states from that one run: for each epoch
between flushes, prefixes of its writes at a stride, random subsets (a
reordering cache), torn writes (cut between --tear-unit sectors), and the state with
every write received at the end. Each state is an image checked on a fresh
loop device (journal replay, or fsck for exFAT and FAT) against the oracle:
files acknowledged before the cut (by --ack lines, or all of them once
COMMAND exited 0) intact, no final name torn, for --work move no file lost
from both places.

The run is kept in --dir (a new temporary directory if not given, removed
unless something was lost). --replay ID --dir DIR rebuilds state ID of that
run, checks it and leaves DIR/state-ID.img as the cut left it.

A long campaign can be split: --from ID --count K checks only those states
of the run in --dir, recording it first if --dir holds none (a recorded
run is explored again only with the settings it was recorded with, so
every slice names the same states). Each slice saves its verdicts in
DIR/results; --sum --dir DIR adds up every slice checked so far.

The last line is: crashes: states=N violations=V (and, for a slice or an
incomplete sum, ids=FROM-TO of=TOTAL missing=M).
With --vm, the run is recorded in a guest of the VM lab (--suite): the
stick is a USB drive (usb-storage, write-back cache) whose image the
virtual stick serves, mkfs'd and mounted in the guest with udisks2's
options, and COMMAND runs there as --uid with $SURE the --sure binary;
$SRC is on the guest's share (for --work move, the stick's source mount).
The states are checked in guests too, --batch per boot: each is attached
to a loop device, mounted with the guest kernel's vfat, exfat or ntfs3
driver without fsck, and listed; the host judges the listing. --replay
of such a run checks the state in a guest again.

Exit status: 0 nothing lost, 1 some state lost or tore something, 2 the lab failed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("replay") {
				if c.Dir == "" {
					return fmt.Errorf("--replay needs the --dir of a recorded run")
				}
				run, err := powercut.LoadRun(c.Dir)
				if err != nil {
					return err
				}
				replayer := func(dir string, id int) (powercut.StateResult, string, error) { return powercut.Replay(dir, id) }
				if run.Guest != nil {
					ctx, cancel := signalContext()
					defer cancel()
					replayer = func(dir string, id int) (powercut.StateResult, string, error) {
						return vm.ReplayCrash(ctx, dir, id, os.Stderr)
					}
				}
				r, img, err := replayer(c.Dir, replay)
				if err != nil {
					return err
				}
				fmt.Println(r)
				fmt.Printf("crashes: state %d left in %s\n", replay, img)
				if r.Bad() {
					return lossError{r.String()}
				}
				return nil
			}
			if sum {
				if c.Dir == "" {
					return fmt.Errorf("--sum needs the --dir of a recorded run")
				}
				res, err := powercut.SumResults(c.Dir)
				if err != nil {
					return err
				}
				res.Report(os.Stdout, 10)
				fmt.Println(res.Summary())
				if res.Violations > 0 {
					return lossError{res.Summary()}
				}
				return nil
			}
			if len(args) == 0 {
				return fmt.Errorf("no command given")
			}
			c.Command = strings.Join(args, " ")
			c.Shape = powercut.Shape{Files: files, MaxSmall: maxSmall, BigSize: big}
			if c.Seed == 0 {
				c.Seed = 1
			}
			tmp := c.Dir == ""
			if tmp {
				d, err := os.MkdirTemp("", "crashes-")
				if err != nil {
					return err
				}
				c.Dir = d
			}
			c.Log = os.Stderr
			ctx, cancel := signalContext()
			defer cancel()
			fmt.Fprintf(os.Stderr, "crashes: fs=%s work=%s seed=%d states=%d dir=%s command=%q\n", c.FS, c.Work, c.Seed, c.States, c.Dir, c.Command)
			explore := powercut.Explore
			if useVM {
				explore = func(ctx context.Context, c powercut.CrashConfig) (powercut.CrashResult, error) {
					inVM.CrashConfig = c
					return vm.ExploreCrashes(ctx, inVM)
				}
			}
			res, err := explore(ctx, c)
			if err != nil {
				return err
			}
			res.Report(os.Stdout, 10)
			if res.Run.ExitCode != 0 {
				fmt.Fprintf(os.Stderr, "crashes: warning: the command exited %d; only the files it listed count as acknowledged\n", res.Run.ExitCode)
			}
			if res.Violations > 0 || len(res.Unmountable) > 0 || keep || !tmp || res.To-res.From < res.Total {
				fmt.Fprintf(os.Stderr, "crashes: run kept in %s; rebuild a state with: surelab crashes --dir %s --replay ID\n", c.Dir, c.Dir)
			} else {
				os.RemoveAll(c.Dir)
			}
			fmt.Println(res.Summary())
			if res.Violations > 0 {
				return lossError{res.Summary()}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.FS, "fs", "ext4", "file system on the stick: ext4, xfs, btrfs, exfat, vfat; with --vm the guest kernel's vfat, exfat or ntfs3")
	fl.StringVar(&c.Work, "work", powercut.Copy, "copy, overwrite (old versions already on the stick), move or move-within (from $DST/from/src on the stick)")
	fl.IntVar(&c.States, "states", 1000, "crash states to explore")
	fl.Uint64Var(&c.Seed, "seed", 1, "seed of the source tree and of the states drawn")
	fl.IntVar(&c.Workers, "workers", 2, "states checked in parallel")
	fl.Int64Var(&c.TearUnit, "tear-unit", powercut.DefaultTearUnit, "bytes the stick writes atomically: torn writes are cut between units")
	fl.StringVar(&c.Dir, "dir", "", "directory of the run: recording, run.json, replayed states")
	fl.IntVar(&replay, "replay", 0, "rebuild and check state ID of the run in --dir, and keep its image")
	fl.BoolVar(&keep, "keep", false, "keep the run's directory even when nothing was lost")
	fl.IntVar(&c.Slice.From, "from", 0, "check the states from this ID on (a slice of the campaign)")
	fl.IntVar(&c.Slice.Count, "count", 0, "check this many states from --from (0: all the rest)")
	fl.BoolVar(&sum, "sum", false, "add up the slices of the run in --dir checked so far")
	fl.IntVar(&files, "files", 40, "small files in $SRC")
	fl.IntVar(&maxSmall, "small-size", 4096, "largest small file in bytes")
	fl.Int64Var(&big, "big-size", 1<<20, "size of $SRC/big.bin in bytes, 0 for none")
	fl.Int64Var(&c.Size, "size", 0, "stick size in bytes (0: the file system's minimum, at least 128 MiB)")
	fl.StringVar(&c.AckPattern, "ack", "", `regular expression matching a line that acknowledges a file as durable, its first group the file's path (sure -v: ^'[^']*' -> '([^']*)'$); the file is owed from the moment the line is read`)
	fl.BoolVar(&useVM, "vm", false, "record and check in the VM lab: the guest kernel's driver writes a USB stick, and mounts each state as a desktop does (no fsck)")
	fl.StringVar(&inVM.Suite, "suite", vm.Trixie, "--vm: Debian suite of the guest kernel, trixie (6.12) or bookworm (6.1)")
	fl.StringVar(&inVM.Sure, "sure", "", "--vm: a sure binary, copied into the guest as $SURE (the guest cannot see the host's /tmp)")
	fl.IntVar(&inVM.UID, "uid", vm.DesktopUID, "--vm: the user who owns the mount and runs COMMAND; -1 for root")
	fl.IntVar(&inVM.Batch, "batch", vm.DefaultBatch, "--vm: states checked per guest boot")
	return cmd
}

//go:build linux

// Command surelab is the power-cut lab: it runs commands that write to a
// virtual USB stick, cuts the power and reports what was lost. See
// docs/lab.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/sure-tools/sure/lab/powercut"
	"github.com/sure-tools/sure/lab/vdisk"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		os.Exit(exitCode(err))
	}
}

// lossError makes surelab exit 1 when a campaign lost data, as opposed to
// 2 when the lab itself failed.
type lossError struct{ summary string }

func (e lossError) Error() string { return "data was lost: " + e.summary }

func exitCode(err error) int {
	if _, ok := err.(lossError); ok {
		return 1
	}
	return 2
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "surelab",
		Short:         "Power-cut lab for commands that write to removable media",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(demoCmd(), powercutCmd(), compareCmd(), crashesCmd(), vdiskCmd(), vmCmd())
	return root
}

type campaignFlags struct {
	trials   int
	seed     uint64
	files    int
	maxSmall int
	big      int64
	size     int64
	cutMode  string
	bw       float64
	flushLat time.Duration
	verbose  bool
	ack      string
}

func (f *campaignFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVarP(&f.trials, "trials", "n", 10, "trials per campaign")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the first trial (trial i uses seed+i); 0 picks one")
	fl.IntVar(&f.files, "files", powercut.DefaultShape.Files, "small files in $SRC")
	fl.IntVar(&f.maxSmall, "small-size", powercut.DefaultShape.MaxSmall, "largest small file in bytes")
	fl.Int64Var(&f.big, "big-size", powercut.DefaultShape.BigSize, "size of $SRC/big.bin in bytes, 0 for none")
	fl.Int64Var(&f.size, "size", 0, "stick size in bytes (0: the file system's minimum, at least 128 MiB)")
	fl.StringVar(&f.cutMode, "cut", "", "which unflushed writes survive: prefix, subset, or \"\" for a random one per trial")
	fl.Float64Var(&f.bw, "bandwidth", 0, "stick write bandwidth in MB/s (0: unlimited)")
	fl.DurationVar(&f.flushLat, "flush-latency", 0, "time each cache flush takes on the stick")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print every trial")
	fl.StringVar(&f.ack, "ack", "", `regular expression matching a line of COMMAND's output that acknowledges a file as durable, its first group the file's path (sure cp -v: ^'[^']*' -> '([^']*)'$); such files count as acknowledged from the moment they are printed`)
}

func (f *campaignFlags) config() powercut.Config {
	seed := f.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) & 0xffffffff
	}
	return powercut.Config{
		Trials:     f.trials,
		Seed:       seed,
		Shape:      powercut.Shape{Files: f.files, MaxSmall: f.maxSmall, BigSize: f.big},
		Size:       f.size,
		CutMode:    f.cutMode,
		Faults:     vdisk.Faults{BandwidthMBps: f.bw, FlushLatency: f.flushLat},
		AckPattern: f.ack,
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func powercutCmd() *cobra.Command {
	var f campaignFlags
	var fsKind, when, work string
	cmd := &cobra.Command{
		Use:   "powercut [flags] -- COMMAND",
		Short: "Cut the power of a fresh stick under COMMAND, once per trial",
		Long: `powercut runs COMMAND with sh -c once per trial, on a fresh virtual stick
mounted at $DST, with a source tree at $SRC (named src, so "cp -r $SRC $DST"
makes $DST/src). It cuts the power during the run or right after COMMAND
returns, mounts the crash image on a fresh loop device and checks it.

The last line is: powercut: trials=N acked_lost=A torn=T lost_both=B.
Exit status: 0 nothing lost, 1 something lost or torn, 2 the lab failed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := f.config()
			c.FS, c.When, c.Work = fsKind, when, work
			c.Command = strings.Join(args, " ")
			c.Log = os.Stderr
			if !f.verbose {
				c.Log = trialFilter{}
			}
			fmt.Fprintf(os.Stderr, "powercut: fs=%s when=%s work=%s seed=%d command=%q\n", c.FS, c.When, c.Work, c.Seed, c.Command)
			ctx, cancel := signalContext()
			defer cancel()
			res, err := powercut.Run(ctx, c)
			if err != nil {
				return err
			}
			if res.Failed > 0 {
				fmt.Fprintf(os.Stderr, "powercut: warning: the command exited non-zero in %d of %d trials; nothing it did there counts as acknowledged\n", res.Failed, len(res.Trials))
			}
			fmt.Println(res.Summary())
			if res.Bad() {
				return lossError{res.Summary()}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&fsKind, "fs", "ext4", "file system on the stick: ext4, xfs, btrfs, exfat, vfat")
	cmd.Flags().StringVar(&when, "when", powercut.After, "cut the power during the run or after it returns")
	cmd.Flags().StringVar(&work, "work", powercut.Copy, "copy, overwrite (old versions already on the stick), move or move-within (from $DST/from/src on the stick)")
	return cmd
}

// trialFilter prints only trials that lost something, so a long campaign
// stays readable and every bad seed is still on screen.
type trialFilter struct{}

func (trialFilter) Write(p []byte) (int, error) {
	s := string(p)
	if strings.HasPrefix(s, "powercut:") || strings.Contains(s, "\n  ") {
		os.Stderr.Write(p)
	}
	return len(p), nil
}

func vdiskCmd() *cobra.Command {
	v := &cobra.Command{Use: "vdisk", Short: "Serve or control a virtual stick by hand"}
	var cfg vdisk.Config
	var faults string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve a virtual stick: DIR/mnt/disk.img, control socket DIR/ctl.sock",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if faults != "" {
				if err := json.Unmarshal([]byte(faults), &cfg.Faults); err != nil {
					return fmt.Errorf("--faults: %w", err)
				}
			}
			return vdisk.Serve(cfg)
		},
	}
	serve.Flags().StringVar(&cfg.Dir, "dir", "", "state directory")
	serve.Flags().Int64Var(&cfg.Size, "size", 256<<20, "size in bytes")
	serve.Flags().Uint64Var(&cfg.Seed, "seed", 1, "seed for bit flips")
	serve.Flags().StringVar(&faults, "faults", "", `faults as JSON, e.g. {"flip_every":100,"capacity":1048576}`)
	serve.Flags().StringVar(&cfg.Source, "source", "", "also serve this directory at DIR/source, recording its removals")
	serve.MarkFlagRequired("dir")

	var dir string
	var cut vdisk.CutOptions
	ctl := &cobra.Command{
		Use:   "ctl stats|yank|cut OUT|faults JSON|record DIR|unrecord",
		Short: "Talk to a served stick",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := vdisk.Dial(dir)
			var out any
			var err error
			switch args[0] {
			case "stats":
				out, err = c.Stats()
			case "yank":
				err = c.Yank()
			case "cut":
				if len(args) != 2 {
					return fmt.Errorf("cut needs an output file")
				}
				cut.Out = args[1]
				out, err = c.Cut(cut)
			case "record":
				if len(args) != 2 {
					return fmt.Errorf("record needs a directory")
				}
				err = c.Record(vdisk.RecordOptions{Dir: args[1]})
			case "unrecord":
				var n int64
				n, err = c.Unrecord()
				out = map[string]int64{"events": n}
			case "faults":
				var f vdisk.Faults
				if len(args) == 2 {
					if err := json.Unmarshal([]byte(args[1]), &f); err != nil {
						return err
					}
				}
				err = c.SetFaults(f)
			default:
				return fmt.Errorf("unknown control command %q", args[0])
			}
			if err != nil {
				return err
			}
			if out != nil {
				b, _ := json.MarshalIndent(out, "", "  ")
				fmt.Println(string(b))
			}
			return nil
		},
	}
	ctl.Flags().StringVar(&dir, "dir", "", "state directory of the stick")
	ctl.Flags().StringVar(&cut.Mode, "mode", vdisk.CutPrefix, "cut mode: prefix, subset, none, all")
	ctl.Flags().Uint64Var(&cut.Seed, "seed", 1, "cut seed")
	ctl.Flags().BoolVar(&cut.Tear, "tear", false, "tear one write")
	ctl.Flags().BoolVar(&cut.Yank, "yank", false, "fail all I/O afterwards")
	ctl.MarkFlagRequired("dir")
	v.AddCommand(serve, ctl)
	return v
}

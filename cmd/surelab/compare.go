//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/powercut"
)

// contender is one row of the comparison.
type contender struct {
	name    string
	command string
	work    string
	bigOnly bool // the command copies only $SRC/big.bin
	needs   string
	ack     string // how its output names a file as durable; "" for only its exit status
}

// sureAck matches the line sure cp -v and sure mv -v print for each file
// once it is durable.
const sureAck = `^'[^']*' -> '([^']*)'$`

func contenders(sure string) []contender {
	dd := `mkdir "$DST/src" && dd if="$SRC/big.bin" of="$DST/src/big.bin" bs=1M conv=fsync status=none`
	return []contender{
		{name: "`sure cp -r`", command: sure + ` cp -rv "$SRC" "$DST"`, work: powercut.Copy, needs: "sure", ack: sureAck},
		{name: "`sure mv`", command: sure + ` mv -v "$SRC" "$DST"`, work: powercut.Move, needs: "sure mv", ack: sureAck},
		{name: "`cp -r`", command: `cp -r "$SRC" "$DST"`, work: powercut.Copy},
		{name: "`cp -r && sync -f`", command: `cp -r "$SRC" "$DST" && sync -f "$DST"`, work: powercut.Copy},
		{name: "`cp -r` + eject", command: `cp -r "$SRC" "$DST" && ` + powercut.Eject, work: powercut.Copy},
		{name: "`rsync -a --fsync`", command: `rsync -a --fsync "$SRC" "$DST"`, work: powercut.Copy, needs: "rsync"},
		{name: "`mv`", command: `mv "$SRC" "$DST"`, work: powercut.Move},
		{name: "`dd conv=fsync` (big file only)", command: dd, work: powercut.Copy, bigOnly: true},
	}
}

func compareCmd() *cobra.Command {
	var f campaignFlags
	var kinds []string
	var when, sure string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run the same power-cut campaign over sure and its peers; print a markdown table",
		Long: `compare runs one powercut campaign per command and file system and prints a
markdown table: acknowledged files lost / torn final paths / files lost from
both places (moves). Commands the machine lacks are skipped with a note.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			base := f.config()
			base.When = when
			var notes []string
			if sure != "" {
				abs, err := filepath.Abs(sure)
				if err != nil {
					return err
				}
				sure = abs
			} else if p, err := exec.LookPath("sure"); err == nil {
				sure = p
			}
			var rows []contender
			for _, c := range contenders(sure) {
				if why := unavailable(c, sure); why != "" {
					notes = append(notes, fmt.Sprintf("%s skipped: %s", c.name, why))
					continue
				}
				rows = append(rows, c)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "| command | %s |\n|---|%s\n", strings.Join(kinds, " | "), strings.Repeat("---|", len(kinds)))
			for _, row := range rows {
				fmt.Fprintf(&b, "| %s |", row.name)
				for _, kind := range kinds {
					c := base
					c.FS, c.Work, c.Command = kind, row.work, row.command
					if c.AckPattern == "" {
						c.AckPattern = row.ack
					}
					if row.bigOnly {
						c.Shape.Files = 0
						if c.Shape.BigSize == 0 {
							c.Shape.BigSize = powercut.DefaultShape.BigSize
						}
					}
					c.Log = os.Stderr
					if !f.verbose {
						c.Log = trialFilter{}
					}
					fmt.Fprintf(os.Stderr, "compare: %s on %s\n", row.command, kind)
					res, err := powercut.Run(ctx, c)
					if errors.Is(err, powercut.ErrCalibration) {
						// rsync on FAT: it cannot set owners and exits
						// 23 before any cut; the row says so.
						fmt.Fprintln(os.Stderr, err)
						fmt.Fprintf(&b, " (fails without a cut) |")
						continue
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(os.Stderr, "%s\n", res.Summary())
					fmt.Fprintf(&b, " %s |", cell(res))
				}
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "\nCells: acknowledged files lost / torn final paths / files lost from both places, over %d trials of %d files each, power cut %s; seeds %d..%d. A file counts as acknowledged once the command exited 0, or once sure -v listed it as durable.\n",
				base.Trials, base.Shape.Files+btoi(base.Shape.BigSize > 0), when, base.Seed, base.Seed+uint64(base.Trials)-1)
			for _, n := range notes {
				fmt.Fprintf(&b, "\n%s", n)
			}
			fmt.Println(b.String())
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().Lookup("trials").DefValue = "5"
	f.trials = 5
	cmd.Flags().StringSliceVar(&kinds, "fs", fsimage.Kinds, "file systems to test")
	cmd.Flags().StringVar(&when, "when", powercut.After, "cut the power during the run or after it returns")
	cmd.Flags().StringVar(&sure, "sure", "", "path of the sure binary (default: sure on PATH)")
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cell(r powercut.Result) string {
	s := fmt.Sprintf("%d / %d / %d", r.AckedLost, r.Torn, r.LostBoth)
	if r.Bad() {
		s = "**" + s + "**"
	}
	if r.Failed > 0 {
		s += fmt.Sprintf(" (exit≠0 in %d/%d)", r.Failed, len(r.Trials))
	}
	return s
}

// unavailable says why a contender cannot run here, "" if it can.
func unavailable(c contender, sure string) string {
	switch c.needs {
	case "sure":
		if sure == "" {
			return "no sure binary (build one with go build -o sure ./cmd/sure and pass --sure)"
		}
	case "sure mv":
		if sure == "" {
			return "no sure binary"
		}
		if err := exec.Command(sure, "mv", "--help").Run(); err != nil {
			return "this sure has no mv command"
		}
	case "rsync":
		if _, err := exec.LookPath("rsync"); err != nil {
			return "rsync is not installed"
		}
	}
	return ""
}

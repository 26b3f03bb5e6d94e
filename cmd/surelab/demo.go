//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/units"
	"github.com/sure-tools/sure/lab/powercut"
)

// demoRow is one command of the demo.
type demoRow struct {
	name, command, ack string
}

func demoCmd() *cobra.Command {
	var fsKind, sure string
	var files int
	var big int64
	var seed uint64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show in under a minute what cp, cp && sync -f and sure cp leave on a stick after a power cut",
		Long: `demo makes a virtual USB stick whose drive has a volatile write cache (a
FUSE file, lab/vdisk), copies the same small tree onto a fresh one with
cp -r, with cp -r && sync -f and with sure cp -r, cuts the power right after
each command returns, and prints how many files survived. It needs root
(loop devices, mount) and a sure binary: --sure, else the sure next to
surelab, else sure on PATH.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Geteuid() != 0 {
				return errors.New("demo: needs root for loop devices and mounts (sudo surelab demo)")
			}
			if why := fsimage.Missing(fsKind); why != "" {
				return fmt.Errorf("demo: cannot make a %s stick here: %s (scripts/install-deps installs what the lab uses)", fsKind, why)
			}
			bin, err := findSure(sure)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			return runDemo(ctx, cmd.OutOrStdout(), bin, fsKind, powercut.Shape{Files: files, MaxSmall: 8192, BigSize: big}, seed)
		},
	}
	cmd.Flags().StringVar(&fsKind, "fs", "vfat", "file system on the stick: vfat (FAT32, what most sticks come with), exfat, ext4, xfs, btrfs")
	cmd.Flags().StringVar(&sure, "sure", "", "path of the sure binary")
	cmd.Flags().IntVar(&files, "files", powercut.DefaultShape.Files, "small files in the tree")
	cmd.Flags().Int64Var(&big, "big-size", powercut.DefaultShape.BigSize, "size of the tree's one big file in bytes, 0 for none")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the tree and of the cut")
	return cmd
}

// findSure returns the sure binary to run: the one given, the one next to
// this executable (sudo resets PATH), or the one on PATH.
func findSure(given string) (string, error) {
	if given != "" {
		p, err := exec.LookPath(given)
		if err != nil {
			return "", fmt.Errorf("demo: --sure %s: %w", given, err)
		}
		return filepath.Abs(p)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "sure")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("sure"); err == nil {
		return filepath.Abs(p)
	}
	return "", errors.New("demo: no sure binary: build one with 'go build -o sure ./cmd/sure' next to surelab, or pass --sure")
}

func runDemo(ctx context.Context, w io.Writer, sure, fsKind string, shape powercut.Shape, seed uint64) error {
	total := shape.Files
	if shape.BigSize > 0 {
		total++
	}
	rows := []demoRow{
		{"cp -r", `cp -r "$SRC" "$DST"`, ""},
		{"cp -r && sync -f", `cp -r "$SRC" "$DST" && sync -f "$DST"`, ""},
		{"sure cp -r", `"$SURE" cp -r "$SRC" "$DST"`, ""},
	}
	tree := fmt.Sprintf("%d files of up to %s", shape.Files, units.Bytes(int64(shape.MaxSmall)))
	if shape.BigSize > 0 {
		tree += fmt.Sprintf(" and one of %s", units.Bytes(shape.BigSize))
	}
	fmt.Fprintf(w, "A virtual USB stick (%s) whose drive keeps writes in a volatile cache\n"+
		"until it is told to flush. Each command copies the same tree onto a fresh\n"+
		"stick (%s);\nthe power goes off the moment it returns.\n\n", fsKind, tree)
	start := time.Now()
	for _, r := range rows {
		c := powercut.Config{
			FS: fsKind, When: powercut.After, Work: powercut.Copy, Command: r.command,
			Trials: 1, Seed: seed, Shape: shape, Env: []string{"SURE=" + sure},
		}
		res, err := powercut.Run(ctx, c)
		if err != nil {
			return fmt.Errorf("demo: %s: %w", r.name, err)
		}
		t := res.Trials[0]
		took := t.CutAfter.Round(10 * time.Millisecond)
		if t.ExitCode != 0 {
			fmt.Fprintf(w, "  %-18s exited %d after %v: %s\n", r.name, t.ExitCode, took, lastLine(t.Output))
			continue
		}
		// A file counts as survived when it is there with its content.
		kept := total - t.AckedLost
		note := ""
		switch {
		case !t.Mounted:
			note = " (the stick no longer mounts)"
		case t.Torn > 0:
			note = fmt.Sprintf(" (%d there with wrong content)", t.Torn)
		}
		fmt.Fprintf(w, "  %-17s returned 0 in %5.2fs; %4d of %d files survived the cut%s\n", r.name, took.Seconds(), kept, total, note)
	}
	fmt.Fprintf(w, "\nEach command said it was done; only the files that survived were on the\nstick. (%v; surelab compare runs the full campaign on every file system.)\n", time.Since(start).Round(time.Second))
	return nil
}

func lastLine(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}

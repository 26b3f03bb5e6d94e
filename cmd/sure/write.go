package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/flash"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
)

func newWrite() *cobra.Command {
	var o writeOptions
	cmd := &cobra.Command{
		Use:   "write [--yes] [--dry-run] [--force] [--no-verify] IMAGE DEVICE...",
		Short: "Flash a disk image onto whole drives and verify it",
		Long: `Write IMAGE onto each DEVICE (whole drives: /dev/sdb, not /dev/sdb1), all at
once. Images compressed with gzip, xz, zstd or bzip2 are decompressed on the
fly; the content decides, the extension must agree. Each drive is written
with direct I/O and several writes in flight, its cache is flushed, and the
image is read back from it and compared (--no-verify skips the read-back).

Before writing a byte, sure shows what each drive holds (model, size,
partitions, labels, mount points) and judges it. It refuses a drive that:
  - holds / , /boot or another part of the running system, or active swap
  - is a member of RAID, LVM or another device-mapper device in use
  - is read-only or has no medium
  - is too small for the image (when the image's size is known up front)
and, unless --force:
  - is not removable (internal disks; loop devices count as removable)
  - has mounted partitions; with --force sure unmounts them first (never
    lazily) and refuses if one is busy
--force never overrides the first list: the kernel would refuse the
exclusive open anyway, or the running system would break.

Without --yes, sure asks on the terminal; with no terminal it refuses.
--dry-run prints the judgement and writes nothing (exit 0: it would write,
1: refused).

Exit codes: 0 every drive written, flushed and verified (flushed with
--no-verify); 3 a read-back differed from the image on some drive and
nothing else failed; 1 any other failure; 2 usage; 130 interrupted. The last
line for each drive says how far the image got.`,
		Args: minArgs(2, "needs an image and at least one device"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWrite(cmd, args[0], args[1:], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask before overwriting")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "show what would be overwritten and the judgement; write nothing")
	f.BoolVar(&o.force, "force", false, "also write drives that are not removable or are mounted (unmounting them)")
	f.BoolVar(&o.noVerify, "no-verify", false, "do not read the image back after writing")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no progress")
	return cmd
}

type writeOptions struct {
	yes, dryRun, force, noVerify, quiet bool
}

// writeTarget is one DEVICE argument with what sure knows about it.
type writeTarget struct {
	arg     string
	disk    device.Disk
	known   bool     // disk was read (Linux)
	fatal   []string // objections --force does not override
	soft    []string // objections --force overrides
	unmount []string // mount points --force unmounts
}

func runWrite(cmd *cobra.Command, image string, args []string, o writeOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	src, err := flash.Open(image)
	if err != nil {
		return err
	}
	src.Close()
	fmt.Fprintf(stdout, "image %s: %s, %s\n", image, src.Format, sizeText(src.Size))

	targets, err := judgeTargets(src, args)
	if err != nil {
		return err
	}
	refused := false
	for _, t := range targets {
		describe(stdout, t)
		for _, r := range t.fatal {
			fmt.Fprintf(stdout, "  refused: %s\n", r)
			refused = true
		}
		for _, r := range t.soft {
			if o.force {
				fmt.Fprintf(stdout, "  forced: %s\n", r)
			} else {
				fmt.Fprintf(stdout, "  refused unless --force: %s\n", r)
				refused = true
			}
		}
		if len(t.fatal) == 0 && (len(t.soft) == 0 || o.force) {
			fmt.Fprintf(stdout, "  will be overwritten\n")
		}
	}
	if refused {
		fmt.Fprintf(stderr, "sure: write: refused; nothing was written\n")
		return exitError{exitFailed}
	}
	if o.dryRun {
		fmt.Fprintf(stderr, "sure: write: dry run: would write %s onto %s\n", image, joinArgs(targets))
		return nil
	}
	if !o.yes {
		if err := confirm(cmd, targets); err != nil {
			return err
		}
	}
	for _, t := range targets {
		for _, dir := range t.unmount {
			if err := flash.Unmount(dir); err != nil {
				fmt.Fprintf(stderr, "sure: write: %v; nothing was written\n", err)
				return exitError{exitFailed}
			}
			fmt.Fprintf(stderr, "sure: unmounted %s\n", dir)
		}
	}

	var paths []string
	for _, t := range targets {
		paths = append(paths, t.disk.Path)
	}
	rep := &writeReporter{w: stderr, quiet: o.quiet, size: src.Size, done: map[string]int64{}, verified: map[string]int64{}, next: map[string]int64{}}
	res, err := flash.Write(cmd.Context(), image, paths, flash.Options{Verify: !o.noVerify, Events: rep})
	if err != nil {
		return err
	}
	return writeOutcome(cmd.Context(), stderr, res, !o.noVerify)
}

// judgeTargets resolves each DEVICE argument and judges it. Arguments
// that are not whole drives are usage errors: an image written onto a
// partition or into a directory is never what was meant.
func judgeTargets(src *flash.Source, args []string) ([]*writeTarget, error) {
	var ts []*writeTarget
	seen := map[string]string{}
	for _, arg := range args {
		t := &writeTarget{arg: arg}
		fi, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		d, part, err := device.ResolvePartition(arg)
		switch {
		case errors.Is(err, device.ErrUnsupported):
			// No sysfs here: sure cannot tell a stick from the system disk.
			t.disk = device.Disk{Path: arg}
			t.soft = append(t.soft, fmt.Sprintf("%s cannot be judged on this system (%v); check it yourself", arg, err))
			ts = append(ts, t)
			continue
		case err != nil:
			return nil, err
		}
		if fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
			return nil, usageError{fmt.Errorf("write: %s is not a device (the drive under it is %s; name the drive itself)", arg, d.Path)}
		}
		if part != nil {
			return nil, usageError{fmt.Errorf("write: %s is a partition; an image goes onto the whole drive %s", arg, d.Path)}
		}
		if prev, ok := seen[d.Path]; ok {
			return nil, usageError{fmt.Errorf("write: %s and %s are the same drive %s", prev, arg, d.Path)}
		}
		seen[d.Path] = arg
		t.disk, t.known = d, true
		for _, ob := range device.Judge(d) {
			if ob.Fatal {
				t.fatal = append(t.fatal, ob.Reason)
			} else {
				t.soft = append(t.soft, ob.Reason)
			}
		}
		if src.Size > d.Size && d.Size > 0 {
			t.fatal = append(t.fatal, fmt.Sprintf("the image (%s) is larger than %s (%s)", units.Bytes(src.Size), d.Path, units.Bytes(d.Size)))
		}
		for _, m := range d.AllMounts() {
			t.unmount = append(t.unmount, m.MountPoint)
		}
		// Nested mounts first.
		slices.SortFunc(t.unmount, func(a, b string) int { return len(b) - len(a) })
		ts = append(ts, t)
	}
	return ts, nil
}

// describe prints what a drive holds, so the user sees what is about to go.
func describe(w io.Writer, t *writeTarget) {
	d := t.disk
	if !t.known {
		fmt.Fprintf(w, "%s:\n", t.arg)
		return
	}
	var facts []string
	if name := strings.TrimSpace(d.Vendor + " " + d.Model); name != "" {
		facts = append(facts, quote.Line(name))
	}
	facts = append(facts, units.Bytes(d.Size))
	if d.Transport != "" {
		facts = append(facts, d.Transport)
	}
	if d.Removable {
		facts = append(facts, "removable")
	} else {
		facts = append(facts, "not removable")
	}
	if d.BackingFile != "" {
		facts = append(facts, "backing file "+quote.Line(d.BackingFile))
	}
	fmt.Fprintf(w, "%s: %s\n", d.Path, strings.Join(facts, ", "))
	if d.FSType != "" {
		fmt.Fprintf(w, "  whole drive: %s%s%s\n", d.FSType, labelText(d.Label), mountText(d.Mounts))
	}
	for _, p := range d.Partitions {
		fs := p.FSType
		if fs == "" {
			fs = "no known file system"
		}
		fmt.Fprintf(w, "  %s: %s, %s%s%s\n", p.Path, units.Bytes(p.Size), fs, labelText(p.Label), mountText(p.Mounts))
	}
}

func labelText(l string) string {
	if l == "" {
		return ""
	}
	return fmt.Sprintf(" %q", l)
}

func mountText(ms []device.Mount) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.MountPoint)
	}
	if len(s) == 0 {
		return ""
	}
	return ", mounted on " + strings.Join(s, ", ")
}

func sizeText(n int64) string {
	if n < 0 {
		return "size known once decompressed"
	}
	return units.Bytes(n)
}

func joinArgs(ts []*writeTarget) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.disk.Path)
	}
	return strings.Join(s, ", ")
}

// confirm asks on the terminal. Without one there is nobody to ask, and
// overwriting a drive on a guess is what sure exists to avoid.
func confirm(cmd *cobra.Command, ts []*writeTarget) error {
	in := cmd.InOrStdin()
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return usageError{errors.New("write: not overwriting without confirmation: stdin is not a terminal; pass --yes (or --dry-run to see the judgement)")}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Overwrite %s? Everything on it is lost. [y/N] ", joinArgs(ts))
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return usageError{errors.New("write: no answer; nothing was written")}
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "sure: write: not confirmed; nothing was written")
	return exitError{exitFailed}
}

// writeReporter prints progress lines on stderr: every tenth of the image
// when its size is known, every 256 MiB when not. Each figure names its
// level: "on device" counts completed direct writes (L1), "verified"
// bytes read back after the flush that matched (L3).
type writeReporter struct {
	w        io.Writer
	quiet    bool
	size     int64
	done     map[string]int64
	verified map[string]int64
	next     map[string]int64
}

func (r *writeReporter) step() int64 {
	if r.size > 0 {
		return max(r.size/10, 1)
	}
	return 256 << 20
}

func (r *writeReporter) report(target string, n int64, what string) {
	if r.quiet {
		return
	}
	key := what + target
	next, ok := r.next[key]
	if !ok {
		next = r.step()
	}
	if n < next {
		r.next[key] = next
		return
	}
	r.next[key] = (n/r.step() + 1) * r.step()
	if r.size > 0 {
		fmt.Fprintf(r.w, "sure: %s: %s %s of %s (%d%%)\n", target, what, units.Bytes(n), units.Bytes(r.size), n*100/r.size)
	} else {
		fmt.Fprintf(r.w, "sure: %s: %s %s\n", target, what, units.Bytes(n))
	}
}

func (r *writeReporter) OnDevice(target string, n int64) {
	r.done[target] += n
	r.report(target, r.done[target], "on device")
}

func (r *writeReporter) Flushing(target string) {
	if !r.quiet {
		fmt.Fprintf(r.w, "sure: %s: flushing the drive's cache\n", target)
	}
}

func (r *writeReporter) Verified(target string, n int64) {
	r.verified[target] += n
	r.report(target, r.verified[target], "verified")
}

// writeOutcome prints one last line per drive with the level it reached,
// and picks the exit code.
func writeOutcome(ctx context.Context, w io.Writer, res []flash.Result, verify bool) error {
	failed, mismatched := false, false
	want := flash.Durable
	if verify {
		want = flash.Verified
	}
	for _, r := range res {
		var me *flash.MismatchError
		switch {
		case r.Err == nil && r.Level >= want && verify:
			fmt.Fprintf(w, "sure: written and verified on %s: %s\n", r.Target, units.Bytes(r.Bytes))
		case r.Err == nil && r.Level >= want:
			fmt.Fprintf(w, "sure: written and flushed (durable, not verified) on %s: %s\n", r.Target, units.Bytes(r.Bytes))
		case errors.As(r.Err, &me):
			mismatched = true
			fmt.Fprintf(w, "sure: %s: VERIFY FAILED: %v; the drive took and flushed the image but returns other bytes: a failing or fake drive\n", r.Target, r.Err)
		default:
			failed = true
			err := r.Err
			if err == nil {
				err = errors.New("not finished")
			}
			fmt.Fprintf(w, "sure: %s: FAILED: %v (%s)\n", r.Target, err, reached(r))
		}
	}
	switch {
	case ctx.Err() != nil:
		return exitError{exitInterrupted}
	case failed:
		return exitError{exitFailed}
	case mismatched:
		return exitError{exitMismatch}
	}
	return nil
}

// reached says how much of the image a failed drive holds, never more
// than it is known to hold.
func reached(r flash.Result) string {
	switch r.Level {
	case flash.None:
		if r.Bytes == 0 {
			return "nothing written"
		}
		return fmt.Sprintf("%s written, not a complete image", units.Bytes(r.Bytes))
	case flash.OnDevice:
		return "the whole image was written but the drive's flush failed: not durable"
	}
	return "the image is " + r.Level.String() + " on it"
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/flash"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/sysfs"
	"github.com/sure-tools/sure/internal/units"
)

func newWrite() *cobra.Command {
	var o writeOptions
	cmd := &cobra.Command{
		Use:   "write [--yes] [--dry-run] [--force] [--no-verify] [--bmap FILE | --no-bmap] [--sparse] IMAGE DEVICE...",
		Short: "Flash a disk image onto whole drives and verify it",
		Long: `Write IMAGE onto each DEVICE (whole drives: /dev/sdb, not /dev/sdb1), all at
once. Images compressed with gzip, xz, zstd or bzip2 are decompressed on the
fly; the content decides, the extension must agree. IMAGE - reads the image
from stdin (needs --yes); its size is known from its format or --size, else
only at its end. Each drive is written with direct I/O and several writes in
flight, its cache is flushed, and what was written is read back from it and
compared (--no-verify skips the read-back).

A block map made by bmaptool (--bmap FILE, or found next to the image as
bmaptool finds it: IMAGE.bmap, then the name with its extensions dropped one
by one, plus .bmap) makes sure write only the mapped ranges, each checked
against its checksum in the map as it is read; the rest of the drive is left
as it was, as bmaptool does. A map whose own checksum or image size does not
match is refused before writing; --no-bmap ignores a map found. Without a
map, a raw image in a sparse file is written by its data (SEEK_DATA) and its
holes are zeroed on the drive, so the drive reads back the whole image;
--sparse leaves the holes as they were instead, like a bmap.

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
	f.StringVar(&o.bmap, "bmap", "", "write only the ranges mapped in this bmap file (bmaptool's format)")
	f.BoolVar(&o.noBmap, "no-bmap", false, "ignore a bmap file found next to the image; write all of it")
	f.BoolVar(&o.sparse, "sparse", false, "leave the holes of a sparse raw image as they were on the drive instead of zeroing them")
	f.Var(byteSize{&o.size}, "size", "the image's size, for a stream whose format does not tell it (checked at its end)")
	f.Bool("json", false, "write events as JSON lines on stdout (docs/json.md)")
	return cmd
}

type writeOptions struct {
	yes, dryRun, force, noVerify, quiet bool
	noBmap, sparse                      bool
	bmap                                string
	size                                int64
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

func runWrite(cmd *cobra.Command, image string, args []string, o writeOptions) (err error) {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var results []flash.Result
	var js *jsonStream
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		js = newJSONStream(stdout)
		// stdout carries the events; the judgement goes to stderr.
		stdout = stderr
		defer func() {
			code := exitOK
			var ee exitError
			var ue usageError
			switch {
			case errors.As(err, &ee):
				code = ee.code
			case errors.As(err, &ue):
				code = exitUsage
			case err != nil:
				code = exitFailed
			}
			if err != nil && !errors.As(err, &ee) {
				js.emit("error", jsonError{Error: err.Error()})
			}
			// The level every drive reached.
			level := "none"
			if len(results) > 0 {
				low := slices.MinFunc(results, func(a, b flash.Result) int { return int(a.Level) - int(b.Level) })
				level = jsonLevel(low)
			}
			js.emit("finished", jsonWriteFinished{Level: level, ExitCode: code})
		}()
	}
	if o.bmap != "" && o.noBmap {
		return usageError{errors.New("write: --bmap and --no-bmap contradict each other")}
	}
	if image == flash.Stdin && !o.yes && !o.dryRun {
		return usageError{errors.New("write: stdin carries the image, so there is nobody to ask; pass --yes")}
	}
	src, err := flash.Open(image)
	if err != nil {
		return err
	}
	defer src.Close()
	if o.size > 0 {
		if err := src.SetSize(o.size); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "image %s: %s, %s\n", image, src.Format, sizeText(src.Size))

	bmapPath := o.bmap
	if bmapPath == "" && !o.noBmap && image != flash.Stdin {
		bmapPath = flash.FindBmap(image)
	}
	var bm *flash.Bmap
	if bmapPath != "" {
		if bm, err = flash.ReadBmap(bmapPath); err != nil {
			return err
		}
	}
	plan, err := flash.NewPlan(src, bm, o.sparse)
	if err != nil {
		return err
	}
	total := src.Size
	if plan != nil {
		total = plan.Data + plan.Zero
		describePlan(stdout, plan)
	}
	if js != nil {
		ev := jsonWriteStarted{Command: "write", Image: image, ImageB64: raw64(image), Format: string(src.Format), Targets: args}
		if total >= 0 {
			ev.Bytes = &total
		}
		if src.Size >= 0 {
			ev.ImageSize = &src.Size
		}
		if plan != nil {
			ev.LeftAsWas, ev.ZeroedHole = plan.Left, plan.Zero
			if plan.Bmap != nil {
				ev.Bmap = plan.Bmap.Path
			}
		}
		js.emit("started", ev)
	}

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
		if js != nil {
			js.emit("error", jsonError{Error: "refused; nothing was written"})
		}
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
	// What the heap holds is a decoder's dictionary and the garbage of
	// the blocks decoded before, which a soft limit keeps from growing to
	// the heap's size, as Go's default pacing lets it. The chunk buffers
	// (six of 4 MiB, one per drive to read back) are mapped outside it
	// where the system allows.
	limit := int64(32 << 20)
	if flash.BuffersInHeap {
		limit += int64(max(6, len(paths))) * 4 << 20
	}
	debug.SetMemoryLimit(limit)
	ui := newWriteUI(stderr, js, paths, total, o.quiet, !o.noVerify)
	res := flash.WriteSource(cmd.Context(), src, paths, flash.Options{Verify: !o.noVerify, Events: ui, Plan: plan})
	results = res
	ui.stop()
	if js != nil {
		for _, r := range res {
			ev := jsonDriveResult{Target: r.Target, Level: jsonLevel(r), Bytes: r.Bytes}
			if r.Err != nil {
				ev.Error = r.Err.Error()
			}
			js.emit("result", ev)
		}
	}
	return writeOutcome(cmd.Context(), stderr, res, !o.noVerify, plan)
}

// jsonLevel is the level a drive reached, in --json's words.
func jsonLevel(r flash.Result) string {
	if r.Level == flash.None {
		return "none"
	}
	return strings.ReplaceAll(r.Level.String(), " ", "_")
}

// describePlan says what of the image goes onto the drives, and what is
// left there as it was.
func describePlan(w io.Writer, p *flash.Plan) {
	if bm := p.Bmap; bm != nil {
		sums := "no checksums"
		if bm.ChecksumType != "" {
			sums = bm.ChecksumType + " per range"
		}
		fmt.Fprintf(w, "bmap %s: version %s, %s mapped of %s in %d ranges, %s\n",
			bm.Path, bm.Version, units.Bytes(p.Data), units.Bytes(bm.ImageSize), len(bm.Ranges), sums)
		if p.Left > 0 {
			fmt.Fprintf(w, "  only the mapped ranges are written: the other %s of the drive are left as they were\n", units.Bytes(p.Left))
		}
		return
	}
	fmt.Fprintf(w, "sparse image: %s of data", units.Bytes(p.Data))
	switch {
	case p.Zero > 0:
		fmt.Fprintf(w, "; its holes (%s) are zeroed on the drive\n", units.Bytes(p.Zero))
	case p.Left > 0:
		fmt.Fprintf(w, "; its holes (%s) are left as they were on the drive (--sparse)\n", units.Bytes(p.Left))
	default:
		fmt.Fprintln(w)
	}
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
			t.disk = device.Disk{Device: sysfs.Device{Path: arg}}
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

// writeOutcome prints one last line per drive with the level it reached,
// and picks the exit code.
func writeOutcome(ctx context.Context, w io.Writer, res []flash.Result, verify bool, plan *flash.Plan) error {
	what := ""
	if plan != nil && plan.Left > 0 {
		what = fmt.Sprintf(" (the rest, %s, left as it was)", units.Bytes(plan.Left))
	}
	failed, mismatched := false, false
	want := flash.Durable
	if verify {
		want = flash.Verified
	}
	for _, r := range res {
		var me *flash.MismatchError
		switch {
		case r.Err == nil && r.Level >= want && verify:
			fmt.Fprintf(w, "sure: written and verified on %s: %s%s\n", r.Target, units.Bytes(r.Bytes), what)
		case r.Err == nil && r.Level >= want:
			fmt.Fprintf(w, "sure: written and flushed (durable, not verified) on %s: %s%s\n", r.Target, units.Bytes(r.Bytes), what)
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

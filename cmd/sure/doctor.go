package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
	"github.com/sure-tools/sure/pagecache"
	"github.com/sure-tools/sure/verdict"
)

func newDoctor() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor [--json] PATH",
		Short: "Explain the way a write to PATH takes down to the media",
		Long: `Explain, for the file system holding PATH, what a write goes through on its
way to the media and what sure will do there: the file system and its mount
options, the barrier sure uses, the device chain (partition, disk, loop
device and its backing file, FUSE server), removable and transport, the
drive's write cache and FUA, the kernel's writeback limits for the device,
the dirty memory now, the kernel facts that change what a flush promises,
and what no software can promise.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("doctor: needs one PATH\nUsage: %s", cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Stat(args[0]); err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the path is named as typed below
				}
				return fmt.Errorf("doctor: cannot stat %s: %w", quote.Name(args[0]), err)
			}
			c, err := device.Trace(args[0])
			if err != nil {
				return fmt.Errorf("doctor: %w", err)
			}
			r := diagnose(c)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			r.print(quote.Writer(cmd.OutOrStdout()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// report is what doctor found, in the shape --json prints.
type report struct {
	Path          string            `json:"path"`
	MountPoint    string            `json:"mount_point"`
	FSType        string            `json:"fstype"` // as mounted: ext4, fuseblk
	Kind          string            `json:"kind"`   // what is on the device: exfat under fuseblk
	Source        string            `json:"source"`
	Options       string            `json:"options"`
	Barrier       string            `json:"barrier"`
	BarrierReason string            `json:"barrier_reason"`
	Server        *proc.Process     `json:"fuse_server,omitempty"`
	Device        string            `json:"device,omitempty"`
	Partition     string            `json:"partition,omitempty"`
	Disk          *device.Disk      `json:"disk,omitempty"`
	DiskBDI       *pagecache.BDI    `json:"disk_bdi,omitempty"`
	MountBDI      *pagecache.BDI    `json:"mount_bdi,omitempty"`
	Backing       *report           `json:"backing,omitempty"` // the file system holding a loop device's backing file
	Dirty         *pagecache.System `json:"system_dirty,omitempty"`
	DebugFS       bool              `json:"debugfs"`
	Kernel        kernelFacts       `json:"kernel"`
	Plan          []string          `json:"plan"`
	Limits        []string          `json:"limits"`
}

type kernelFacts struct {
	Release      string `json:"release"`
	SyncfsErrors bool   `json:"syncfs_reports_errors"` // Linux 5.8
	Cachestat    bool   `json:"cachestat"`             // Linux 6.5
	BDIBytes     bool   `json:"bdi_byte_limits"`       // Linux 6.2
}

func diagnose(c device.Chain) *report {
	r := chainReport(c)
	if d, err := pagecache.Meminfo(); err == nil {
		r.Dirty = &d
	}
	r.DebugFS = pagecache.DebugfsMounted()
	rel, _, _ := fsinfo.Kernel()
	r.Kernel = kernelFacts{
		Release:      rel,
		SyncfsErrors: fsinfo.KernelAtLeast(5, 8),
		Cachestat:    fsinfo.KernelAtLeast(6, 5),
		BDIBytes:     fsinfo.KernelAtLeast(6, 2),
	}
	d := verdict.Diagnose(c)
	r.Plan = d.Plan
	r.Limits = d.Limits
	return r
}

func chainReport(c device.Chain) *report {
	r := &report{
		Path:          c.Path,
		MountPoint:    c.Mount.MountPoint,
		FSType:        c.Mount.FSType,
		Kind:          string(c.Kind),
		Source:        c.Mount.Source,
		Options:       c.Mount.Options,
		Barrier:       c.Barrier.String(),
		BarrierReason: c.BarrierReason,
		Device:        c.Device,
		Disk:          c.Disk,
		DiskBDI:       c.DiskBDI,
		MountBDI:      c.MountBDI,
	}
	if c.Server != nil {
		r.Server = c.Server
	}
	if c.Partition != nil {
		r.Partition = c.Partition.Path
	}
	if c.Backing != nil {
		r.Backing = chainReport(*c.Backing)
	}
	return r
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "%s\n\n", r.Path)
	fmt.Fprintln(w, "File system")
	r.printFS(w, "  ")
	fmt.Fprintf(w, "  barrier: %s: %s\n", r.Barrier, r.BarrierReason)
	if r.Disk == nil && r.Server == nil {
		fmt.Fprintf(w, "  (no block device is under %s: its flush reaches no media)\n", r.MountPoint)
	}

	fmt.Fprintln(w, "\nDevice chain")
	r.printChain(w, "  ")

	if r.Disk != nil {
		fmt.Fprintln(w, "\nDrive cache")
		printCache(w, "  ", r.Disk)
	}

	fmt.Fprintln(w, "\nWriteback")
	if r.MountBDI != nil {
		printBDI(w, "  ", "file system", r.MountBDI)
	}
	if r.DiskBDI != nil {
		printBDI(w, "  ", r.Disk.Path, r.DiskBDI)
	}
	if r.Dirty != nil {
		fmt.Fprintf(w, "  system now: %s dirty, %s under writeback (/proc/meminfo)\n", units.Bytes(r.Dirty.Dirty), units.Bytes(r.Dirty.Writeback))
	}
	if !r.DebugFS {
		fmt.Fprintln(w, "  per-device dirty bytes: unknown, debugfs is not mounted (mount -t debugfs none /sys/kernel/debug)")
	}

	fmt.Fprintf(w, "\nKernel %s\n", r.Kernel.Release)
	fmt.Fprintf(w, "  syncfs reports writeback errors (Linux 5.8): %s\n", yesNo(r.Kernel.SyncfsErrors, "without it sure flushes file by file"))
	fmt.Fprintf(w, "  cachestat, dirty pages per file (Linux 6.5): %s\n", yesNo(r.Kernel.Cachestat, "progress cannot ask the kernel what is still dirty"))
	fmt.Fprintf(w, "  bdi limits in bytes, strict_limit (Linux 6.2): %s\n", yesNo(r.Kernel.BDIBytes, "only ratios can be read"))

	fmt.Fprintln(w, "\nWhat sure does here")
	for _, s := range r.Plan {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	fmt.Fprintln(w, "\nWhat no software can promise")
	for _, s := range r.Limits {
		fmt.Fprintf(w, "  - %s\n", s)
	}
}

func (r *report) printFS(w io.Writer, ind string) {
	kind := r.FSType
	if r.Kind != r.FSType {
		kind = fmt.Sprintf("%s (%s)", r.Kind, r.FSType)
	}
	fmt.Fprintf(w, "%s%s is on %s: %s from %s, options %s\n", ind, quote.Line(r.Path), quote.Line(r.MountPoint), kind, quote.Line(r.Source), quote.Line(r.Options))
	if r.Server != nil {
		fmt.Fprintf(w, "%sFUSE server: pid %d, %s\n", ind, r.Server.PID, quote.Line(strings.Join(r.Server.Args, " ")))
	}
}

func (r *report) printChain(w io.Writer, ind string) {
	steps := []string{fmt.Sprintf("%s (%s)", quote.Line(r.MountPoint), r.Kind)}
	if r.Server != nil {
		steps = append(steps, fmt.Sprintf("FUSE server %s (pid %d)", r.Server.Args[0], r.Server.PID))
	}
	if r.Partition != "" {
		steps = append(steps, "partition "+r.Partition)
	}
	if r.Disk == nil {
		fmt.Fprintf(w, "%s%s → no block device\n", ind, strings.Join(steps, " → "))
		return
	}
	if r.Partition == "" {
		steps = append(steps, r.Disk.Path+" (whole disk)")
	} else {
		steps = append(steps, "disk "+r.Disk.Path)
	}
	fmt.Fprintf(w, "%s%s\n", ind, strings.Join(steps, " → "))
	d := r.Disk
	var facts []string
	facts = append(facts, units.Bytes(d.Size))
	if d.Transport != "" {
		facts = append(facts, "transport "+d.Transport)
	}
	if m := strings.TrimSpace(d.Vendor + " " + d.Model); m != "" {
		facts = append(facts, quote.Line(m))
	}
	switch {
	case d.Transport == "loop":
		facts = append(facts, "removable (a loop device: sure treats it as a stick)")
	case d.Removable:
		facts = append(facts, "removable")
	default:
		facts = append(facts, "not removable")
	}
	if d.Rotational {
		facts = append(facts, "rotational")
	}
	if d.ReadOnly {
		facts = append(facts, "read-only")
	}
	if d.WriteCache != "" {
		fua := "no FUA"
		if d.FUA {
			fua = "FUA"
		}
		facts = append(facts, fmt.Sprintf("write cache %q, %s", d.WriteCache, fua))
	}
	fmt.Fprintf(w, "%s%s: %s\n", ind, d.Path, strings.Join(facts, ", "))
	if d.BackingFile != "" {
		fmt.Fprintf(w, "%s%s reads and writes the file %s; a flush of %s becomes an fsync of that file\n", ind, d.Path, quote.Line(d.BackingFile), d.Path)
		if r.Backing != nil {
			r.Backing.printFS(w, ind+"  ")
			r.Backing.printChain(w, ind+"  ")
		}
	}
}

func printCache(w io.Writer, ind string, d *device.Disk) {
	fua := "no FUA"
	if d.FUA {
		fua = "FUA"
	}
	switch d.WriteCache {
	case "write back":
		fmt.Fprintf(w, "%s%s: write cache \"write back\", %s: the drive may acknowledge writes still in its volatile cache; sure sends a cache flush at each barrier (its fsync, syncfs or fsync of the device carries one)\n", ind, d.Path, fua)
	case "write through":
		fmt.Fprintf(w, "%s%s: write cache \"write through\", %s: the drive says a completed write is on the media, so no cache flush is needed (the kernel sends none)\n", ind, d.Path, fua)
	default:
		fmt.Fprintf(w, "%s%s: write cache mode unknown\n", ind, d.Path)
	}
	if d.Transport == "loop" {
		fmt.Fprintf(w, "%s(a loop device's cache is the page cache of its backing file; its flush is an fsync of that file)\n", ind)
	}
}

func printBDI(w io.Writer, ind, what string, b *pagecache.BDI) {
	strict := "off"
	if b.StrictLimit {
		strict = "on: its dirty pages are held to its own share even below the global limits"
	}
	fmt.Fprintf(w, "%sbdi %s (%s): max_ratio %d%%", ind, b.ID, what, b.MaxRatio)
	if b.HasBytes {
		fmt.Fprintf(w, ", max_bytes %s", units.Bytes(b.MaxBytes))
	}
	fmt.Fprintf(w, ", strict_limit %s\n", strict)
	if b.Stats != nil {
		fmt.Fprintf(w, "%s  now: %s under writeback, %s dirty (reclaimable), threshold %s (debugfs)\n", ind,
			units.Bytes(b.Stats["BdiWriteback"]), units.Bytes(b.Stats["BdiReclaimable"]), units.Bytes(b.Stats["BdiDirtyThresh"]))
	}
}

func yesNo(ok bool, without string) string {
	if ok {
		return "yes"
	}
	return "no: " + without
}

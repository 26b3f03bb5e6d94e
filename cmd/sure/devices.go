package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
)

func newDevices() *cobra.Command {
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "devices [--all] [--json]",
		Short: "List removable drives, their partitions and mount points",
		Long: `List the removable drives (USB sticks, SD cards, external disks) with size,
transport, model, and each partition's file system, label and mount points.
Loop devices count as removable drives: an image attached with losetup is
what sure's tests and lab use as a stick. --all lists every disk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			disks, err := device.List(all)
			if err != nil {
				return fmt.Errorf("devices: %w", err)
			}
			if asJSON {
				if disks == nil {
					disks = []device.Disk{}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(disks)
			}
			if len(disks) == 0 {
				what := "no removable drives"
				if all {
					what = "no disks"
				} else {
					what += " (sure devices --all lists every disk)"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "sure: %s\n", quote.Line(what))
				return nil
			}
			printDisks(quote.Writer(cmd.OutOrStdout()), disks)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "list every disk, not only removable ones")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printDisks writes one line per disk and an indented one per partition:
// device, size, transport or file system, model or label, mount points.
func printDisks(w io.Writer, disks []device.Disk) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSIZE\tTYPE\tMODEL/LABEL\tMOUNTED ON")
	for _, d := range disks {
		size := units.Bytes(d.Size)
		if d.Size == 0 {
			size = "no medium"
		}
		// The drive names itself, the stick labels itself: one cell each.
		model := quote.Line(strings.TrimSpace(d.Vendor + " " + d.Model))
		if d.BackingFile != "" {
			model = "file " + quote.Line(d.BackingFile)
		}
		var notes []string
		if d.FSType != "" {
			notes = append(notes, strings.TrimSpace(d.FSType+" "+quoteLabel(d.Label)))
		}
		if !d.Removable {
			notes = append(notes, "not removable")
		}
		if d.ReadOnly {
			notes = append(notes, "read-only")
		}
		if len(d.Holders) > 0 {
			notes = append(notes, "held by "+strings.Join(d.Holders, ","))
		}
		if len(notes) > 0 {
			model = strings.TrimSpace(model + " (" + strings.Join(notes, ", ") + ")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Path, size, orDash(d.Transport), orDash(model), mountPoints(d.Mounts, d.Swaps(), d.Path))
		for _, p := range d.Partitions {
			label := quoteLabel(p.Label)
			if len(p.Holders) > 0 {
				label = strings.TrimSpace(label + " (held by " + strings.Join(p.Holders, ",") + ")")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Path, units.Bytes(p.Size), orDash(p.FSType), orDash(label), mountPoints(p.Mounts, d.Swaps(), p.Path))
		}
	}
	tw.Flush()
}

func mountPoints(ms []device.Mount, swaps []string, dev string) string {
	var s []string
	for _, m := range ms {
		s = append(s, quote.Line(m.MountPoint))
	}
	for _, sw := range swaps {
		if sw == dev {
			s = append(s, "[swap]")
		}
	}
	return orDash(strings.Join(s, ", "))
}

// quoteLabel shows a volume label, escaped: it is read from the stick.
func quoteLabel(l string) string {
	if l == "" {
		return ""
	}
	return strconv.Quote(l)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/internal/units"
)

// addCompletions makes the shells offer removable drives where a command
// takes one: write's targets, eject's argument (a drive or a mount point).
func addCompletions(root *cobra.Command) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "write":
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) == 0 {
					// The image is a file.
					return nil, cobra.ShellCompDirectiveDefault
				}
				return removableCompletions(args, false), cobra.ShellCompDirectiveNoFileComp
			}
		case "eject":
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return removableCompletions(args, true), cobra.ShellCompDirectiveNoFileComp
			}
		}
	}
}

// removableCompletions lists the removable drives not already in args,
// each described by its size, transport and model or label; with mounts,
// their mount points too.
func removableCompletions(args []string, mounts bool) []cobra.Completion {
	disks, err := device.List(false)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, d := range disks {
		if slices.Contains(args, d.Path) {
			continue
		}
		what := []string{units.Bytes(d.Size)}
		if d.Transport != "" {
			what = append(what, d.Transport)
		}
		if m := strings.TrimSpace(d.Vendor + " " + d.Model); m != "" {
			what = append(what, m)
		} else if d.Label != "" {
			what = append(what, d.Label)
		} else if d.BackingFile != "" {
			what = append(what, "file "+d.BackingFile)
		}
		out = append(out, cobra.CompletionWithDesc(d.Path, oneLine(strings.Join(what, " "))))
		if !mounts {
			continue
		}
		for _, m := range d.AllMounts() {
			out = append(out, cobra.CompletionWithDesc(m.MountPoint, oneLine(fmt.Sprintf("%s on %s", m.FSType, m.Device))))
		}
	}
	return out
}

// oneLine keeps a description from a device (a label, a model) from
// breaking the shell's completion protocol, one candidate a line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

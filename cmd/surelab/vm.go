//go:build linux

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/sure-tools/sure/lab/vm"
)

// vmCmd drives the VM lab by hand: Debian's kernels under qemu, with a USB
// stick whose flushes can be counted.
func vmCmd() *cobra.Command {
	v := &cobra.Command{Use: "vm", Short: "Boot Debian kernels under qemu with a USB stick (see lab/vm)"}
	var suite string
	fetch := &cobra.Command{
		Use:   "fetch",
		Short: "Fetch a kernel and build its initramfs into the cache (" + vm.CacheDir() + ", or $SURE_LAB_CACHE)",
		Args:  cobra.NoArgs,
		RunE: withKernel(&suite, func(ctx context.Context, k *vm.Kernel, args []string) error {
			initrd, err := vm.Initramfs(k)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %s\nkernel: %s\ninitramfs: %s\nntfs3: %v\naccelerator: %s\n", k.Suite, k.Package, k.Vmlinuz(), initrd, k.HasModule("ntfs3"), vm.Accel())
			return nil
		}),
	}
	suiteFlag(fetch, &suite)

	var stick string
	var uas bool
	var uid, gid int
	run := &cobra.Command{
		Use:   "run [flags] SCRIPT",
		Short: "Boot, run SCRIPT with sh in the guest (the host's / read-only, tmpfs on /tmp), print its output and the stick's flushes",
		Long: `run boots the guest, runs SCRIPT with /bin/sh in the host's root as seen
from the guest, and prints its output. With --stick, the raw image IMG is
the guest's /dev/sda (qemu-xhci, usb-storage or --uas, removable, write-back
cache); the FLUSH requests it completed during SCRIPT are printed last,
counted by the guest and by qemu. The exit status is SCRIPT's.`,
		Args: cobra.ExactArgs(1),
		RunE: withKernel(&suite, func(ctx context.Context, k *vm.Kernel, args []string) error {
			c := vm.Config{Kernel: k}
			if stick != "" {
				c.Stick = &vm.Stick{Image: stick, UAS: uas}
			}
			g, err := vm.Boot(ctx, c)
			if err != nil {
				return err
			}
			defer g.Close()
			var before, qBefore int64
			if stick != "" {
				if before, qBefore, err = stickFlushes(ctx, g); err != nil {
					return err
				}
			}
			var r vm.Result
			if uid >= 0 {
				r, err = g.RunAs(ctx, uid, gid, args[0])
			} else {
				r, err = g.Run(ctx, args[0])
			}
			if err != nil {
				return err
			}
			fmt.Print(r.Output)
			if stick != "" {
				after, qAfter, err := stickFlushes(ctx, g)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "surelab: stick FLUSH requests during the script: guest %d, qemu %d\n", after-before, qAfter-qBefore)
			}
			if r.Status != 0 {
				g.Close()
				os.Exit(r.Status)
			}
			return nil
		}),
	}
	suiteFlag(run, &suite)
	run.Flags().StringVar(&stick, "stick", "", "raw image file attached as a USB stick")
	run.Flags().BoolVar(&uas, "uas", false, "attach the stick as USB Attached SCSI")
	run.Flags().IntVar(&uid, "uid", -1, "run SCRIPT as this uid (with --gid, no supplementary groups)")
	run.Flags().IntVar(&gid, "gid", 1000, "gid for --uid")
	v.AddCommand(fetch, run)
	return v
}

func suiteFlag(cmd *cobra.Command, suite *string) {
	cmd.Flags().StringVar(suite, "suite", vm.Trixie, "Debian suite: trixie (6.12) or bookworm (6.1)")
}

// withKernel fetches the kernel of --suite (from the cache once it is
// there) under a context that a signal cancels, and runs f with it.
func withKernel(suite *string, f func(ctx context.Context, k *vm.Kernel, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, cancel := signalContext()
		defer cancel()
		k, err := vm.FetchKernel(ctx, *suite)
		if err != nil {
			return err
		}
		return f(ctx, k, args)
	}
}

// stickFlushes is how many FLUSH requests the stick has completed so
// far, as the guest counts them and as qemu does.
func stickFlushes(ctx context.Context, g *vm.VM) (guest, qemu int64, err error) {
	if guest, err = g.Flushes(ctx, "sda"); err != nil {
		return 0, 0, err
	}
	s, err := g.StickStats()
	if err != nil {
		return 0, 0, err
	}
	return guest, s.Flushes, nil
}

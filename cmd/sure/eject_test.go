//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/udisks/udiskstest"
)

// TestEject runs the scripts of testdata/eject: sure eject on loop
// devices standing in for USB sticks.
func TestEject(t *testing.T) {
	cmds := commands()
	cmds["stick"] = cmdStick
	cmds["attached"] = cmdAttached
	testscript.Run(t, testscript.Params{
		Dir:       "testdata/eject",
		Cmds:      cmds,
		Condition: condition(""),
		Setup:     setup,
	})
}

// TestEjectUDisks runs the scripts of testdata/eject-udisks with the real
// system bus, udev and udisksd running (started here when they are not).
func TestEjectUDisks(t *testing.T) {
	fsimage.Require(t, "ext4")
	c := udiskstest.Start(t)
	cmds := commands()
	cmds["stick"] = cmdStick
	cmds["attached"] = cmdAttached
	// udisks-mounted DIR: wait until UDisks2 sees $DEV mounted on DIR.
	cmds["udisks-mounted"] = func(ts *testscript.TestScript, neg bool, args []string) {
		noNeg(ts, neg, "udisks-mounted")
		tb := ts.Value("tb").(testing.TB)
		udiskstest.Settle(tb)
		dir := ts.MkAbs(args[0])
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			b := udiskstest.WaitBlock(tb, c, ts.Getenv("DEV"))
			if slices.Contains(b.MountPoints, dir) {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("UDisks2 does not see %s mounted on %s", ts.Getenv("DEV"), dir)
			}
		}
	}
	testscript.Run(t, testscript.Params{
		Dir:       "testdata/eject-udisks",
		Cmds:      cmds,
		Condition: condition(""),
		Setup:     setup,
	})
}

// stick KIND DIR: make a file system of KIND in $WORK/stick.img, attach
// it to a loop device, mount it on DIR (created) and set $DEV to the
// device. Whatever eject leaves is undone when the script ends.
func cmdStick(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "stick")
	if len(args) != 2 {
		ts.Fatalf("usage: stick KIND DIR")
	}
	kind, dir := args[0], ts.MkAbs(args[1])
	needFS(ts, "stick", kind)
	image := ts.MkAbs("stick.img")
	ts.Check(fsimage.Create(kind, image, fsimage.MinSize(kind)))
	ts.Check(os.MkdirAll(dir, 0o755))
	dev, err := fsimage.Attach(image)
	ts.Check(err)
	tb := ts.Value("tb").(testing.TB)
	ts.Defer(func() {
		for _, d := range loopsOf(image) {
			if err := fsimage.Detach(d); err != nil {
				tb.Error(err)
			}
		}
	})
	m, err := fsimage.Mount(kind, dev, dir)
	ts.Check(err)
	unmountAtEnd(ts, m, dir)
	ts.Setenv("DEV", dev)
}

// attached IMAGE: IMAGE is attached to a loop device.
func cmdAttached(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: attached IMAGE")
	}
	devs := loopsOf(ts.MkAbs(args[0]))
	if neg && len(devs) > 0 {
		ts.Fatalf("%s is attached to %s", args[0], strings.Join(devs, ", "))
	}
	if !neg && len(devs) == 0 {
		ts.Fatalf("%s is not attached", args[0])
	}
}

func loopsOf(image string) []string {
	out, err := exec.Command("losetup", "--noheadings", "--output", "NAME", "-j", image).Output()
	if err != nil {
		panic(fmt.Sprintf("losetup -j %s: %v", image, err))
	}
	return strings.Fields(string(out))
}

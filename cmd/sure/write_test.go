//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/ulikunitz/xz"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/device/devicetest"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// TestWrite runs the scripts of testdata/write: sure write onto loop
// devices standing in for USB sticks, the virtual stick with faults, and
// refusals of the system disk and mounted targets checked through
// --dry-run, which never opens a target for writing.
func TestWrite(t *testing.T) {
	cmds := commands()
	maps.Copy(cmds, map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"loopdev":     cmdFlashLoop,
		"vstick":      cmdFlashVstick,
		"compress":    cmdFlashCompress,
		"samedev":     cmdFlashSamedev,
		"samedevs":    cmdFlashSamedevs,
		"sysdisk":     cmdFlashSysdisk,
		"flashstick":  cmdFlashStick,
		"mountedloop": cmdFlashMounted,
	})
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/write",
		Cmds: cmds,
		Condition: func(cond string) (bool, error) {
			// [sysdisk]: the running system sits on a drive here (not
			// only on an overlay or in RAM).
			if cond == "sysdisk" {
				_, _, err := systemDisk()
				return err == nil, nil
			}
			return condition("")(cond)
		},
		Setup: setup,
	})
}

func flashTB(ts *testscript.TestScript) testing.TB { return ts.Value("tb").(testing.TB) }

// loopdev VAR SIZE [FILL]: a loop device on a file of SIZE bytes (suffix
// K or M) filled with byte FILL (default 0); its path goes in $VAR.
func cmdFlashLoop(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "loopdev")
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: loopdev VAR SIZE [FILL]")
	}
	if why, err := fsMissing("ext4"); why != "" {
		ts.Fatalf("loopdev: %s (guard the script with [root]): %v", why, err)
	}
	fill := byte(0)
	if len(args) == 3 {
		n, err := strconv.ParseUint(args[2], 0, 8)
		ts.Check(err)
		fill = byte(n)
	}
	backing := ts.MkAbs(args[0] + ".backing")
	ts.Check(os.WriteFile(backing, bytes.Repeat([]byte{fill}, int(parseSize(ts, args[1]))), 0o600))
	dev, err := fsimage.Attach(backing)
	ts.Check(err)
	tb := flashTB(ts)
	ts.Defer(func() {
		if err := fsimage.Detach(dev); err != nil {
			tb.Errorf("detaching %s: %v", dev, err)
		}
	})
	ts.Setenv(args[0], dev)
}

// vstick VAR SIZE [flip=N]: a virtual stick (lab/vdisk) of SIZE with a
// loop device on it, path in $VAR. flip=N stores every N-th write with a
// bit flipped. The stick's file is served with FUSE direct I/O, so reads
// through the loop device reach the server, and sure's O_DIRECT reads
// bypass the loop device's cache: a flip is seen.
func cmdFlashVstick(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "vstick")
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: vstick VAR SIZE [flip=N]")
	}
	if why, err := fsMissing("exfat"); why != "" {
		ts.Fatalf("vstick: %s (guard the script with [root]): %v", why, err)
	}
	var f vdisk.Faults
	if len(args) == 3 {
		n, ok := strings.CutPrefix(args[2], "flip=")
		if !ok {
			ts.Fatalf("vstick: unknown fault %q", args[2])
		}
		var err error
		f.FlipEvery, err = strconv.ParseInt(n, 10, 64)
		ts.Check(err)
	}
	d, err := vdisk.Start(vdisk.Config{Dir: ts.MkAbs(args[0] + ".vdisk"), Size: parseSize(ts, args[1]), Seed: 5, Faults: f})
	ts.Check(err)
	tb := flashTB(ts)
	ts.Defer(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("closing the virtual stick: %v", err)
		}
	})
	dev, err := fsimage.Attach(d.Image)
	ts.Check(err)
	ts.Defer(func() {
		if err := fsimage.Detach(dev); err != nil {
			tb.Errorf("detaching %s: %v", dev, err)
		}
	})
	ts.Setenv(args[0], dev)
}

// compress FORMAT SRC DST: DST is SRC compressed as gzip, xz or zstd.
func cmdFlashCompress(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "compress")
	if len(args) != 3 {
		ts.Fatalf("usage: compress gzip|xz|zstd SRC DST")
	}
	data, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	var buf bytes.Buffer
	var w io.WriteCloser
	switch args[0] {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf)
	default:
		ts.Fatalf("compress: unknown format %q", args[0])
	}
	ts.Check(err)
	_, err = w.Write(data)
	ts.Check(err)
	ts.Check(w.Close())
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), buf.Bytes(), 0o644))
}

// samedev DEV FILE: the device starts with FILE's bytes, read with
// O_DIRECT (from the device, not a cache).
func cmdFlashSamedev(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: samedev DEV FILE")
	}
	want, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	f, err := os.OpenFile(args[0], os.O_RDONLY|syscall.O_DIRECT, 0)
	ts.Check(err)
	defer f.Close()
	n := (len(want) + 4095) &^ 4095
	raw := make([]byte, n+4096)
	buf := raw[4096-int(uintptr(unsafe.Pointer(&raw[0]))%4096):][:n]
	_, err = io.ReadFull(f, buf)
	ts.Check(err)
	same := bytes.Equal(buf[:len(want)], want)
	switch {
	case same && neg:
		ts.Fatalf("%s holds %s", args[0], args[1])
	case !same && !neg:
		i := 0
		for buf[i] == want[i] {
			i++
		}
		ts.Fatalf("%s differs from %s at byte %d", args[0], args[1], i)
	}
}

// readDirect reads n bytes (a multiple of 4096) from the start of dev
// with O_DIRECT.
func readDirect(ts *testscript.TestScript, dev string, n int) []byte {
	f, err := os.OpenFile(dev, os.O_RDONLY|syscall.O_DIRECT, 0)
	ts.Check(err)
	defer f.Close()
	raw := make([]byte, n+4096)
	buf := raw[4096-int(uintptr(unsafe.Pointer(&raw[0]))%4096):][:n]
	_, err = io.ReadFull(f, buf)
	ts.Check(err)
	return buf
}

// samedevs DEV1 DEV2 SIZE: both devices hold the same first SIZE bytes.
func cmdFlashSamedevs(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "samedevs")
	if len(args) != 3 {
		ts.Fatalf("usage: samedevs DEV1 DEV2 SIZE")
	}
	n := int(parseSize(ts, args[2]))
	a, b := readDirect(ts, args[0], n), readDirect(ts, args[1], n)
	for i := range a {
		if a[i] != b[i] {
			ts.Fatalf("%s and %s differ at byte %d: %#x and %#x", args[0], args[1], i, a[i], b[i])
		}
	}
}

// sysdisk VAR: the drive holding the running system (the one under /, or
// under another system path when / is an overlay) goes in $VAR, the path
// it holds in $VAR_MOUNT. Scripts only ever pass it to --dry-run: a test
// must never open the system disk for writing. Guard with [sysdisk].
func cmdFlashSysdisk(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "sysdisk")
	if len(args) != 1 {
		ts.Fatalf("usage: sysdisk VAR")
	}
	d, p, err := systemDisk()
	ts.Check(err)
	ts.Setenv(args[0], d)
	ts.Setenv(args[0]+"_MOUNT", p)
}

func systemDisk() (disk, path string, err error) {
	var errs []error
	for _, p := range []string{"/", "/boot", "/usr", "/var", "/home", "/etc"} {
		d, err := device.Resolve(p)
		if err == nil {
			return d.Path, p, nil
		}
		errs = append(errs, err)
	}
	return "", "", fmt.Errorf("no system path has a drive under it: %w", errors.Join(errs...))
}

// flashstick VAR: a 64 MiB loop device with an MBR, partition 1 ext4
// labelled STICKDATA and mounted (its mount point in $VAR_MOUNT),
// partition 2 empty.
func cmdFlashStick(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "flashstick")
	if len(args) != 1 {
		ts.Fatalf("usage: flashstick VAR")
	}
	s := devicetest.Partitioned(flashTB(ts), 64, devicetest.Part{MiB: 32, Kind: "ext4", Label: "STICKDATA", Mount: true}, devicetest.Part{})
	ts.Setenv(args[0], s.Disk)
	ts.Setenv(args[0]+"_MOUNT", s.Mounts[0])
}

// mountedloop VAR DIR: an ext4 image on a loop device mounted on DIR
// (no partition table: the file system covers the whole device); the
// device in $VAR.
func cmdFlashMounted(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mountedloop")
	if len(args) != 2 {
		ts.Fatalf("usage: mountedloop VAR DIR")
	}
	m := mountFresh(ts, "ext4", ts.MkAbs(args[0]+".ext4"), ts.MkAbs(args[1]))
	ts.Setenv(args[0], m.Device)
}

package eject

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// diskutil asks the user's session, through Disk Arbitration, and needs
// no root for external drives.
const needsRoot = false

var wholeDisk = regexp.MustCompile(`^/dev/r?(disk[0-9]+)`)

// Eject flushes and unmounts every volume of the disk holding arg
// (diskutil unmountDisk, which names the process that dissents when one
// is busy), then ejects it (diskutil eject). Options.UDisks does not
// apply here.
func Eject(ctx context.Context, arg string, opts Options) (string, error) {
	r := reporter{report: opts.Report}
	disk, err := diskOf(arg)
	if err != nil {
		return "", r.fail("find the drive of "+arg, err)
	}
	r.done("find the drive of "+arg, disk)
	// sync(2) on macOS does not wait for the writes it starts, so it would
	// prove nothing; unmounting flushes each volume and waits.
	r.skip("flush "+disk, "diskutil unmountDisk flushes each volume as it unmounts it")
	for _, step := range [][]string{{"unmountDisk", disk}, {"eject", disk}} {
		what := "diskutil " + strings.Join(step, " ")
		out, err := exec.CommandContext(ctx, "diskutil", step...).CombinedOutput()
		if err != nil {
			return disk, r.fail(what, fmt.Errorf("%w: %s", err, bytes.TrimSpace(out)))
		}
		r.done(what, string(bytes.TrimSpace(out)))
	}
	return disk, nil
}

// diskOf finds the whole disk (/dev/disk4) of a device or a path.
func diskOf(arg string) (string, error) {
	dev := arg
	if !strings.HasPrefix(arg, "/dev/") {
		var st unix.Statfs_t
		if err := unix.Statfs(arg, &st); err != nil {
			return "", &os.PathError{Op: "statfs", Path: arg, Err: err}
		}
		dev = unix.ByteSliceToString(st.Mntfromname[:])
	}
	m := wholeDisk.FindStringSubmatch(dev)
	if m == nil {
		return "", fmt.Errorf("%s: on %s, which is not a disk", arg, dev)
	}
	return "/dev/" + m[1], nil
}

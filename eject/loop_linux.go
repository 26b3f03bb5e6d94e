package eject

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/sysfs"
)

// detachLoop detaches the loop device open as f (LOOP_CLR_FD) and closes
// f. The kernel only marks a device that others still hold open, and
// detaches it at the last close; so this waits, bounded, for the backing
// file to go, and names who still holds the device if it does not.
func detachLoop(ctx context.Context, f *os.File, d device.Disk) error {
	err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
	f.Close()
	if err != nil && err != unix.ENXIO { // ENXIO: nothing attached any more
		return &os.PathError{Op: "LOOP_CLR_FD", Path: d.Path, Err: err}
	}
	return waitDetached(ctx, d)
}

// waitDetached waits until the loop device has no backing file.
func waitDetached(ctx context.Context, d device.Disk) error {
	deadline := time.Now().Add(detachTimeout)
	for loopAttached(d.Name) {
		if time.Now().After(deadline) {
			holders, hidden := deviceHolders(unix.Mkdev(d.Major, d.Minor))
			msg := fmt.Sprintf("%s is still attached to %s %v after detaching: it is still open", d.Path, d.BackingFile, detachTimeout)
			if len(holders) > 0 {
				msg += " by " + strings.Join(holderNames(holders), ", ")
			}
			return fmt.Errorf("%s; it detaches when the last one closes it%s", msg, hiddenNote(hidden))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for %s to detach: %w", d.Path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// loopAttached reports whether loop device name has a backing file.
func loopAttached(name string) bool {
	_, err := sysfs.Attr(sysfs.DiskDir(name), "loop/backing_file")
	return err == nil
}

// loopAutoclear reports whether loop device name detaches itself once its
// last user closes it, as mount -o loop sets it up.
func loopAutoclear(name string) bool {
	return sysfs.Str(sysfs.DiskDir(name), "loop/autoclear") == "1"
}

// finishAutoclear ends the eject of a loop device that the kernel detaches
// itself when the unmount lets it go: there is no device left to flush,
// so once it is detached the backing file, which the loop driver wrote
// through its page cache, is flushed instead.
func finishAutoclear(ctx context.Context, d device.Disk, r reporter) error {
	what := "detach " + d.Path
	if err := waitDetached(ctx, d); err != nil {
		return r.fail(what, err)
	}
	r.done(what, "the kernel detached it from "+d.BackingFile+" when the unmount let it go (autoclear)")
	what = "flush " + d.BackingFile
	f, err := os.Open(d.BackingFile)
	if err != nil {
		return r.fail(what, err)
	}
	err = durable.SyncFile(f)
	f.Close()
	if err != nil {
		return r.fail(what, err)
	}
	r.done(what, "fsync of the loop device's backing file")
	return nil
}

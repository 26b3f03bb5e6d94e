package eject

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/udisks"
)

// ejectUDisks does what ejectDirect does through UDisks2, which polkit
// lets the active desktop session use without root. UDisks2 knows only
// the file systems it can mount itself: a FUSE mount must be unmounted by
// whoever mounted it (fusermount -u).
func ejectUDisks(ctx context.Context, d device.Disk, r reporter) error {
	c, err := udisks.Connect()
	if err != nil {
		return r.fail("reach UDisks2", err)
	}
	defer c.Close()
	r.done("reach UDisks2", "connected to the system bus")

	ms := mounts(d)
	autoclear := isLoop(d) && loopAutoclear(d.Name)
	if err := flushMounts(ms, r); err != nil {
		return err
	}
	for _, m := range ms {
		what := "unmount " + m.MountPoint + " through UDisks2"
		if m.IsFUSE() {
			return r.fail(what, fmt.Errorf("%s is a FUSE mount (%s), which UDisks2 does not manage: unmount it with fusermount -u, or eject as root", m.MountPoint, m.FSType))
		}
		b, err := blockOf(ctx, c, m.Device)
		if err != nil {
			return r.fail(what, err)
		}
		err = c.Unmount(ctx, b)
		if errors.Is(err, udisks.ErrBusy) {
			holders, hidden := mountHolders(m.MountPoint)
			return r.fail(what, &BusyError{Path: m.MountPoint, Holders: holders, Other: otherUsers(m.MountPoint), Hidden: hidden})
		}
		if err != nil {
			return r.fail(what, err)
		}
		r.done(what, "Filesystem.Unmount")
	}
	if autoclear && len(ms) > 0 {
		return finishAutoclear(ctx, d, r)
	}

	// A user in the disk group, or root, can flush the device itself;
	// for the others the syncfs above, which ends in a cache flush, and
	// UDisks2's power-off have to do.
	flushed := false
	if f, err := os.OpenFile(d.Path, os.O_RDONLY, 0); err == nil {
		err = f.Sync()
		f.Close()
		if err != nil {
			return r.fail("flush "+d.Path, err)
		}
		r.done("flush "+d.Path, "fsync of the block device")
		flushed = true
	} else if errors.Is(err, os.ErrPermission) {
		r.skip("flush "+d.Path, "this user may not open it; the file systems were flushed above")
	} else {
		return r.fail("flush "+d.Path, err)
	}

	b, err := blockOf(ctx, c, d.Path)
	if err != nil {
		return r.fail("find "+d.Path+" in UDisks2", err)
	}
	if b.Loop {
		what := "detach " + d.Path + " through UDisks2"
		if err := c.DeleteLoop(ctx, b); err != nil {
			return r.fail(what, err)
		}
		if err := waitDetached(ctx, d); err != nil {
			return r.fail(what, err)
		}
		r.done(what, "Loop.Delete; the loop device let go of "+d.BackingFile)
		return nil
	}
	what := "power off " + d.Path + " through UDisks2"
	if b.Drive == "/" || b.Drive == "" {
		r.skip(what, "UDisks2 knows no drive for it")
		return nil
	}
	drv, err := c.Drive(ctx, b.Drive)
	if err != nil {
		return r.fail(what, err)
	}
	if !drv.CanPowerOff {
		why := "UDisks2 cannot power this drive off"
		if flushed {
			why += "; it is unmounted and flushed"
		}
		r.skip(what, why)
		return nil
	}
	if err := c.PowerOff(ctx, drv); err != nil {
		return r.fail(what, err)
	}
	r.done(what, "Drive.PowerOff: cache flushed, drive stopped, USB port off")
	return waitGone(ctx, d, r)
}

// blockOf finds the UDisks2 object of the block device at path.
func blockOf(ctx context.Context, c *udisks.Client, path string) (udisks.Block, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return udisks.Block{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	b, err := c.BlockByNumber(ctx, st.Rdev)
	if err != nil {
		return udisks.Block{}, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

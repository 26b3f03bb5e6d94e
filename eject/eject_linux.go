package eject

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/internal/sysfs"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/flush"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/scsi"
)

const needsRoot = true

// serverExitTimeout bounds the wait for a FUSE server to write back and
// exit after its unmount; a stick at 2 MB/s with a full cache needs a
// while.
const serverExitTimeout = 5 * time.Minute

// detachTimeout bounds the wait for the kernel to let go of a loop device
// after the last close (udev may still be probing it).
const detachTimeout = 10 * time.Second

// Eject makes the drive behind arg (a mount point, a path inside a mounted
// file system, a partition or a whole disk) safe to remove. It returns the
// whole disk's path, and nil only when the drive can be pulled.
func Eject(ctx context.Context, arg string, opts Options) (string, error) {
	r := reporter{report: opts.Report}
	d, err := device.Resolve(arg)
	if err != nil {
		return "", r.fail("find the drive of "+arg, err)
	}
	what := d.Path
	if d.BackingFile != "" {
		what += " (loop device of " + d.BackingFile + ")"
	} else if d.Transport != "" {
		what += " (" + d.Transport + ")"
	}
	r.done("find the drive of "+arg, what)
	if err := refuseHeld(d); err != nil {
		return d.Path, r.fail("check "+d.Path, err)
	}
	if opts.UDisks {
		return d.Path, ejectUDisks(ctx, d, r)
	}
	return d.Path, ejectDirect(ctx, d, r)
}

// refuseHeld stops at what eject cannot undo: the running system's own
// file systems, swap and stacked devices (device mapper, RAID) on the
// drive.
func refuseHeld(d device.Disk) error {
	for _, m := range d.AllMounts() {
		if device.IsSystemMount(m.MountPoint) {
			return fmt.Errorf("refusing: %s holds %s of the running system (%s on %s); nothing was done", d.Path, m.MountPoint, m.FSType, m.Device)
		}
	}
	if s := d.Swaps(); len(s) > 0 {
		return fmt.Errorf("%s is in use as swap (%s): swapoff first", d.Path, strings.Join(s, ", "))
	}
	held := func(dev string, hs []string) error {
		if len(hs) > 0 {
			return fmt.Errorf("%s is held by %s (device mapper, RAID or another stacked device): close that first", dev, strings.Join(hs, ", "))
		}
		return nil
	}
	if err := held(d.Path, d.Holders); err != nil {
		return err
	}
	for _, p := range d.Partitions {
		if err := held(p.Path, p.Holders); err != nil {
			return err
		}
	}
	return nil
}

// mounts lists the drive's mounts, deepest mount point first, so that a
// file system mounted inside another is unmounted before it.
func mounts(d device.Disk) []device.Mount {
	ms := d.AllMounts()
	slices.SortStableFunc(ms, func(a, b device.Mount) int {
		return strings.Count(b.MountPoint, "/") - strings.Count(a.MountPoint, "/")
	})
	return ms
}

// flushMounts flushes every file system before its unmount: umount(2)
// writes everything back too, but reports no writeback error.
func flushMounts(ms []device.Mount, r reporter) error {
	for _, m := range ms {
		what := fmt.Sprintf("flush %s (%s on %s)", m.MountPoint, m.FSType, m.Device)
		res := flush.Paths([]string{m.MountPoint})
		for _, x := range res {
			if x.Err != nil {
				return r.fail(what, fmt.Errorf("%s failed: %w; data written there since its last flush may not be on the media", x.Method, x.Err))
			}
			r.done(what, x.Method)
		}
	}
	return nil
}

func ejectDirect(ctx context.Context, d device.Disk, r reporter) error {
	ms := mounts(d)
	// Known before the unmounts, after which the device may be gone.
	autoclear := isLoop(d) && loopAutoclear(d.Name)
	if err := flushMounts(ms, r); err != nil {
		return err
	}
	for _, m := range ms {
		if err := unmount(ctx, m, r); err != nil {
			return err
		}
	}
	if autoclear && len(ms) > 0 {
		return finishAutoclear(ctx, d, r)
	}
	// With nothing mounted, nothing may claim the device any more: an
	// exclusive open proves it, and the descriptor carries the flushes.
	for _, p := range d.Partitions {
		f, err := openExclusive(p.Path, p.Major, p.Minor)
		if err != nil {
			return r.fail("release "+p.Path, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return r.fail("flush "+p.Path, err)
		}
		r.done("flush "+p.Path, "fsync of the partition's block device")
	}
	f, err := openExclusive(d.Path, d.Major, d.Minor)
	if err != nil {
		return r.fail("release "+d.Path, err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	if err := f.Sync(); err != nil {
		return r.fail("flush "+d.Path, err)
	}
	r.done("flush "+d.Path, "fsync of the block device: its writeback finished and the drive was sent a cache flush")

	if err := synchronizeCache(f, d, r); err != nil {
		return err
	}
	if isLoop(d) {
		err := detachLoop(ctx, f, d)
		f = nil
		if err != nil {
			return r.fail("detach "+d.Path, err)
		}
		r.done("detach "+d.Path, "the loop device let go of "+d.BackingFile)
		return nil
	}
	if err := allowRemoval(f, d, r); err != nil {
		return err
	}
	if err := stopUnit(f, d, r); err != nil {
		return err
	}
	f.Close()
	f = nil
	return powerOff(ctx, d, r)
}

func isLoop(d device.Disk) bool {
	return d.Transport == "loop" || strings.HasPrefix(d.Name, "loop")
}

// unmount unmounts one file system, never lazily. A FUSE file system has
// written everything to its device only when its server has exited, so
// eject waits for that.
func unmount(ctx context.Context, m device.Mount, r reporter) error {
	what := "unmount " + m.MountPoint
	var server int
	var serverName string
	if m.IsFUSE() {
		if c, err := device.Trace(m.MountPoint); err == nil && c.Server != nil {
			server = c.Server.PID
			if len(c.Server.Args) > 0 {
				serverName = filepath.Base(c.Server.Args[0])
			}
		}
	}
	var err error
	for try := 0; ; try++ {
		err = unix.Unmount(m.MountPoint, 0)
		if err != unix.EBUSY {
			break
		}
		holders, hidden := mountHolders(m.MountPoint)
		if len(holders) > 0 || try >= 20 {
			return r.fail(what, &BusyError{Path: m.MountPoint, Holders: holders, Other: otherUsers(m.MountPoint), Hidden: hidden})
		}
		// A process that just closed its last file there may not be
		// gone yet; a real holder shows up in the scan.
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case err == unix.EINVAL && !mounted(m.MountPoint):
		r.skip(what, "it was unmounted meanwhile")
	case err != nil:
		return r.fail(what, &os.PathError{Op: "umount", Path: m.MountPoint, Err: err})
	default:
		r.done(what, "")
	}
	if server != 0 {
		w := fmt.Sprintf("wait for the FUSE server %s (PID %d) to write back and exit", serverName, server)
		if err := waitExit(ctx, server, serverExitTimeout); err != nil {
			return r.fail(w, err)
		}
		r.done(w, "exited")
	}
	return nil
}

// mounted reports whether dir is a mount point here.
func mounted(dir string) bool {
	ms, err := fsinfo.Mounts()
	if err != nil {
		return true // assume the worst: the caller then reports the error
	}
	return slices.ContainsFunc(ms, func(m fsinfo.Mount) bool { return m.MountPoint == dir })
}

// waitExit waits for a process that is not our child to end.
func waitExit(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for proc.Alive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("PID %d still runs %v after the unmount; it may still be writing to the device", pid, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while PID %d was still writing to the device: %w", pid, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// openExclusive opens a block device O_EXCL, which fails while anything
// still claims it: a mount (in any mount namespace), device mapper, RAID,
// swap, another exclusive opener.
func openExclusive(path string, major, minor uint32) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_EXCL, 0)
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) {
		f, err = os.OpenFile(path, os.O_RDONLY|unix.O_EXCL, 0)
	}
	if errors.Is(err, unix.EBUSY) {
		holders, hidden := deviceHolders(unix.Mkdev(major, minor))
		return nil, &BusyError{Path: path, Holders: holders, Hidden: hidden}
	}
	return f, err
}

// synchronizeCache asks a SCSI drive to write its volatile cache to the
// media, and reports its answer, which udisks ignores.
func synchronizeCache(f *os.File, d device.Disk, r reporter) error {
	what := "SCSI SYNCHRONIZE CACHE " + d.Path
	err := scsi.SynchronizeCache(f)
	var ce *scsi.CommandError
	switch {
	case err == nil:
		r.done(what, "the drive wrote its cache to the media")
	case errors.Is(err, scsi.ErrNotSCSI):
		r.skip(what, "not a SCSI device; the block device flush above is the flush it takes")
	case errors.As(err, &ce) && ce.Unsupported() && d.WriteCache == "write through":
		r.skip(what, "the drive has no such command and no write-back cache")
	case errors.As(err, &ce) && ce.Unsupported():
		return r.fail(what, fmt.Errorf("%w: the drive rejects the command, yet its cache is %q: data may still sit in it", err, d.WriteCache))
	default:
		return r.fail(what, err)
	}
	return nil
}

// allowRemoval unlocks the medium, as eject(1) does: the kernel locks a
// removable medium while its device is open, and sure holds it open, so a
// drive would refuse to eject it.
func allowRemoval(f *os.File, d device.Disk, r reporter) error {
	what := "SCSI PREVENT ALLOW MEDIUM REMOVAL (allow) " + d.Path
	err := scsi.AllowMediumRemoval(f)
	var ce *scsi.CommandError
	switch {
	case err == nil:
		r.done(what, "the drive unlocked its medium")
	case errors.Is(err, scsi.ErrNotSCSI):
		r.skip(what, "not a SCSI device")
	case errors.As(err, &ce) && ce.Unsupported():
		r.skip(what, "the drive has no lock: "+ce.Meaning())
	default:
		return r.fail(what, err)
	}
	return nil
}

// stopUnit stops the drive; with removable media it also ejects them.
func stopUnit(f *os.File, d device.Disk, r reporter) error {
	what := "SCSI START STOP UNIT (stop) " + d.Path
	done := "the drive stopped"
	if d.Removable {
		what = "SCSI START STOP UNIT (stop, eject) " + d.Path
		done = "the drive stopped and released its medium"
	}
	err := scsi.StartStopUnit(f, d.Removable)
	var ce *scsi.CommandError
	switch {
	case err == nil:
		r.done(what, done)
	case errors.Is(err, scsi.ErrNotSCSI):
		r.skip(what, "not a SCSI device")
	case errors.As(err, &ce) && ce.Unsupported():
		r.skip(what, "the drive does not implement it: "+ce.Meaning())
	default:
		return r.fail(what, err)
	}
	return nil
}

// goneTimeout bounds the wait for the kernel to drop the disk once its
// USB device is removed.
const goneTimeout = 30 * time.Second

// powerOff removes the drive's USB device, which cuts the power of its
// port, and waits for the disk to leave /sys/block; a drive elsewhere
// stays powered.
func powerOff(ctx context.Context, d device.Disk, r reporter) error {
	what := "power off " + d.Path
	usb := usbParent(d.SysPath)
	if usb == "" {
		what := d.Transport
		if what == "" {
			what = "unknown"
		}
		r.skip("power off "+d.Path, "not on USB (transport "+what+"): the kernel cannot cut its power; it is unmounted and flushed")
		return nil
	}
	if others := siblingsInUse(usb, d.Name); len(others) > 0 {
		return r.fail(what, fmt.Errorf("the USB device %s also carries %s: eject those first", filepath.Base(usb), strings.Join(others, ", ")))
	}
	remove := filepath.Join(usb, "remove")
	if err := os.WriteFile(remove, []byte("1"), 0); err != nil {
		return r.fail(what, err)
	}
	r.done(what, "USB device "+filepath.Base(usb)+" removed ("+remove+")")
	return waitGone(ctx, d, r)
}

// waitGone waits for the kernel to drop the disk after its power-off:
// only then has nothing more to say to it.
func waitGone(ctx context.Context, d device.Disk, r reporter) error {
	w := "wait for " + d.Path + " to leave"
	block := sysfs.DiskDir(d.Name)
	deadline := time.Now().Add(goneTimeout)
	for {
		_, err := os.Lstat(block)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			return r.fail(w, fmt.Errorf("%s is still there %v after its power-off", block, goneTimeout))
		}
		select {
		case <-ctx.Done():
			return r.fail(w, fmt.Errorf("interrupted while %s was still there: %w", block, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.done(w, d.Path+" is gone from "+sysfs.Disks)
	return nil
}

// usbParent finds the USB device (not interface) above a disk in sysfs:
// the nearest ancestor of the usb subsystem with a remove attribute.
func usbParent(sys string) string {
	if sys == "" {
		return ""
	}
	for dir := sys; dir != "/sys" && dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		sub, err := os.Readlink(filepath.Join(dir, "subsystem"))
		if err != nil || filepath.Base(sub) != "usb" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "remove")); err == nil {
			return dir
		}
	}
	return ""
}

// siblingsInUse lists the other disks of the same USB device (a card
// reader's slots) that are still mounted.
func siblingsInUse(usb, self string) []string {
	var out []string
	filepath.WalkDir(usb, func(path string, e os.DirEntry, err error) error {
		if err != nil || !e.IsDir() || filepath.Base(filepath.Dir(path)) != "block" {
			return nil
		}
		name := filepath.Base(path)
		if name == self {
			return filepath.SkipDir
		}
		if d, err := device.Resolve("/dev/" + name); err == nil && len(d.AllMounts()) > 0 {
			out = append(out, d.Path+" (mounted on "+d.AllMounts()[0].MountPoint+")")
		}
		return filepath.SkipDir
	})
	return out
}

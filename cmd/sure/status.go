package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/drivecache"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
	"github.com/sure-tools/sure/pagecache"
	"github.com/sure-tools/sure/verdict"
)

func newStatus() *cobra.Command {
	return &cobra.Command{
		Use:   "status PATH...",
		Short: "Show what is not yet on the media, and whether the device can be pulled",
		Long: `For each PATH (a file or a tree), show the bytes the kernel holds for it in
RAM: cached, dirty (not yet sent to the device) and under writeback (sent,
not yet acknowledged), from cachestat(2) (Linux 6.5 and newer). Then the
same for the whole file system holding PATH, and the answer to "can I pull
it now?".

The answer is yes only when all of these hold:
  - nothing of the file system is dirty or under writeback: every file on it
    and its block device are read with cachestat (the kernel's per-device
    figures in debugfs, shown where debugfs is mounted, are approximate and
    only shown);
  - 'sure sync' (or 'sure eject') flushed the drive's cache in this boot,
    and the drive has completed no write since (its write counter in
    /sys/block/DISK/stat is what it was right after that flush): a write
    the kernel finished may still sit in the drive's volatile cache, which
    no kernel figure shows;
  - nothing on the file system changed after that flush began (no change
    time is newer), since a change may still wait in the file system's
    journal without a dirty page;
  - writing the file system back just now (syncfs, as 'sync -f' does; it
    sends no cache flush) made the drive complete no write: an inode or a
    metadata buffer still dirty outside the files' pages, which neither
    cachestat nor a change time shows (a FAT file's times set back with
    touch -d), would have been written then. Where this user may not read
    the disk's page cache and syncfs does not write it back (the file
    system is on a partition, or FUSE), every device is written back
    (sync).
Otherwise the answer says what to run first: 'sure sync PATH' or 'sure eject'.
sure never mounts debugfs itself.

Exit status: 0 when the device can be pulled, 1 when it cannot or when sure
cannot tell, 2 for usage errors.`,
		Args: minArgs(1, "needs a path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := quote.Writer(cmd.OutOrStdout())
			safe := true
			seen := map[string]bool{}
			for _, p := range args {
				ok, err := status(w, p, seen)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "sure: status: %s\n", quote.Line(err.Error()))
					safe = false
					continue
				}
				safe = safe && ok
			}
			if !safe {
				return exitError{exitFailed}
			}
			return nil
		},
	}
}

// status prints the figures of path and, once per file system, the
// answer to "can I pull it now?". ok is that answer.
func status(w io.Writer, path string, seen map[string]bool) (ok bool, err error) {
	if _, err := os.Stat(path); err != nil {
		return false, fmt.Errorf("cannot stat %s: %s", quote.Name(path), errnoText(err))
	}
	m, err := fsinfo.ForPath(path)
	if err != nil {
		return false, err
	}
	if fsinfo.CapsOf(m).InRAM {
		// Flushing cannot help there, and walking /proc or /sys would
		// only count files the kernel makes up.
		if !seen[m.MountPoint] {
			seen[m.MountPoint] = true
			v := verdict.CanPull(verdict.PullFacts{MountPoint: m.MountPoint, FSType: m.FSType, InRAM: true})
			fmt.Fprintf(w, "can I pull it now? %s\n", v.Answer)
		}
		return false, nil
	}
	t, err := pagecache.TreeOf(path)
	if errors.Is(err, pagecache.ErrNoCachestat) || errors.Is(err, pagecache.ErrUnsupported) {
		fmt.Fprintf(w, "%s: %s\n", path, pagecache.Explain(err))
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fmt.Fprintf(w, "%s: %s in %s: %s\n", path, figures(t.Stat), plural(t.Files, "file"), unreadable(t))
	if seen[m.MountPoint] {
		return true, nil // answered with the path before it
	}
	seen[m.MountPoint] = true
	lines, v := judge(m, t, path)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "can I pull it now? %s\n", v.Answer)
	return v.Safe, nil
}

func figures(s pagecache.Stat) string {
	return fmt.Sprintf("%s dirty, %s under writeback, %s cached", units.Bytes(s.Dirty), units.Bytes(s.Writeback), units.Bytes(s.Cached))
}

func unreadable(t pagecache.Tree) string {
	if t.Unreadable == 0 {
		return "all read"
	}
	return fmt.Sprintf("%s could not be read (%s), so these are lower bounds", plural(t.Unreadable, "file"), quote.Line(fmt.Sprint(t.FirstErr)))
}

// judge gathers the facts about the file system m, prints its figures into
// lines and asks verdict.CanPull. t is the tree of path, reused when path
// is the mount point.
func judge(m fsinfo.Mount, t pagecache.Tree, path string) (lines []string, v verdict.Pull) {
	f := verdict.PullFacts{MountPoint: m.MountPoint, CtimeSlack: pagecache.CtimeSlack()}
	where := quote.Line(fmt.Sprintf("%s (%s on %s)", m.MountPoint, m.FSType, m.Source))

	// The whole file system: every file on it, and the device's own page
	// cache (metadata buffers; a FUSE server's writes).
	whole := t
	if abs, err := absClean(path); err != nil || abs != m.MountPoint {
		var err error
		whole, err = pagecache.TreeOf(m.MountPoint)
		if err != nil {
			f.TreeUnread = pagecache.Explain(err)
			return nil, verdict.CanPull(f)
		}
	}
	if whole.Unreadable > 0 {
		f.Doubts = append(f.Doubts, fmt.Sprintf("%s on it could not be read (%v)", plural(whole.Unreadable, "file"), whole.FirstErr))
	}
	fsStat := whole.Stat
	sources := []string{"cachestat of every file under " + m.MountPoint}
	disk, diskErr := drivecache.DiskFor(m)
	if diskErr == nil {
		ds, err := pagecache.Device(disk.Path)
		if err == nil {
			fsStat.Add(ds)
			sources = append(sources, "of "+disk.Path)
		} else {
			f.DeviceUnread = err
		}
	}
	lines = append(lines, fmt.Sprintf("%s: %s dirty, %s under writeback (%s)", where,
		units.Bytes(fsStat.Dirty), units.Bytes(fsStat.Writeback), strings.Join(sources, ", ")))
	// The bdi figures are approximate (see pagecache.BDI): shown, never
	// judged by.
	var bdi []string
	for _, n := range pagecache.BDINames(m) {
		if b, err := pagecache.BDIStats(n); err == nil {
			bdi = append(bdi, fmt.Sprintf("bdi %s: about %s dirty, %s under writeback, %d dirty inodes", n, units.Bytes(b.Dirty()), units.Bytes(b.Writeback()), b.DirtyInodes()))
		}
	}
	if len(bdi) > 0 {
		lines = append(lines, strings.Join(bdi, "; ")+" (debugfs, approximate)")
	}
	if sys, err := pagecache.Meminfo(); err == nil {
		lines = append(lines, fmt.Sprintf("whole system: %s dirty, %s under writeback (/proc/meminfo)", units.Bytes(sys.Dirty), units.Bytes(sys.Writeback)))
	}

	f.Dirty, f.Writeback = fsStat.Dirty, fsStat.Writeback
	f.DiskErr, f.Disk = diskErr, disk.Path
	f.NewestChange = whole.NewestC
	// The drive is asked only when its answer can matter, as before.
	if fsStat.Pending() == 0 && diskErr == nil {
		state, rec, err := drivecache.Check(disk)
		f.Drive, f.DriveErr = state, err
		f.FlushStart, f.FlushMade = rec.Start, rec.Made
	}
	if f.NeedsWriteBack() {
		f.WriteBack = writeBack(m, disk, f.DeviceUnread != nil)
		lines = append(lines, "write-back check: "+quote.Line(wbLine(f.WriteBack)))
		// Once more: whatever the write-back sent shows in the counters.
		state, rec, err := drivecache.Check(disk)
		f.Drive, f.DriveErr = state, err
		f.FlushStart, f.FlushMade = rec.Start, rec.Made
	}
	return lines, verdict.CanPull(f)
}

// writeBack writes back the file system m (and, where the page cache of
// its disk could not be read and syncfs would not reach it, every device)
// and says what the disk completed meanwhile.
func writeBack(m fsinfo.Mount, disk drivecache.Disk, deviceUnread bool) verdict.WriteBack {
	// syncfs writes back the file system's own block device; that is the
	// disk only when the file system fills it and is the kernel's own.
	onDisk := !m.IsFUSE() && m.Major == disk.Major && m.Minor == disk.Minor
	all := deviceUnread && !onDisk
	wb := verdict.WriteBack{Done: true, What: "syncfs of " + m.MountPoint, CoversDevice: onDisk || all}
	if all {
		wb.What += " and sync"
	}
	wb.Sectors, wb.Err = drivecache.WriteBack(disk, m.MountPoint, all)
	return wb
}

func wbLine(wb verdict.WriteBack) string {
	if wb.Err != nil {
		return fmt.Sprintf("%s failed: %v", wb.What, wb.Err)
	}
	return fmt.Sprintf("%s just now sent the drive %s", wb.What, units.Bytes(int64(wb.Sectors)*512))
}

func absClean(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(a)
}

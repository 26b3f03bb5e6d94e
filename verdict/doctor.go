package verdict

import (
	"fmt"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/fsinfo"
)

// Diagnosis is sure doctor's judgement of a device chain: what sure does
// there, and what no software on the machine can promise.
type Diagnosis struct {
	Plan   []string
	Limits []string
}

// Diagnose judges the chain a write to c.Path goes through.
func Diagnose(c device.Chain) Diagnosis {
	return Diagnosis{Plan: plan(c), Limits: limits(c)}
}

// plan says in words what sure does on this file system.
func plan(c device.Chain) []string {
	p := []string{"each file is written under a temporary name (.sure-<16 hex>.tmp, created exclusively) in its final directory and renamed onto its name only after its data is durable, so the name always holds the old or the new complete content"}
	switch {
	case c.Device == "" && !c.Mount.IsFUSE():
		p = append(p, fmt.Sprintf("%s (%s) has no block device under it: a flush reaches no media; sure still flushes, but durability there means what %s makes of it (tmpfs: nothing survives a reboot)", c.Mount.MountPoint, c.Mount.FSType, c.Mount.FSType))
	case c.Barrier == fsinfo.BarrierSyncFS:
		p = append(p, fmt.Sprintf("files are written in batches: one syncfs of %s before the renames (the data reaches the media) and one after (the renames and new directories do); a file is reported durable only after the second", c.Mount.MountPoint))
	case c.Barrier == fsinfo.BarrierSyncFSFlush:
		p = append(p, fmt.Sprintf("files are written in batches: before the renames and after them, one syncfs of %s writes everything and reports errors, then an fsync of a directory on it flushes the drive's cache, since syncfs on %s does not; a file is reported durable only after the second flush, and neither needs access to the device", c.Mount.MountPoint, c.Mount.FSType))
	case c.Barrier == fsinfo.BarrierServerFsync:
		p = append(p, fmt.Sprintf("syncfs does not reach a FUSE server, but this one (%s) writes everything it holds and flushes its device on every fsync: files are written in batches, with one fsync of a directory on %s before the renames (the data reaches the media) and one after (the renames and new directories do), and one right after each rename onto an existing file, whose freed clusters the server gives to the next file written; a file is reported durable only after the second", c.Mount.FSType, c.Mount.MountPoint))
	case c.Mount.IsFUSE() && c.Device != "":
		p = append(p, fmt.Sprintf("syncfs does not reach a FUSE server, so each file is flushed with fsync as it is written (in parallel), each changed directory after the renames, and at each barrier the block device %s itself is flushed, which is the flush that reaches the media even where the server ignores fsync", c.Device))
	case c.Mount.IsFUSE():
		p = append(p, "syncfs does not reach a FUSE server and no block device was found under this one: each file and directory is flushed with fsync, and durability rests on the server implementing fsync")
	default:
		p = append(p, "each file and each changed directory is flushed with fsync: "+c.BarrierReason)
	}
	p = append(p, "large files are written behind in 8 MiB windows (started, waited for, dropped from the page cache), so about two windows are dirty at any time whatever vm.dirty_ratio says, and progress counts only data the device has taken (L1)")
	p = append(p, "a failed flush is final: the files it covers are reported as failed, their temporary files removed and their sources kept; sure never retries a failed flush, since a later success would not bring the lost writes back")
	if c.Disk != nil {
		switch {
		case c.Disk.Transport == "loop":
			p = append(p, fmt.Sprintf("sure eject %s flushes and unmounts it and detaches the loop device; its image file then holds everything reported durable", c.Disk.Path))
		case c.Disk.Removable:
			p = append(p, fmt.Sprintf("sure eject %s flushes, unmounts and powers the drive off so it can be pulled", c.Disk.Path))
		default:
			p = append(p, fmt.Sprintf("%s is not removable: sure writes here durably, but it is not a stick to eject", c.Disk.Path))
		}
	}
	return p
}

// limits says what no software on this machine can promise here.
func limits(c device.Chain) []string {
	l := []string{
		"a flush is a request: a drive (or USB bridge) that acknowledges a cache flush it did not perform loses the data on power loss anyway, and nothing on the host can tell; only a power-cut test of that very drive shows whether it keeps its word",
		"reading back (verify) proves the drive returns the data, not that it left the drive's volatile cache: the read may be served from that cache",
		"a drive pulled before sure prints its final line holds the files reported durable so far, not the others",
	}
	if c.Disk != nil && c.Disk.WriteCache == "write through" && c.Disk.Transport != "loop" {
		l = append(l, fmt.Sprintf("%s reports no volatile write cache, so the kernel sends it no flush: that is the drive's own claim", c.Disk.Path))
	}
	return l
}

// Package verdict holds sure's judgements as pure functions of gathered
// facts: whether a file system can be pulled now (sure status) and what a
// write goes through there (sure doctor). The command line gathers the
// facts and prints; everything here is decided without I/O, so each branch
// has a table test.
package verdict

import (
	"fmt"
	"strings"
	"time"

	"github.com/sure-tools/sure/drivecache"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
)

// PullFacts is what sure status knows about one file system.
type PullFacts struct {
	MountPoint string
	FSType     string // as the kernel names it
	// InRAM: no drive holds the file system (see fsinfo.Caps): nothing
	// else was gathered.
	InRAM bool
	// TreeUnread, when set, says why the files of the whole file system
	// could not be read: nothing else was gathered.
	TreeUnread string
	Dirty      int64 // of every file on it and of its block device
	Writeback  int64
	// Doubts are gaps in the figures: files that could not be read, so
	// the figures are lower bounds.
	Doubts []string
	// DeviceUnread is why the page cache of Disk (the file system's
	// metadata buffers) could not be read: only its opener may. A
	// write-back that covered that cache stands in for it.
	DeviceUnread error
	// DiskErr is why no disk was found under the file system; Disk is its
	// path otherwise.
	DiskErr error
	Disk    string
	// The drive's state against sure's last flush record, and why it could
	// not be read.
	Drive    drivecache.State
	DriveErr error
	// FlushStart and FlushMade are when the recorded flush began and ended.
	FlushStart, FlushMade time.Time
	// NewestChange is the latest change time of anything on the file system;
	// CtimeSlack how far change times may lag the clock.
	NewestChange time.Time
	CtimeSlack   time.Duration
	// WriteBack is the last check, made only when every other fact
	// allows a yes: what the file system still held dirty outside its
	// files' pages (inodes, metadata buffers, a journal) reaches the
	// drive then, where its write counter shows it.
	WriteBack WriteBack
}

// WriteBack is what writing back the file system just now showed.
type WriteBack struct {
	Done bool
	What string // what was written back, in words
	Err  error
	// Sectors is what the drive completed meanwhile: 0 means nothing
	// was left dirty when it began.
	Sectors uint64
	// CoversDevice: the disk's own page cache was written back too, so
	// not being able to read it leaves no gap.
	CoversDevice bool
}

// Pull is the answer to "can I pull it now?".
type Pull struct {
	Safe   bool
	Answer string // starts with yes, no, flush first or cannot tell
}

// CanPull decides whether the file system the facts describe can be
// pulled: nothing pending in RAM, a drive flush by sure since which the
// drive wrote nothing, and no change newer than that flush.
func CanPull(f PullFacts) Pull {
	run := fmt.Sprintf("; run 'sure sync %s' or 'sure eject'", f.MountPoint)
	if f.InRAM {
		return Pull{Answer: fmt.Sprintf("nothing to pull: %s (%s) is on no drive; its files live in RAM or are made up by the kernel", quote.Name(f.MountPoint), f.FSType)}
	}
	if f.TreeUnread != "" {
		return Pull{Answer: "cannot tell: " + f.TreeUnread + run}
	}
	pending := f.Dirty + f.Writeback
	switch {
	case pending > 0:
		return Pull{Answer: fmt.Sprintf("no: %s is not yet on the device%s", units.Bytes(pending), run)}
	case f.DiskErr != nil:
		return Pull{Answer: fmt.Sprintf("cannot tell: %v%s", f.DiskErr, run)}
	case f.DriveErr != nil:
		return Pull{Answer: fmt.Sprintf("cannot tell: %v%s", f.DriveErr, run)}
	case f.Drive == drivecache.Unknown:
		return Pull{Answer: "flush first: sure has not flushed " + f.Disk + " since it appeared, so written data may still be in the drive's volatile cache" + run}
	case f.WriteBack.Done && f.WriteBack.Err == nil && f.WriteBack.Sectors > 0:
		return Pull{Answer: fmt.Sprintf("no: %s sent %s %s it still held dirty (inodes or metadata outside the files' pages), not yet flushed from the drive's volatile cache%s",
			f.WriteBack.What, f.Disk, units.Bytes(int64(f.WriteBack.Sectors)*512), run)}
	case f.Drive == drivecache.WrittenSince:
		return Pull{Answer: "no: " + f.Disk + " completed writes after its last flush; they may still be in the drive's volatile cache" + run}
	// Change times lag the clock by up to a tick: a change right after the
	// flush began may carry a time a little before it.
	case f.NewestChange.After(f.FlushStart.Add(-f.CtimeSlack)):
		return Pull{Answer: fmt.Sprintf("flush first: something on %s changed at %s, after the last flush began at %s%s",
			f.MountPoint, f.NewestChange.Format("15:04:05.000"), f.FlushStart.Format("15:04:05.000"), run)}
	case len(f.Doubts) > 0:
		return Pull{Answer: "cannot tell: " + strings.Join(f.Doubts, "; ") + run}
	case f.DeviceUnread != nil && !(f.WriteBack.Done && f.WriteBack.CoversDevice):
		return Pull{Answer: fmt.Sprintf("cannot tell: the page cache of %s cannot be read (%v)%s", f.Disk, f.DeviceUnread, run)}
	case !f.WriteBack.Done:
		return Pull{Answer: "cannot tell: the file system was not written back, so inodes or metadata it holds dirty outside its files' pages would not show" + run}
	case f.WriteBack.Err != nil:
		return Pull{Answer: fmt.Sprintf("cannot tell: %v%s", f.WriteBack.Err, run)}
	}
	return Pull{Safe: true, Answer: fmt.Sprintf("yes: nothing is dirty or under writeback (%s sent the drive nothing), and %s has completed no write since sure flushed its cache at %s",
		f.WriteBack.What, f.Disk, f.FlushMade.Format("15:04:05"))}
}

// NeedsWriteBack reports whether the write-back check can still change
// the answer: every other fact allows a yes. It is a side effect (it
// sends dirty data to the drive), so it is made only then.
func (f PullFacts) NeedsWriteBack() bool {
	f.WriteBack = WriteBack{Done: true, CoversDevice: true}
	return CanPull(f).Safe
}

package verdict

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/drivecache"
)

func TestCanPull(t *testing.T) {
	flushStart := time.Date(2026, 12, 1, 10, 0, 0, 0, time.Local)
	flushMade := flushStart.Add(2 * time.Second)
	slack := 4 * time.Millisecond
	// clean is a file system nothing can be said against: every other case
	// changes one fact of it.
	clean := PullFacts{
		MountPoint: "/media/stick", Disk: "/dev/sdb", Drive: drivecache.Flushed,
		FlushStart: flushStart, FlushMade: flushMade,
		NewestChange: flushStart.Add(-time.Minute), CtimeSlack: slack,
	}
	with := func(change func(*PullFacts)) PullFacts {
		f := clean
		change(&f)
		return f
	}
	run := "; run 'sure sync /media/stick' or 'sure eject'"
	for _, c := range []struct {
		name   string
		facts  PullFacts
		safe   bool
		answer string
	}{
		{"clean", clean, true, "yes: nothing is dirty or under writeback, and /dev/sdb has completed no write since sure flushed its cache at 10:00:02"},
		{"tree unreadable", with(func(f *PullFacts) { f.TreeUnread = "per-file dirty bytes need cachestat(2)" }), false,
			"cannot tell: per-file dirty bytes need cachestat(2)" + run},
		{"dirty pages", with(func(f *PullFacts) { f.Dirty = 3 << 20 }), false, "no: 3.0 MiB is not yet on the device" + run},
		{"writeback only", with(func(f *PullFacts) { f.Writeback = 4096 }), false, "no: 4.0 KiB is not yet on the device" + run},
		{"dirty and writeback add up", with(func(f *PullFacts) { f.Dirty, f.Writeback = 1<<20, 1<<20 }), false, "no: 2.0 MiB is not yet on the device" + run},
		{"dirty before the disk is known", with(func(f *PullFacts) { f.Dirty, f.DiskErr = 1, errors.New("no disk") }), false, "no: 1 B is not yet on the device" + run},
		{"no disk found", with(func(f *PullFacts) { f.DiskErr = errors.New("no block device under /media/stick") }), false,
			"cannot tell: no block device under /media/stick" + run},
		{"drive unreadable", with(func(f *PullFacts) { f.DriveErr = errors.New("reading /sys/block/sdb/stat: EIO") }), false,
			"cannot tell: reading /sys/block/sdb/stat: EIO" + run},
		{"no flush record", with(func(f *PullFacts) { f.Drive = drivecache.Unknown }), false,
			"flush first: sure has not flushed /dev/sdb since it appeared, so written data may still be in the drive's volatile cache" + run},
		{"drive wrote since the flush", with(func(f *PullFacts) { f.Drive = drivecache.WrittenSince }), false,
			"no: /dev/sdb completed writes after its last flush; they may still be in the drive's volatile cache" + run},
		{"ctime newer than the flush", with(func(f *PullFacts) { f.NewestChange = flushStart.Add(time.Second) }), false,
			"flush first: something on /media/stick changed at 10:00:01.000, after the last flush began at 10:00:00.000" + run},
		{"ctime within the slack before the flush", with(func(f *PullFacts) { f.NewestChange = flushStart.Add(-slack / 2) }), false,
			"flush first: something on /media/stick changed at 09:59:59.998, after the last flush began at 10:00:00.000" + run},
		{"ctime just past the slack", with(func(f *PullFacts) { f.NewestChange = flushStart.Add(-slack) }), true,
			"yes: nothing is dirty or under writeback, and /dev/sdb has completed no write since sure flushed its cache at 10:00:02"},
		{"files unreadable", with(func(f *PullFacts) { f.Doubts = []string{"2 files on it could not be read (EACCES)"} }), false,
			"cannot tell: 2 files on it could not be read (EACCES)" + run},
		{"device cache unreadable too", with(func(f *PullFacts) {
			f.Doubts = []string{"1 file on it could not be read (EACCES)", "the page cache of /dev/sdb cannot be read (EPERM)"}
		}), false, "cannot tell: 1 file on it could not be read (EACCES); the page cache of /dev/sdb cannot be read (EPERM)" + run},
		{"a change outweighs doubts", with(func(f *PullFacts) {
			f.NewestChange, f.Doubts = flushMade, []string{"x"}
		}), false, "flush first: something on /media/stick changed at 10:00:02.000, after the last flush began at 10:00:00.000" + run},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := CanPull(c.facts)
			if got.Safe != c.safe || got.Answer != c.answer {
				t.Errorf("CanPull = %v %q\nwant      %v %q", got.Safe, got.Answer, c.safe, c.answer)
			}
			if got.Safe != strings.HasPrefix(got.Answer, "yes:") {
				t.Errorf("safe %v but the answer is %q", got.Safe, got.Answer)
			}
		})
	}
}

func TestInRAM(t *testing.T) {
	for fsType, want := range map[string]bool{
		"tmpfs": true, "ramfs": true, "proc": true, "sysfs": true, "devtmpfs": true, "cgroup2": true,
		"debugfs": true, "fusectl": true, "autofs": true,
		"ext4": false, "vfat": false, "exfat": false, "fuseblk": false, "fuse.exfat": false, "btrfs": false, "": false,
	} {
		if got := InRAM(fsType); got != want {
			t.Errorf("InRAM(%q) = %v, want %v", fsType, got, want)
		}
	}
}

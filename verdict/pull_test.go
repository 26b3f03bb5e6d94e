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
		WriteBack: WriteBack{Done: true, What: "syncfs of /media/stick"},
	}
	with := func(change func(*PullFacts)) PullFacts {
		f := clean
		change(&f)
		return f
	}
	run := "; run 'sure sync /media/stick' or 'sure eject'"
	yes := "yes: nothing is dirty or under writeback (syncfs of /media/stick sent the drive nothing), and /dev/sdb has completed no write since sure flushed its cache at 10:00:02"
	for _, c := range []struct {
		name   string
		facts  PullFacts
		safe   bool
		answer string
	}{
		{"clean", clean, true, yes},
		{"in RAM", PullFacts{MountPoint: "/dev/shm", FSType: "tmpfs", InRAM: true}, false,
			"nothing to pull: '/dev/shm' (tmpfs) is on no drive; its files live in RAM or are made up by the kernel"},
		{"in RAM, whatever else is known", with(func(f *PullFacts) { f.FSType, f.InRAM = "tmpfs", true }), false,
			"nothing to pull: '/media/stick' (tmpfs) is on no drive; its files live in RAM or are made up by the kernel"},
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
			yes},
		{"files unreadable", with(func(f *PullFacts) { f.Doubts = []string{"2 files on it could not be read (EACCES)"} }), false,
			"cannot tell: 2 files on it could not be read (EACCES)" + run},
		{"files and device cache unreadable", with(func(f *PullFacts) {
			f.Doubts, f.DeviceUnread = []string{"1 file on it could not be read (EACCES)"}, errors.New("permission denied")
		}), false, "cannot tell: 1 file on it could not be read (EACCES)" + run},
		{"device cache unreadable, the write-back did not cover it", with(func(f *PullFacts) { f.DeviceUnread = errors.New("permission denied") }), false,
			"cannot tell: the page cache of /dev/sdb cannot be read (permission denied)" + run},
		{"device cache unreadable, the write-back covered it", with(func(f *PullFacts) {
			f.DeviceUnread, f.WriteBack.CoversDevice = errors.New("permission denied"), true
		}), true, yes},
		{"device cache unreadable, a covering write-back sent something", with(func(f *PullFacts) {
			f.DeviceUnread, f.WriteBack.CoversDevice, f.WriteBack.Sectors = errors.New("permission denied"), true, 8
		}), false, "no: syncfs of /media/stick sent /dev/sdb 4.0 KiB it still held dirty (inodes or metadata outside the files' pages), not yet flushed from the drive's volatile cache" + run},
		{"no write-back made", with(func(f *PullFacts) { f.WriteBack = WriteBack{} }), false,
			"cannot tell: the file system was not written back, so inodes or metadata it holds dirty outside its files' pages would not show" + run},
		{"write-back failed", with(func(f *PullFacts) { f.WriteBack.Err = errors.New("syncfs /media/stick: input/output error") }), false,
			"cannot tell: syncfs /media/stick: input/output error" + run},
		{"write-back sent a dirty inode", with(func(f *PullFacts) { f.WriteBack.Sectors, f.Drive = 1, drivecache.WrittenSince }), false,
			"no: syncfs of /media/stick sent /dev/sdb 512 B it still held dirty (inodes or metadata outside the files' pages), not yet flushed from the drive's volatile cache" + run},
		{"write-back sent nothing, the drive wrote before it", with(func(f *PullFacts) { f.Drive = drivecache.WrittenSince }), false,
			"no: /dev/sdb completed writes after its last flush; they may still be in the drive's volatile cache" + run},
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

// The write-back check is made only when it alone stands between the
// facts and a yes: it sends dirty data to the drive.
func TestNeedsWriteBack(t *testing.T) {
	clean := PullFacts{MountPoint: "/media/stick", Disk: "/dev/sdb", Drive: drivecache.Flushed,
		FlushStart: time.Now(), NewestChange: time.Now().Add(-time.Hour)}
	for _, c := range []struct {
		name  string
		facts PullFacts
		want  bool
	}{
		{"clean", clean, true},
		{"device cache unreadable", func() PullFacts { f := clean; f.DeviceUnread = errors.New("EPERM"); return f }(), true},
		{"dirty", func() PullFacts { f := clean; f.Dirty = 1; return f }(), false},
		{"no record", func() PullFacts { f := clean; f.Drive = drivecache.Unknown; return f }(), false},
		{"written since", func() PullFacts { f := clean; f.Drive = drivecache.WrittenSince; return f }(), false},
		{"changed since", func() PullFacts { f := clean; f.NewestChange = time.Now().Add(time.Hour); return f }(), false},
		{"files unreadable", func() PullFacts { f := clean; f.Doubts = []string{"x"}; return f }(), false},
	} {
		if got := c.facts.NeedsWriteBack(); got != c.want {
			t.Errorf("%s: NeedsWriteBack = %v, want %v", c.name, got, c.want)
		}
	}
}

package drivecache

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/sysfs"
)

// DiskFor finds the whole disk under the file system mounted as m, as
// device.MountDevice finds its device: for a FUSE file system the disk
// under its server.
func DiskFor(m fsinfo.Mount) (Disk, error) {
	dev, ok := device.MountDevice(m)
	switch {
	case !ok && m.IsFUSE():
		return Disk{}, &os.PathError{Op: "find disk", Path: m.MountPoint, Err: fmt.Errorf("FUSE file system with no block device under it")}
	case !ok:
		return Disk{}, &os.PathError{Op: "find disk", Path: m.MountPoint, Err: fmt.Errorf("no block device under it (%s)", m.FSType)}
	}
	return diskOfPath(dev)
}

func diskOfPath(dev string) (Disk, error) {
	sys, err := sysfs.DevDirOf(dev)
	if err != nil {
		return Disk{}, err
	}
	return diskOfSys(sys)
}

// diskOfSys resolves a /sys/dev/block entry to its whole disk: writes and
// flushes are both counted there (a flush only there).
func diskOfSys(sys string) (Disk, error) {
	real, err := sysfs.Disk(sys)
	if err != nil {
		return Disk{}, err
	}
	dev, err := sysfs.Dev(real)
	if err != nil {
		return Disk{}, err
	}
	name := filepath.Base(real)
	d := Disk{Device: sysfs.Device{Name: name, Path: "/dev/" + name, Major: unix.Major(dev), Minor: unix.Minor(dev)}}
	d.DiskSeq = sysfs.Str(real, "diskseq")
	d.WriteThrough = sysfs.Str(real, "queue/write_cache") == "write through"
	return d, nil
}

// Read reads the disk's counters from /sys/dev/block/MAJ:MIN/stat.
func Read(d Disk) (Counters, error) {
	st, err := sysfs.ReadStat(filepath.Join(sysfs.DevBlock, d.ID()))
	if err != nil {
		return Counters{}, err
	}
	return countersOf(st), nil
}

func countersOf(st sysfs.Stat) Counters {
	c := Counters{Writes: st[sysfs.WriteIOs], WriteSectors: st[sysfs.WriteSectors]}
	c.Flushes, c.HasFlushes = st.Flushes()
	return c
}

// recordBase is where records are kept, set by tests; "" means the
// runtime directory of the boot.
var recordBase string

// rootRecords is where root's records are kept. A user's status reads
// them too: a flush made by root (sudo sure cp) covers the drive for
// everyone, and trusted still checks that root wrote them.
var rootRecords = "/run/sure/flushed"

func recordDir() (string, error) {
	if recordBase != "" {
		return filepath.Join(recordBase, "sure", "flushed"), nil
	}
	if os.Geteuid() == 0 {
		return rootRecords, nil
	}
	// Only a directory that is the user's own: a record another user
	// could write would let them make sure say "safe".
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "sure", "flushed"), nil
	}
	return "", fmt.Errorf("no runtime directory to keep flush records in ($XDG_RUNTIME_DIR is not set)")
}

// trusted checks a record, or a directory of records and the one above
// it, before it is believed or written: each must be itself (no link),
// owned by root or by this user, and writable by no one else. A record
// another user could write or replace would let them make sure say
// "safe to pull".
func trusted(path string, dir bool) error {
	paths := []string{path}
	if dir {
		paths = []string{filepath.Dir(path), path}
	}
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		kind, want := st.Mode&unix.S_IFMT, uint32(unix.S_IFREG)
		if p != path || dir {
			want = unix.S_IFDIR
		}
		switch {
		case kind != want:
			return fmt.Errorf("flush record %s is not a plain %s; not trusted", p, map[bool]string{true: "directory", false: "file"}[want == unix.S_IFDIR])
		case st.Uid != 0 && int(st.Uid) != os.Geteuid():
			return fmt.Errorf("flush record %s belongs to user %d; not trusted", p, st.Uid)
		case st.Mode&0o022 != 0:
			return fmt.Errorf("flush record %s can be written by other users (mode %04o); not trusted", p, st.Mode&0o7777)
		}
	}
	return nil
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

func recordPath(d Disk) (string, error) {
	dir, err := recordDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, d.ID()), nil
}

// MarkFlushed is called right after a flush of the disk's file system
// succeeded that started at start. It reads the counters, flushes the
// drive's cache once more with flushDrive (which must send a cache flush
// and fail if it fails), reads them again, and records them when no write
// completed in between: every write counted then was completed before a
// flush that succeeded.
func MarkFlushed(d Disk, start time.Time, flushDrive func() error) error {
	before, err := Read(d)
	if err != nil {
		return err
	}
	if err := flushDrive(); err != nil {
		return err
	}
	after, err := Read(d)
	if err != nil {
		return err
	}
	// Sectors, not requests: the kernel counts an empty cache flush as a
	// write request too.
	if after.WriteSectors != before.WriteSectors {
		return ErrNotRecorded
	}
	// Proof that the flush reached the drive, where the kernel counts
	// flushes and the drive has a cache to flush.
	if after.HasFlushes && !d.WriteThrough && after.Flushes == before.Flushes {
		return fmt.Errorf("%s: no cache flush reached the drive: %w", d.Path, ErrNotRecorded)
	}
	r := Record{BootID: bootID(), DiskSeq: d.DiskSeq, Writes: after.Writes,
		WriteSectors: after.WriteSectors, Flushes: after.Flushes, Start: start, Made: time.Now()}
	return save(d, r)
}

func save(d Disk, r Record) error {
	path, err := recordPath(d)
	if err != nil {
		return err
	}
	// Readable by all, so that status can answer any user; writable by
	// the owner alone.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := trusted(filepath.Dir(path), true); err != nil {
		return err
	}
	b, _ := json.Marshal(r)
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Last returns the disk's record, if one was made in this boot for the
// medium the device number now holds: the newer of this user's and root's.
func Last(d Disk) (Record, bool) {
	var dirs []string
	if own, err := recordDir(); err == nil {
		dirs = append(dirs, own)
	}
	if len(dirs) == 0 || dirs[0] != rootRecords {
		dirs = append(dirs, rootRecords)
	}
	var best Record
	found := false
	for _, dir := range dirs {
		if r, ok := readRecord(d, filepath.Join(dir, d.ID())); ok && (!found || r.Made.After(best.Made)) {
			best, found = r, true
		}
	}
	return best, found
}

func readRecord(d Disk, path string) (Record, bool) {
	if trusted(filepath.Dir(path), true) != nil || trusted(path, false) != nil {
		return Record{}, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Record{}, false
	}
	var r Record
	if json.Unmarshal(b, &r) != nil || r.BootID != bootID() || r.DiskSeq != d.DiskSeq {
		return Record{}, false
	}
	return r, true
}

// Check compares the disk's counters now with its last record.
func Check(d Disk) (State, Record, error) {
	r, ok := Last(d)
	if !ok {
		return Unknown, r, nil
	}
	c, err := Read(d)
	if err != nil {
		return Unknown, r, err
	}
	// Counters only grow while the device lives; smaller ones mean
	// another device under the same number.
	if c.Writes < r.Writes || c.WriteSectors < r.WriteSectors {
		return Unknown, r, nil
	}
	if c.WriteSectors != r.WriteSectors {
		return WrittenSince, r, nil
	}
	return Flushed, r, nil
}

// WriteBack writes back what the file system mounted at mountPoint holds
// dirty (syncfs: its files, its inodes, its metadata buffers, a journal
// commit), and with everyDevice the page cache of every open block device
// too (sync(2)), then returns how many sectors the disk completed
// meanwhile. The kernel counts a write's sectors when it completes,
// failed or not, before it wakes the waiter: 0 means the file system held
// nothing dirty for the disk when the call began. No root is needed.
func WriteBack(d Disk, mountPoint string, everyDevice bool) (uint64, error) {
	before, err := Read(d)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Open(mountPoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: mountPoint, Err: err}
	}
	err = unix.Syncfs(fd)
	unix.Close(fd)
	if err != nil {
		return 0, &os.PathError{Op: "syncfs", Path: mountPoint, Err: err}
	}
	if everyDevice {
		unix.Sync()
	}
	after, err := Read(d)
	if err != nil {
		return 0, err
	}
	if after.WriteSectors < before.WriteSectors {
		return 0, fmt.Errorf("%s: write counter went back from %d to %d sectors: another device took its number", d.Path, before.WriteSectors, after.WriteSectors)
	}
	return after.WriteSectors - before.WriteSectors, nil
}

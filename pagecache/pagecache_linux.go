package pagecache

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/sysfs"
)

var pageSize = int64(os.Getpagesize())

// File reports the page cache of the file at path. Opening it does not
// change its access time, and a FIFO or device does not block it.
func File(path string) (Stat, error) {
	fd, err := openNoAtime(unix.AT_FDCWD, path, unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return Stat{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	return fdStat(fd, path)
}

// Device reports the page cache of a block device: what the file systems
// on it keep as buffers (ext4's metadata) and what a FUSE server such as
// exfat-fuse wrote to it. Opening a block device needs root (or the disk
// group).
func Device(dev string) (Stat, error) {
	return File(dev)
}

// openNoAtime opens name read-only without updating its access time where
// the caller may ask for that (owner or root), else plainly: a status
// query must not itself dirty the file system it reports on.
func openNoAtime(dirfd int, name string, flags int) (int, error) {
	flags |= unix.O_RDONLY | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, name, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	return fd, err
}

func fdStat(fd int, name string) (Stat, error) {
	var cs unix.Cachestat_t
	// Len 0 means to the end of the file.
	if err := unix.Cachestat(uint(fd), &unix.CachestatRange{}, &cs, 0); err != nil {
		return Stat{}, cachestatError(name, err)
	}
	return Stat{
		Cached:    int64(cs.Cache) * pageSize,
		Dirty:     int64(cs.Dirty) * pageSize,
		Writeback: int64(cs.Writeback) * pageSize,
	}, nil
}

// cachestatError names the file and, for a kernel without the call, says
// so in a way errors.Is(err, ErrNoCachestat) recognizes.
func cachestatError(name string, err error) error {
	pe := &os.PathError{Op: "cachestat", Path: name, Err: err}
	if err == unix.ENOSYS {
		return fmt.Errorf("%w: %w", ErrNoCachestat, pe)
	}
	return pe
}

func kernelRelease() string {
	rel, _, _ := fsinfo.Kernel()
	return rel
}

// TreeOf sums the page cache of every regular file and directory under
// root (root itself may be a file). It stays on root's file system and
// follows no symlink. Files it cannot open are counted in Unreadable; a
// kernel without cachestat stops it with ErrNoCachestat.
func TreeOf(root string) (Tree, error) {
	var t Tree
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return t, &os.PathError{Op: "lstat", Path: root, Err: err}
	}
	t.newer(st.Ctim)
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return t, nil
		}
		s, err := File(root)
		if err != nil {
			return t, err
		}
		t.Add(s)
		t.Files++
		return t, nil
	}
	fd, err := openNoAtime(unix.AT_FDCWD, root, unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return t, &os.PathError{Op: "open", Path: root, Err: err}
	}
	err = t.walkDir(fd, root, st.Dev)
	return t, err
}

func (t *Tree) newer(ts unix.Timespec) {
	if c := time.Unix(ts.Unix()); c.After(t.NewestC) {
		t.NewestC = c
	}
}

func (t *Tree) unreadable(path string, err error) {
	t.Unreadable++
	if t.FirstErr == nil {
		t.FirstErr = &os.PathError{Op: "open", Path: path, Err: err}
	}
}

// walkDir takes ownership of fd, the open directory dir. Entries are read
// in batches so a huge directory is never held in memory at once.
func (t *Tree) walkDir(fd int, dir string, dev uint64) error {
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	if s, err := fdStat(fd, dir); err == nil {
		t.Add(s)
	} else if errors.Is(err, ErrNoCachestat) {
		return err
	}
	for {
		ents, err := f.ReadDir(256)
		for _, e := range ents {
			if err := t.entry(fd, filepath.Join(dir, e.Name()), e.Name(), dev); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			t.unreadable(dir, err)
			return nil
		}
	}
}

func (t *Tree) entry(dirfd int, path, name string, dev uint64) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.unreadable(path, err)
		return nil
	}
	t.newer(st.Ctim)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if st.Dev != dev {
			return nil // another file system mounted here
		}
		fd, err := openNoAtime(dirfd, name, unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if err != nil {
			t.unreadable(path, err)
			return nil
		}
		return t.walkDir(fd, path, dev)
	case unix.S_IFREG:
		fd, err := openNoAtime(dirfd, name, unix.O_NOFOLLOW|unix.O_NONBLOCK)
		if err != nil {
			t.unreadable(path, err)
			return nil
		}
		s, err := fdStat(fd, path)
		unix.Close(fd)
		if err != nil {
			if errors.Is(err, ErrNoCachestat) {
				return err
			}
			t.unreadable(path, err)
			return nil
		}
		t.Add(s)
		t.Files++
	}
	return nil
}

// Meminfo reads the system's Dirty and Writeback from /proc/meminfo.
func Meminfo() (System, error) {
	const path = "/proc/meminfo"
	f, err := os.Open(path)
	if err != nil {
		return System{}, err
	}
	defer f.Close()
	var s System
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "Dirty":
			s.Dirty, err = kB(v)
		case "Writeback":
			s.Writeback, err = kB(v)
		default:
			continue
		}
		if err != nil {
			return s, &os.PathError{Op: "parse", Path: path, Err: err}
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return s, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if found != 2 {
		return s, &os.PathError{Op: "parse", Path: path, Err: errors.New("no Dirty or Writeback line")}
	}
	return s, nil
}

// kB parses "   316 kB" (the kernel's "kB" is KiB).
func kB(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n << 10, err
}

// debugfsDir finds where debugfs is mounted, if anywhere.
func debugfsDir() (string, error) {
	if dir := fsinfo.DebugfsDir(); dir != "" {
		return dir, nil
	}
	return "", ErrNoDebugfs
}

// DebugfsMounted reports whether the bdis' counts can be read.
func DebugfsMounted() bool {
	_, err := debugfsDir()
	return err == nil
}

// BDINames lists the backing devices whose writeback serves the file
// system mounted as m: its own bdi (block file systems share the whole
// disk's, btrfs and FUSE have their own), and for a FUSE file system over
// a block device, also that device's, where the server's writes wait.
func BDINames(m fsinfo.Mount) []string {
	var names []string
	add := func(n string) {
		if n == "" {
			return
		}
		if _, err := os.Stat(filepath.Join(sysfs.BDIs, n)); err != nil {
			return
		}
		for _, have := range names {
			if have == n {
				return
			}
		}
		names = append(names, n)
	}
	dev := fmt.Sprintf("%d:%d", m.Major, m.Minor)
	switch {
	case !m.IsFUSE() && fsinfo.CapsOf(m).OwnBDI:
		if l, err := btrfsBDI(m); err == nil {
			add(l)
		}
	case m.IsFUSE():
		add(dev)
		add(dev + "-fuseblk")
		if d, ok := fsinfo.BackingDevice(m); ok {
			add(diskOf(d))
		}
	default:
		add(diskOf(sysfs.DevDir(m.Major, m.Minor)))
	}
	return names
}

// diskOf names the whole disk ("MAJ:MIN") of a block device given by its
// /dev path or its /sys/dev/block entry: a partition shares its disk's bdi.
func diskOf(dev string) string {
	sys := dev
	if strings.HasPrefix(dev, "/dev/") {
		var err error
		if sys, err = sysfs.DevDirOf(dev); err != nil {
			return ""
		}
	}
	real, err := sysfs.Disk(sys)
	if err != nil {
		return ""
	}
	return sysfs.Str(real, "dev")
}

// btrfsBDI finds btrfs's own bdi through /sys/fs/btrfs/UUID/bdi, for the
// volume whose devices include the mount's source device.
func btrfsBDI(m fsinfo.Mount) (string, error) {
	ents, err := os.ReadDir("/sys/fs/btrfs")
	if err != nil {
		return "", err
	}
	src := filepath.Base(m.Source)
	for _, e := range ents {
		if _, err := os.Lstat(filepath.Join("/sys/fs/btrfs", e.Name(), "devices", src)); err != nil {
			continue
		}
		l, err := os.Readlink(filepath.Join("/sys/fs/btrfs", e.Name(), "bdi"))
		if err != nil {
			return "", err
		}
		return filepath.Base(l), nil
	}
	return "", os.ErrNotExist
}

// BDIStats reads debugfs's counts of the bdi called name: a BDI with its
// ID and Stats only, or an error when debugfs does not tell.
func BDIStats(name string) (BDI, error) {
	st, err := bdiStats(name)
	if err != nil {
		return BDI{}, err
	}
	return BDI{ID: name, Stats: st}, nil
}

func bdiStats(name string) (map[string]int64, error) {
	dir, err := debugfsDir()
	if err != nil {
		return nil, err
	}
	return sysfs.BDIStats(filepath.Join(dir, "bdi", name, "stats"))
}

// ReadBDI reads the writeback control of the bdi called name ("7:3"),
// with debugfs's counts when they can be read.
func ReadBDI(name string) (BDI, error) {
	dir := filepath.Join(sysfs.BDIs, name)
	if _, err := os.Stat(dir); err != nil {
		return BDI{}, err
	}
	b := BDI{
		ID:           name,
		StrictLimit:  sysfs.Int(dir, "strict_limit") != 0,
		MaxRatio:     int(sysfs.Int(dir, "max_ratio")),
		MinRatio:     int(sysfs.Int(dir, "min_ratio")),
		ReadAheadKB:  sysfs.Int(dir, "read_ahead_kb"),
		StableWrites: sysfs.Int(dir, "stable_pages_required") != 0,
	}
	if s := sysfs.Str(dir, "max_bytes"); s != "" {
		b.HasBytes = true
		b.MaxBytes = sysfs.Int(dir, "max_bytes")
		b.MinBytes = sysfs.Int(dir, "min_bytes")
	}
	b.Stats, _ = bdiStats(name)
	return b, nil
}

// CtimeSlack is how far a change time may lag the moment of the change:
// the kernel stamps inodes from its coarse clock, one tick behind at most.
func CtimeSlack() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_REALTIME_COARSE, &ts); err != nil || ts.Nano() <= 0 {
		return 20 * time.Millisecond
	}
	return time.Duration(ts.Nano())
}

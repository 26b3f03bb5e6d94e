package sysfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Block holds a directory per block device, disks and partitions alike,
// named as the kernel names them ("sdb", "sdb1").
const Block = "/sys/class/block"

// Disks holds a directory per whole disk only; it goes when the disk does.
const Disks = "/sys/block"

// Dir is the sysfs directory of the block device called name.
func Dir(name string) string { return filepath.Join(Block, name) }

// DiskDir is the sysfs directory of the whole disk called name.
func DiskDir(name string) string { return filepath.Join(Disks, name) }

// DevBlock holds a link per block device, named by its device numbers
// ("8:16"), to its place under /sys/devices.
const DevBlock = "/sys/dev/block"

// DevDir is the sysfs directory of block device major:minor.
func DevDir(major, minor uint32) string {
	return fmt.Sprintf("%s/%d:%d", DevBlock, major, minor)
}

// DevDirOf is DevDir of the block device at path.
func DevDirOf(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", &os.PathError{Op: "find disk", Path: path, Err: fmt.Errorf("not a block device")}
	}
	return DevDir(unix.Major(st.Rdev), unix.Minor(st.Rdev)), nil
}

// Name is the kernel's name of block device major:minor ("sdb1").
func Name(major, minor uint32) (string, error) {
	target, err := os.Readlink(DevDir(major, minor))
	if err != nil {
		return "", fmt.Errorf("device %d:%d is not a block device sysfs knows: %w", major, minor, err)
	}
	return filepath.Base(target), nil
}

// IsPartition reports whether dir is a partition's directory.
func IsPartition(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "partition"))
	return err == nil
}

// Disk resolves dir, any sysfs directory of a block device, to its whole
// disk's real directory: a partition's sits inside its disk's.
func Disk(dir string) (string, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	if IsPartition(real) {
		real = filepath.Dir(real)
	}
	return real, nil
}

// Attr reads the attribute name (a path below dir), without the newline.
func Attr(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Str is Attr, "" when it cannot be read.
func Str(dir, name string) string {
	s, _ := Attr(dir, name)
	return s
}

// Int is Attr as a number, 0 when it cannot be read.
func Int(dir, name string) int64 {
	n, _ := strconv.ParseInt(Str(dir, name), 10, 64)
	return n
}

// Dev reads the device number in dir/dev ("8:16").
func Dev(dir string) (uint64, error) {
	s, err := Attr(dir, "dev")
	if err != nil {
		return 0, err
	}
	var ma, mi uint32
	if _, err := fmt.Sscanf(s, "%d:%d", &ma, &mi); err != nil {
		return 0, &os.PathError{Op: "parse", Path: filepath.Join(dir, "dev"), Err: err}
	}
	return unix.Mkdev(ma, mi), nil
}

// Names lists the entries of dir/sub (holders, slaves), nil when none.
func Names(dir, sub string) []string {
	ents, _ := os.ReadDir(filepath.Join(dir, sub))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// Stat is a block device's I/O counters, as dir/stat lists them
// (Documentation/block/stat.rst), in order from 0.
type Stat []uint64

// Field numbers in Stat.
const (
	WriteIOs     = 4
	WriteSectors = 6
	FlushIOs     = 15 // counted since Linux 5.5
)

// ReadStat reads dir/stat.
func ReadStat(dir string) (Stat, error) {
	path := filepath.Join(dir, "stat")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseStat(path, string(b))
}

// ParseStat parses the contents s of the stat file at path.
func ParseStat(path, s string) (Stat, error) {
	f := strings.Fields(s)
	if len(f) < 7 {
		return nil, &os.PathError{Op: "parse", Path: path, Err: fmt.Errorf("%d fields, want at least 7", len(f))}
	}
	st := make(Stat, len(f))
	for i, x := range f {
		st[i], _ = strconv.ParseUint(x, 10, 64)
	}
	return st, nil
}

// Flushes returns the flush requests counted, and whether the kernel
// counts them (it adds their count and time as fields 15 and 16).
func (s Stat) Flushes() (uint64, bool) {
	if len(s) < 17 {
		return 0, false
	}
	return s[FlushIOs], true
}

// BDIs holds a directory per backing device (writeback control), named
// by device numbers ("7:3", "0:45-fuseblk") or by the file system
// ("btrfs-1").
const BDIs = "/sys/class/bdi"

// BDIStats parses debugfs's bdi/NAME/stats at path, lines such as
// "BdiWriteback:   12 kB" and "b_dirty: 3": sizes in kB become bytes,
// rates in kBps bytes per second; a line holding no number is left out.
func BDIStats(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	stats := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && (fields[1] == "kB" || fields[1] == "kBps") {
			n *= 1024
		}
		stats[strings.TrimSpace(k)] = n
	}
	return stats, nil
}

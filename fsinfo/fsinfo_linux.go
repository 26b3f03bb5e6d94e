package fsinfo

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Mounts reads /proc/self/mountinfo.
func Mounts() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []Mount
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if m, ok := parseMountInfo(s.Text()); ok {
			ms = append(ms, m)
		}
	}
	if err := s.Err(); err != nil {
		return nil, &os.PathError{Op: "read", Path: "/proc/self/mountinfo", Err: err}
	}
	return ms, nil
}

// parseMountInfo reads a line such as
// "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
func parseMountInfo(line string) (Mount, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	if !ok {
		return Mount{}, false
	}
	a, b := strings.Fields(pre), strings.Fields(post)
	if len(a) < 5 || len(b) < 2 {
		return Mount{}, false
	}
	var m Mount
	maj, min, _ := strings.Cut(a[2], ":")
	ma, _ := strconv.ParseUint(maj, 10, 32)
	mi, _ := strconv.ParseUint(min, 10, 32)
	m.Major, m.Minor = uint32(ma), uint32(mi)
	m.MountPoint = Unescape(a[4])
	m.FSType = b[0]
	m.Source = Unescape(b[1])
	if len(b) > 2 {
		m.Options = b[2]
	}
	// Read-only either way: the mount (a read-only bind mount) or the file
	// system itself (mounted so, or turned so after an error).
	m.MountedReadOnly = len(a) > 5 && firstOption(a[5]) == "ro"
	m.ReadOnly = m.MountedReadOnly || firstOption(m.Options) == "ro"
	return m, true
}

func firstOption(opts string) string {
	o, _, _ := strings.Cut(opts, ",")
	return o
}

// Unescape undoes the octal escapes the kernel writes for white space and
// backslashes in paths in mountinfo and /proc/swaps (\040 for space, \011
// tab, \012 newline, \134 backslash).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ForPath finds the mount that holds path (which must exist): the mount
// with the longest mount point that is a prefix of the resolved path.
func ForPath(path string) (Mount, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Mount{}, &os.PathError{Op: "mountinfo", Path: path, Err: err}
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	} else {
		return Mount{}, &os.PathError{Op: "mountinfo", Path: path, Err: err}
	}
	ms, err := Mounts()
	if err != nil {
		return Mount{}, err
	}
	best := -1
	for i, m := range ms {
		if !within(abs, m.MountPoint) {
			continue
		}
		// A later line for the same mount point is mounted over the
		// earlier one and is what path sees.
		if best < 0 || len(m.MountPoint) >= len(ms[best].MountPoint) {
			best = i
		}
	}
	if best < 0 {
		return Mount{}, &os.PathError{Op: "mountinfo", Path: path, Err: fmt.Errorf("no mount holds it")}
	}
	return ms[best], nil
}

func within(path, dir string) bool {
	if dir == "/" {
		return true
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

var kernel struct {
	once         sync.Once
	major, minor int
	release      string
}

// Kernel returns the running kernel's release string and version.
func Kernel() (release string, major, minor int) {
	kernel.once.Do(func() {
		var u unix.Utsname
		if unix.Uname(&u) != nil {
			return
		}
		kernel.release = unix.ByteSliceToString(u.Release[:])
		fmt.Sscanf(kernel.release, "%d.%d", &kernel.major, &kernel.minor)
	})
	return kernel.release, kernel.major, kernel.minor
}

// KernelAtLeast reports whether the running kernel is major.minor or newer.
func KernelAtLeast(major, minor int) bool {
	_, ma, mi := Kernel()
	return ma > major || ma == major && mi >= minor
}

// BarrierFor decides how writes on m are made durable, with the reason in
// words for users who ask why.
func BarrierFor(m Mount) (Barrier, string) {
	rel, _, _ := Kernel()
	return barrierFor(m, KernelAtLeast(5, 8), rel, BackingDevice)
}

// barrierFor is BarrierFor's decision, given what it needs to know about
// the running kernel (syncfs reports writeback errors from 5.8 on) and a
// way to find the device under a FUSE file system.
func barrierFor(m Mount, syncfsReports bool, release string, backing func(Mount) (string, bool)) (Barrier, string) {
	if m.IsFUSE() {
		if dev, ok := backing(m); ok {
			return BarrierPerFile, fmt.Sprintf("%s is a FUSE file system (%s): syncfs does not reach its server; every file is flushed, then the device %s", m.MountPoint, m.FSType, dev)
		}
		return BarrierPerFile, fmt.Sprintf("%s is a FUSE file system (%s) with no block device found under it: every file is flushed, and durability rests on its server implementing fsync", m.MountPoint, m.FSType)
	}
	if !syncfsReports {
		return BarrierPerFile, fmt.Sprintf("kernel %s is older than 5.8: syncfs does not report write errors", release)
	}
	if why := capsOf(m.FSType, "", "").SyncFSNoFlush; why != "" {
		return BarrierSyncFSFlush, fmt.Sprintf("%s (%s): one syncfs writes the batch and reports its errors, but %s; an fsync of a directory on it then flushes the drive", m.MountPoint, m.FSType, why)
	}
	return BarrierSyncFS, fmt.Sprintf("%s (%s): one syncfs flushes the batch and reports its errors", m.MountPoint, m.FSType)
}

package proc

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// MountInfo is one line of /proc/self/mountinfo, unescaped.
type MountInfo struct {
	Major, Minor uint32
	MountPoint   string
	MountOptions string // the mount's own: ro or rw first
	FSType       string
	Source       string
	SuperOptions string // the file system's: ro or rw first
}

// Mounts reads /proc/self/mountinfo.
func Mounts() ([]MountInfo, error) {
	const path = "/proc/self/mountinfo"
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []MountInfo
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if m, ok := ParseMountInfo(s.Text()); ok {
			ms = append(ms, m)
		}
	}
	if err := s.Err(); err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return ms, nil
}

// ParseMountInfo reads a line such as
// "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
func ParseMountInfo(line string) (MountInfo, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	if !ok {
		return MountInfo{}, false
	}
	a, b := strings.Fields(pre), strings.Fields(post)
	if len(a) < 5 || len(b) < 2 {
		return MountInfo{}, false
	}
	var m MountInfo
	maj, min, _ := strings.Cut(a[2], ":")
	ma, _ := strconv.ParseUint(maj, 10, 32)
	mi, _ := strconv.ParseUint(min, 10, 32)
	m.Major, m.Minor = uint32(ma), uint32(mi)
	m.MountPoint = Unescape(a[4])
	if len(a) > 5 {
		m.MountOptions = a[5]
	}
	m.FSType = b[0]
	m.Source = Unescape(b[1])
	if len(b) > 2 {
		m.SuperOptions = b[2]
	}
	return m, true
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

// Swaps lists the files and devices in use as swap, from /proc/swaps.
func Swaps() ([]string, error) {
	b, err := os.ReadFile("/proc/swaps")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n")[1:] { // after the header
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, Unescape(f[0]))
		}
	}
	return out, nil
}

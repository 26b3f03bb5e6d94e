package eject

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/internal/sysfs"
)

// matcher decides whether a file a process uses is one we look for.
type matcher func(path string, st *unix.Stat_t) bool

// mountHolders finds the processes using the file system mounted at dir,
// as fuser -m does: through their working directory, root, executable,
// open files and memory maps. A file counts when it lies on the mount's
// device or under dir (btrfs gives its subvolumes their own device
// numbers).
func mountHolders(dir string) (holders []Holder, hidden int) {
	devs := map[uint64]bool{}
	var st unix.Stat_t
	if unix.Stat(dir, &st) == nil {
		devs[st.Dev] = true
	}
	if ms, err := fsinfo.Mounts(); err == nil {
		for _, m := range ms {
			if m.MountPoint == dir {
				devs[unix.Mkdev(m.Major, m.Minor)] = true
			}
		}
	}
	return scan(func(path string, st *unix.Stat_t) bool {
		return (st != nil && devs[st.Dev]) || within(path, dir)
	})
}

// deviceHolders finds the processes that have the block device dev open
// or mapped (a FUSE server reading it, a program imaging it).
func deviceHolders(dev uint64) (holders []Holder, hidden int) {
	return scan(func(path string, st *unix.Stat_t) bool {
		return st != nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == dev
	})
}

func within(path, dir string) bool {
	if !strings.HasPrefix(path, "/") {
		return false // "pipe:[123]", "anon_inode:..."
	}
	path = strings.TrimSuffix(path, " (deleted)")
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// scan walks /proc. Processes whose files this user may not read are
// counted in hidden, not silently passed over.
func scan(match matcher) (holders []Holder, hidden int) {
	self := os.Getpid()
	for _, pid := range proc.PIDs() {
		if pid == self {
			continue
		}
		h, denied := inspect(pid, match)
		if len(h.Uses) > 0 {
			holders = append(holders, h)
		} else if denied {
			hidden++
		}
	}
	slices.SortFunc(holders, func(a, b Holder) int { return a.PID - b.PID })
	return holders, hidden
}

// inspect looks at one process; denied says some of it could not be read.
func inspect(pid int, match matcher) (h Holder, denied bool) {
	base := proc.Path(pid)
	h.PID, h.Command = pid, proc.Comm(pid)
	use := func(u string) {
		if !slices.Contains(h.Uses, u) {
			h.Uses = append(h.Uses, u)
		}
	}
	check := func(link string) (string, bool) {
		target, err := os.Readlink(link)
		if err != nil {
			if isDenied(err) {
				denied = true
			}
			return "", false
		}
		var st unix.Stat_t
		// Stat through the magic link reaches the file even when its
		// name is outside this mount namespace or deleted.
		if err := unix.Stat(link, &st); err != nil {
			if isDenied(err) {
				denied = true
			}
			return target, match(target, nil)
		}
		return target, match(target, &st)
	}
	for _, l := range []string{"cwd", "root", "exe"} {
		if _, ok := check(base + "/" + l); ok {
			use(l)
		}
	}
	fds, err := os.ReadDir(base + "/fd")
	if isDenied(err) {
		denied = true
	}
	for _, fd := range fds {
		if target, ok := check(base + "/fd/" + fd.Name()); ok {
			use(target)
		}
	}
	for _, m := range mappedFiles(base+"/maps", &denied) {
		if match(m.path, &unix.Stat_t{Dev: m.dev, Ino: m.ino}) {
			use("mmap " + m.path)
		}
	}
	return h, denied
}

type mapping struct {
	path     string
	dev, ino uint64
}

// mappedFiles reads the file-backed mappings of /proc/PID/maps:
// "addr perms offset MAJ:MIN inode path".
func mappedFiles(path string, denied *bool) []mapping {
	f, err := os.Open(path)
	if err != nil {
		if isDenied(err) {
			*denied = true
		}
		return nil
	}
	defer f.Close()
	var out []mapping
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[4] == "0" || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		p := strings.Join(fields[5:], " ")
		if seen[p] {
			continue
		}
		seen[p] = true
		var major, minor uint32
		if _, err := fmt.Sscanf(fields[3], "%x:%x", &major, &minor); err != nil {
			continue
		}
		ino, _ := strconv.ParseUint(fields[4], 10, 64)
		out = append(out, mapping{path: p, dev: unix.Mkdev(major, minor), ino: ino})
	}
	if isDenied(sc.Err()) {
		*denied = true
	}
	return out
}

func isDenied(err error) bool {
	return errors.Is(err, fs.ErrPermission)
}

// otherUsers names what else keeps the file system at dir busy besides
// processes: mounts below it, loop devices and swap files on it.
func otherUsers(dir string) []string {
	var out []string
	if ms, err := fsinfo.Mounts(); err == nil {
		for _, m := range ms {
			if m.MountPoint != dir && within(m.MountPoint, dir) {
				out = append(out, fmt.Sprintf("the mount %s (%s) under it", m.MountPoint, m.FSType))
			}
		}
	}
	loops, _ := filepath.Glob(sysfs.DiskDir("loop*"))
	for _, l := range loops {
		b, err := sysfs.Attr(l, "loop/backing_file")
		if err == nil && within(b, dir) {
			out = append(out, fmt.Sprintf("/dev/%s (a loop device on %s)", filepath.Base(l), b))
		}
	}
	swaps, _ := proc.Swaps()
	for _, s := range swaps {
		if within(s, dir) {
			out = append(out, "the swap file "+s)
		}
	}
	return out
}

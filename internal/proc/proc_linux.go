package proc

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Alive reports whether pid runs. A zombie (exited, not yet reaped by
// whoever adopted it) counts as gone: it has done all it will do, and a
// FUSE server in that state writes nothing more to its device.
func Alive(pid int) bool {
	stat, err := os.ReadFile(Path(pid, "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// Path is the path of pid's entry name under /proc ("fd", "maps"), or
// of its directory when name is empty.
func Path(pid int, name ...string) string {
	return filepath.Join(append([]string{"/proc", strconv.Itoa(pid)}, name...)...)
}

// PIDs lists the processes /proc shows, in ascending order.
func PIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// Cmdline returns pid's arguments, argv[0] first; nil when they cannot be
// read or it has none (a kernel thread). Any user may read another's.
func Cmdline(pid int) []string {
	b, err := os.ReadFile(Path(pid, "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// Cwd returns pid's working directory, "" when it cannot be read.
func Cwd(pid int) string {
	cwd, _ := os.Readlink(Path(pid, "cwd"))
	return cwd
}

// Comm returns pid's command name, "" when it cannot be read.
func Comm(pid int) string {
	b, err := os.ReadFile(Path(pid, "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// FDs returns what pid's open file descriptors point to. The error is
// the kernel's: fs.ErrPermission for another user's process, whose open
// files are hidden.
func FDs(pid int) ([]string, error) {
	dir := Path(pid, "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var targets []string
	for _, fd := range fds {
		if t, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil {
			targets = append(targets, t)
		}
	}
	return targets, nil
}

// FUSEServers finds the processes that may serve the FUSE mount at
// mountPoint whose source is source: those whose arguments name the mount
// point (relative ones resolved against their working directory) or,
// when source is a device path, that device, and that hold /dev/fuse open
// where their open files can be seen. Another user's server shows only
// its arguments; a process that merely names the mount point (a shell's
// ls, sure itself) holds no /dev/fuse.
func FUSEServers(mountPoint, source string) []Process {
	src := ""
	if strings.HasPrefix(source, "/dev/") {
		src = source
		if r, err := filepath.EvalSymlinks(source); err == nil {
			src = r
		}
	}
	var out []Process
	for _, pid := range PIDs() {
		args := Cmdline(pid)
		if len(args) < 2 || !namesMount(pid, args, mountPoint) && !namesDevice(args[1:], src) {
			continue
		}
		if fds, err := FDs(pid); err == nil && !slices.Contains(fds, "/dev/fuse") {
			continue
		}
		out = append(out, Process{PID: pid, Args: args})
	}
	return out
}

// namesMount reports whether dir is among pid's arguments.
func namesMount(pid int, args []string, dir string) bool {
	if dir == "" {
		return false
	}
	cwd := ""
	for _, a := range args {
		if a == "" {
			continue
		}
		if !filepath.IsAbs(a) {
			if cwd == "" {
				cwd = Cwd(pid)
			}
			a = filepath.Join(cwd, a)
		}
		if filepath.Clean(a) == dir {
			return true
		}
	}
	return false
}

// namesDevice reports whether an argument resolves to the device dev.
func namesDevice(args []string, dev string) bool {
	if dev == "" {
		return false
	}
	for _, a := range args {
		if r, err := filepath.EvalSymlinks(a); err == nil && r == dev {
			return true
		}
	}
	return false
}

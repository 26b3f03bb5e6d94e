//go:build linux

// Package fsimage makes real file systems in image files, attaches them to
// loop devices and mounts them: ext4, xfs and btrfs through the kernel,
// exFAT and FAT32 through their FUSE servers (exfat-fuse, fusefat), since
// this kernel has neither and USB sticks ship with them. Tests and the
// power-cut lab use it; nothing here is faked.
package fsimage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/proc"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/tail"
	"github.com/sure-tools/sure/internal/umount"
)

// Kinds lists the file systems fsimage can make, kernel ones first.
var Kinds = []string{"ext4", "xfs", "btrfs", "exfat", "vfat"}

// MinSize is the smallest image each kind accepts (xfs refuses less than
// 300 MiB).
func MinSize(kind string) int64 {
	switch kind {
	case "xfs":
		return 300 << 20
	case "btrfs":
		return 128 << 20
	}
	return 64 << 20
}

// Mkfs creates a file system of the given kind on target, a block device or
// an image file. ext4 initializes its inode tables and journal now, not
// lazily in the background, so later writes are only the caller's.
func Mkfs(kind, target string) error {
	var cmd *exec.Cmd
	switch kind {
	case "ext4":
		cmd = exec.Command("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", target)
	case "xfs":
		cmd = exec.Command("mkfs.xfs", "-q", "-f", target)
	case "btrfs":
		cmd = exec.Command("mkfs.btrfs", "-q", "-f", target)
	case "exfat":
		cmd = exec.Command("mkfs.exfat", target)
	case "vfat":
		cmd = exec.Command("mkfs.vfat", "-F", "32", target)
	default:
		return fmt.Errorf("fsimage: unknown file system %q (known: %s)", kind, strings.Join(Kinds, ", "))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", cmd.Args[0], target, err, bytes.TrimSpace(out))
	}
	return nil
}

// Attach puts image on a free loop device and returns the device's path.
// Direct I/O stays off so the loop driver forwards a FLUSH as fsync of the
// image, which the virtual disk relies on.
func Attach(image string) (string, error) {
	out, err := exec.Command("losetup", "--find", "--show", image).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("losetup %s: %w: %s", image, err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// Detach frees a loop device.
func Detach(dev string) error {
	var out []byte
	var err error
	// The kernel may still hold the device for a moment after an unmount.
	for range 50 {
		out, err = exec.Command("losetup", "-d", dev).CombinedOutput()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("losetup -d %s: %w: %s", dev, err, bytes.TrimSpace(out))
}

// Mounted is a file system mounted from a loop device.
type Mounted struct {
	Kind   string
	Image  string // the image file, "" when mounted from a device given by the caller
	Device string // the loop (or other block) device
	Dir    string // the mount point

	server *exec.Cmd // FUSE server for exfat and vfat
	daemon int       // pid of a server that forked away from server
	exited chan struct{}
	once   sync.Once
	err    error
}

// Mount mounts device (a block device holding a file system of kind) on dir.
func Mount(kind, device, dir string) (*Mounted, error) {
	m := &Mounted{Kind: kind, Device: device, Dir: dir}
	switch kind {
	case "ext4", "xfs", "btrfs":
		if err := unix.Mount(device, dir, kind, 0, ""); err != nil {
			return nil, &os.PathError{Op: "mount " + kind + " " + device, Path: dir, Err: err}
		}
		return m, nil
	case "exfat":
		// mount.exfat-fuse has no foreground mode short of -d, which logs
		// every request; it forks, and Unmount follows the daemon by pid.
		m.server = exec.Command("mount.exfat-fuse", device, dir)
	case "vfat":
		m.server = exec.Command("fusefat", "-f", "-o", "rw+", device, dir)
	default:
		return nil, fmt.Errorf("fsimage: unknown file system %q", kind)
	}
	// Only the end of the server's output is kept, for the error below:
	// fusefat writes a line per request for as long as it serves.
	log := &tailBuffer{max: 16 << 10}
	m.server.Stdout, m.server.Stderr = log, log
	if err := m.server.Start(); err != nil {
		return nil, fmt.Errorf("fsimage: starting %s: %w", m.server.Args[0], err)
	}
	m.exited = make(chan struct{})
	go func() { m.server.Wait(); close(m.exited) }()
	// A forking server mounts before its parent exits: the mount alone does
	// not tell which process serves it, so wait for the parent to leave.
	forks := kind == "exfat"
	for deadline := time.Now().Add(10 * time.Second); ; {
		if !forks && IsMountPoint(dir) {
			return m, nil
		}
		select {
		case <-m.exited:
			if m.server.ProcessState.Success() && IsMountPoint(dir) {
				m.daemon = FindServer(m.server.Args[0], dir, device)
				if m.daemon == 0 {
					return nil, fmt.Errorf("fsimage: %s mounted %s but its daemon cannot be found", m.server.Args[0], dir)
				}
				return m, nil
			}
			return nil, fmt.Errorf("fsimage: %s exited before mounting %s: %s", m.server.Args[0], dir, tail.Lines(log.String(), 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.server.Process.Kill()
			return nil, fmt.Errorf("fsimage: %s did not mount %s in time", m.server.Args[0], dir)
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf[max(0, len(t.buf)-t.max):])
}

// SyncDevice fsyncs the block device dev, which writes back its page
// cache and then has the drive flush its own cache.
func SyncDevice(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// IsMountPoint reports whether dir is a mount point of this mount namespace.
func IsMountPoint(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	ms, err := fsinfo.Mounts()
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.MountPoint == abs {
			return true
		}
	}
	return false
}

// Unmount unmounts the file system; for FUSE kinds it waits for the server
// to exit, which is when it has written everything to the device. Then it
// detaches the loop device if Mounted attached it.
func (m *Mounted) Unmount() error {
	m.once.Do(func() {
		var errs []error
		err := umount.Retry(m.Dir, 50)
		if err != nil && err != unix.EINVAL {
			errs = append(errs, &os.PathError{Op: "umount", Path: m.Dir, Err: err})
		}
		if m.daemon != 0 {
			if err := waitGone(m.daemon, 30*time.Second); err != nil {
				errs = append(errs, err)
			}
		} else if m.server != nil {
			select {
			case <-m.exited:
			case <-time.After(30 * time.Second):
				m.server.Process.Kill()
				<-m.exited
				errs = append(errs, fmt.Errorf("fsimage: %s did not exit after unmount of %s", m.server.Args[0], m.Dir))
			}
		}
		if m.Image != "" {
			if err := Detach(m.Device); err != nil {
				errs = append(errs, err)
			}
		}
		m.err = errors.Join(errs...)
	})
	return m.err
}

// FindServer finds the process running program that serves dir from
// device (either may be ""), for servers that fork into the background;
// 0 when none does.
func FindServer(program, dir, device string) int {
	for _, p := range proc.FUSEServers(dir, device) {
		if filepath.Base(p.Args[0]) == filepath.Base(program) {
			return p.PID
		}
	}
	return 0
}

// waitGone waits for a process that is not our child to exit, and kills
// it if it outstays timeout.
func waitGone(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for proc.Alive(pid) {
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			return fmt.Errorf("fsimage: FUSE server %d did not exit after unmount", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// MountImage attaches image to a loop device and mounts it on dir.
// Unmount detaches the loop device again.
func MountImage(kind, image, dir string) (*Mounted, error) {
	dev, err := Attach(image)
	if err != nil {
		return nil, err
	}
	m, err := Mount(kind, dev, dir)
	if err != nil {
		Detach(dev)
		return nil, err
	}
	m.Image = image
	return m, nil
}

// Create makes an image file of size bytes holding a new file system of
// kind.
func Create(kind, image string, size int64) error {
	f, err := os.OpenFile(image, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return Mkfs(kind, image)
}

// missing says why this process cannot make kind here, or "" when it can.
// Outside CI a test may skip on it; in CI (CI set) the test must fail, so a
// missing package cannot turn into a green run that tested nothing.
func missing(kind string) string {
	if os.Geteuid() != 0 {
		return "needs root for loop devices and mount"
	}
	need := map[string][]string{
		"ext4": {"mkfs.ext4", "losetup"}, "xfs": {"mkfs.xfs", "losetup"}, "btrfs": {"mkfs.btrfs", "losetup"},
		"exfat": {"mkfs.exfat", "mount.exfat-fuse", "losetup"}, "vfat": {"mkfs.vfat", "fusefat", "losetup"},
	}[kind]
	for _, n := range need {
		if _, err := exec.LookPath(n); err != nil {
			return n + " is not installed"
		}
	}
	if kind == "exfat" || kind == "vfat" {
		if _, err := os.Stat("/dev/fuse"); err != nil {
			return "/dev/fuse is missing"
		}
	}
	return ""
}

// Missing says why this process cannot make kind here, or "" when it can,
// for commands that need a file system (surelab demo).
func Missing(kind string) string { return missing(kind) }

// Require stops the test when kind cannot be made here: a skip on a
// developer's machine, a failure under CI.
func Require(t testing.TB, kind string) {
	t.Helper()
	if why := missing(kind); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %s (CI must provide it: see .ci/run)", kind, why)
		}
		t.Skipf("%s: %s", kind, why)
	}
}

// ForTest makes a fresh file system of kind in the test's temp directory,
// mounts it and unmounts it when the test ends.
func ForTest(t testing.TB, kind string) *Mounted {
	t.Helper()
	Require(t, kind)
	dir := t.TempDir()
	m, err := New(kind, filepath.Join(dir, kind+".img"), filepath.Join(dir, "mnt"))
	if err != nil {
		t.Fatal(err)
	}
	m.UnmountAtEnd(t)
	return m
}

// New makes a fresh file system of kind in image, of the least size kind
// takes, and mounts it on dir, which it creates.
func New(kind, image, dir string) (*Mounted, error) {
	if err := Create(kind, image, MinSize(kind)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return MountImage(kind, image, dir)
}

// UnmountAtEnd unmounts m when the test ends, failing it if that fails.
func (m *Mounted) UnmountAtEnd(t testing.TB) {
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
}

// Abort tears down a mount whose device has died (a yanked stick): it
// kills the FUSE server instead of waiting for it to write back, which on
// a dead device may never end, then unmounts, lazily if the kernel still
// holds the mount busy, and detaches the loop device if Mounted attached
// it.
func (m *Mounted) Abort() error {
	m.once.Do(func() {
		var errs []error
		if m.server != nil {
			m.server.Process.Kill()
			<-m.exited
		}
		if m.daemon != 0 {
			unix.Kill(m.daemon, unix.SIGKILL)
			waitGone(m.daemon, 10*time.Second)
		}
		err := unix.Unmount(m.Dir, 0)
		if err == unix.EBUSY {
			err = unix.Unmount(m.Dir, unix.MNT_DETACH)
		}
		if err != nil && err != unix.EINVAL {
			errs = append(errs, &os.PathError{Op: "umount", Path: m.Dir, Err: err})
		}
		if m.Image != "" {
			if err := Detach(m.Device); err != nil {
				errs = append(errs, err)
			}
		}
		m.err = errors.Join(errs...)
	})
	return m.err
}

// Fsck checks and repairs the file system of kind in image the way an
// operating system does before mounting a volume that was not cleanly
// unmounted. ext4, xfs and btrfs need no separate step: mounting replays
// their journal. It returns the checker's output; an error means the
// checker found damage it could not repair.
func Fsck(kind, image string) (string, error) {
	var cmd *exec.Cmd
	switch kind {
	case "exfat":
		cmd = exec.Command("fsck.exfat", "-y", image)
	case "vfat":
		cmd = exec.Command("fsck.vfat", "-a", "-w", image)
	default:
		return "", nil
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	// Exit status 1 from both checkers means "errors found and corrected".
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		err = nil
	}
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", cmd.Args[0], image, err)
	}
	return string(out), nil
}

// ServerPID is the process id of the FUSE server of an exfat or vfat
// mount, 0 for kernel file systems. fusefat's unmount returns before the
// server has written the volume out; waiting for this process is the only
// way to know it has.
func (m *Mounted) ServerPID() int {
	if m.daemon != 0 {
		return m.daemon
	}
	if m.server == nil || m.server.Process == nil {
		return 0
	}
	return m.server.Process.Pid
}

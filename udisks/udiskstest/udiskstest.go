//go:build linux

// Package udiskstest runs the real device stack for tests: the D-Bus
// system bus, udev and udisksd, each started only when it is not already
// running, and each stopped again by the test that started it.
package udiskstest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/proc"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/udisks"
)

const (
	udisksd = "/usr/libexec/udisks2/udisksd"
	udevd   = "/lib/systemd/systemd-udevd"
	pidFile = "/run/dbus/pid"
	socket  = "/run/dbus/system_bus_socket"
)

// missing says why the stack cannot run here, or "".
func missing() string {
	if os.Geteuid() != 0 {
		return "needs root to start the system bus, udev and udisksd"
	}
	for _, p := range []string{"dbus-daemon", "udevadm", udisksd, udevd} {
		if _, err := exec.LookPath(p); err != nil {
			return p + " is not installed (scripts/install-deps installs dbus, udev, udisks2)"
		}
	}
	return ""
}

// Start makes sure the system bus, udev and udisksd run, starting those
// that do not, and stops what it started when the test ends. Like
// fsimage.Require, a machine without them skips the test, and CI (CI set)
// fails it.
func Start(t testing.TB) *udisks.Client {
	t.Helper()
	if why := missing(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("udisks: %s (CI must provide it)", why)
		}
		t.Skip("udisks: " + why)
	}
	if !busRunning() {
		startBus(t)
	}
	if findProcess("systemd-udevd") == 0 {
		startUdevd(t)
	}
	c, err := udisks.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if !nameOwned("org.freedesktop.UDisks2") {
		startUdisksd(t)
	}
	// udisksd may be activated by the bus before it answers; wait for it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if _, err := c.Blocks(ctx); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("udisksd does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

func busRunning() bool {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func nameOwned(name string) bool {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return false
	}
	defer conn.Close()
	var has bool
	conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has)
	return has
}

// startBus starts dbus-daemon --system. A pid file left by a bus that is
// gone would stop it, so such a file is removed first.
func startBus(t testing.TB) {
	t.Helper()
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid == 0 || !proc.Alive(pid) {
			os.Remove(pidFile)
		}
	}
	out, err := exec.Command("dbus-daemon", "--system", "--fork", "--print-pid=1").CombinedOutput()
	if err != nil {
		t.Fatalf("dbus-daemon --system: %v: %s", err, bytes.TrimSpace(out))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("dbus-daemon --system printed %q, not its pid", out)
	}
	t.Cleanup(func() {
		// Services the bus activated for us (polkitd) go with it.
		activated := busActivated()
		stop(t, pid, "dbus-daemon")
		for _, p := range activated {
			stop(t, p, "bus-activated service")
		}
		os.Remove(pidFile)
		os.Remove(socket)
	})
	for deadline := time.Now().Add(10 * time.Second); !busRunning(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("dbus-daemon started but the system bus does not answer")
		}
	}
}

// busActivated lists the processes behind the bus's well-known names,
// other than udisksd (which the tests start and stop themselves).
func busActivated() []int {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil
	}
	defer conn.Close()
	var names []string
	conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names)
	var pids []int
	for _, n := range names {
		if strings.HasPrefix(n, ":") || n == "org.freedesktop.DBus" {
			continue
		}
		var pid uint32
		if conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, n).Store(&pid) == nil && pid != 0 {
			pids = append(pids, int(pid))
		}
	}
	return pids
}

func startUdevd(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(udevd, "--daemon").CombinedOutput(); err != nil {
		t.Fatalf("systemd-udevd --daemon: %v: %s", err, bytes.TrimSpace(out))
	}
	pid := 0
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(50 * time.Millisecond) {
		if pid = findProcess("systemd-udevd"); pid == 0 && time.Now().After(deadline) {
			t.Fatal("systemd-udevd --daemon returned but no udevd runs")
		}
	}
	t.Cleanup(func() { stop(t, pid, "systemd-udevd") })
	// Tell udev about the devices that exist already, so that udisksd
	// sees them with their properties.
	for _, args := range [][]string{{"trigger", "--action=add"}, {"settle", "--timeout=30"}} {
		if out, err := exec.Command("udevadm", args...).CombinedOutput(); err != nil {
			t.Fatalf("udevadm %s: %v: %s", args[0], err, bytes.TrimSpace(out))
		}
	}
}

func startUdisksd(t testing.TB) {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(udisksd, "--no-debug")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting udisksd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("udisksd did not stop on SIGTERM; killed. Its log:\n%s", log.String())
		}
	})
}

// Settle waits until udev has handled every event so far.
func Settle(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("udevadm", "settle", "--timeout=30").CombinedOutput(); err != nil {
		t.Fatalf("udevadm settle: %v: %s", err, bytes.TrimSpace(out))
	}
}

// WaitBlock waits until UDisks2 knows the block device at path (it learns
// of it from udev after the kernel), at most 30 seconds.
func WaitBlock(t testing.TB, c *udisks.Client, path string) udisks.Block {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(&os.PathError{Op: "stat", Path: path, Err: err})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		b, err := c.BlockByNumber(ctx, st.Rdev)
		if err == nil {
			return b
		}
		if !errors.Is(err, udisks.ErrNotFound) || ctx.Err() != nil {
			t.Fatalf("UDisks2 does not know %s: %v", path, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// findProcess finds a running process by its command name.
func findProcess(comm string) int {
	for _, pid := range proc.PIDs() {
		if proc.Comm(pid) == comm && proc.Alive(pid) {
			return pid
		}
	}
	return 0
}

// stop ends a process this package started that is not its child.
func stop(t testing.TB, pid int, what string) {
	if !proc.Alive(pid) {
		return
	}
	unix.Kill(pid, unix.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); proc.Alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			t.Errorf("%s (pid %d) did not stop on SIGTERM; killed", what, pid)
			return
		}
	}
}

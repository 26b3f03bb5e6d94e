//go:build linux

package oplog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/umount"
	"github.com/sure-tools/sure/lab/internal/reexec"
)

// envServe carries the Config to a re-executed test binary.
const envServe = "SURE_OPLOG_SERVE"

// Main serves the file system and exits when this process was started by
// Start; otherwise it returns at once. A test package that uses Start calls
// it first thing in TestMain, since Start re-executes the test binary.
func Main() {
	reexec.Serve(envServe, "oplog", func(cfg Config) error {
		return Serve(cfg, func() { fmt.Println("ready") })
	})
}

// missing says why a FUSE mount cannot be made here, or "".
func missing() string {
	if os.Geteuid() != 0 {
		return "needs root to mount a FUSE file system"
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "/dev/fuse is missing"
	}
	return ""
}

// Require stops the test when no FUSE mount can be made here: a skip on a
// developer's machine, a failure under CI (CI set), where a skip would be a
// green run that tested nothing.
func Require(t testing.TB) {
	t.Helper()
	if why := missing(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("oplog: %s (CI must provide it)", why)
		}
		t.Skipf("oplog: %s", why)
	}
}

// Mount is a running oplog server.
type Mount struct {
	Dir     string // the mount point: do the I/O under test here
	Backing string // the backing directory: inspect results here, unlogged
	Log     string // the log file
	Faults  string // the fault switch directory

	cmd    *exec.Cmd
	stderr syncBuffer
	exited chan struct{}
	once   sync.Once
	err    error
}

// Start runs a server over a fresh backing directory in a child process
// (this test binary again; see Main) and unmounts it when the test ends.
func Start(t testing.TB) *Mount {
	t.Helper()
	Require(t)
	tmp := t.TempDir()
	m := &Mount{
		Dir:     filepath.Join(tmp, "mnt"),
		Backing: filepath.Join(tmp, "backing"),
		Log:     filepath.Join(tmp, "ops.log"),
		Faults:  filepath.Join(tmp, "faults"),
	}
	for _, d := range []string{m.Dir, m.Backing, m.Faults} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return m
}

func (m *Mount) start() error {
	cfg, err := json.Marshal(Config{Backing: m.Backing, Mountpoint: m.Dir, Log: m.Log, Faults: m.Faults})
	if err != nil {
		return err
	}
	m.cmd = exec.Command(os.Args[0], "-test.run=^$")
	m.cmd.Env = append(os.Environ(), envServe+"="+string(cfg))
	m.cmd.Stderr = &m.stderr
	// If the test process dies, the server unmounts instead of leaving a
	// dead mount behind.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("oplog: starting the server: %w", err)
	}
	m.exited = make(chan struct{})
	line, _ := bufio.NewReader(out).ReadString('\n')
	go func() { m.cmd.Wait(); close(m.exited) }()
	if strings.TrimSpace(line) != "ready" {
		<-m.exited
		return fmt.Errorf("oplog: the server did not mount %s: %s", m.Dir, strings.TrimSpace(m.stderr.String()))
	}
	return nil
}

// Ops reads the log: every operation the server has answered so far.
func (m *Mount) Ops() ([]Op, error) { return ReadLog(m.Log) }

// SetFault switches a fault (FaultFsync, FaultFsyncdir) on or off.
func (m *Mount) SetFault(name string, on bool) error {
	p := filepath.Join(m.Faults, name)
	if on {
		return os.WriteFile(p, nil, 0o644)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Unmount unmounts the file system and waits for the server to exit.
func (m *Mount) Unmount() error {
	m.once.Do(func() {
		// A file just closed may still be held by the kernel for a moment.
		err := umount.Retry(m.Dir, 50)
		if err != nil && err != unix.EINVAL {
			m.err = &os.PathError{Op: "umount", Path: m.Dir, Err: err}
			unix.Unmount(m.Dir, unix.MNT_DETACH)
		}
		select {
		case <-m.exited:
		case <-time.After(30 * time.Second):
			m.cmd.Process.Kill()
			<-m.exited
			m.err = errors.Join(m.err, fmt.Errorf("oplog: the server of %s did not exit after unmount", m.Dir))
		}
		if s := m.cmd.ProcessState; s != nil && !s.Success() {
			m.err = errors.Join(m.err, fmt.Errorf("oplog: the server of %s failed: %v: %s", m.Dir, s, strings.TrimSpace(m.stderr.String())))
		}
	})
	return m.err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

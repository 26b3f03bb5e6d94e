//go:build linux

package vdisk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Client talks to a running disk through its control socket.
type Client struct {
	Socket string
}

// Dial returns a client for the disk whose state directory is dir.
func Dial(dir string) *Client { return &Client{Socket: sockPath(dir)} }

func (c *Client) call(req request) (response, error) {
	conn, err := net.DialTimeout("unix", c.Socket, 5*time.Second)
	if err != nil {
		return response{}, fmt.Errorf("vdisk: %w", err)
	}
	defer conn.Close()
	b, err := json.Marshal(req)
	if err != nil {
		return response{}, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return response{}, fmt.Errorf("vdisk: %s: %w", c.Socket, err)
	}
	var resp response
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return response{}, fmt.Errorf("vdisk: %s: %w", c.Socket, err)
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return response{}, fmt.Errorf("vdisk: %s: %w", c.Socket, err)
	}
	if resp.Error != "" {
		return resp, fmt.Errorf("vdisk: %s: %s", req.Op, resp.Error)
	}
	return resp, nil
}

// Stats returns the disk's figures.
func (c *Client) Stats() (Stats, error) {
	r, err := c.call(request{Op: "stats"})
	if err != nil {
		return Stats{}, err
	}
	return *r.Stats, nil
}

// Cut writes the crash image of a power cut at this instant to o.Out.
func (c *Client) Cut(o CutOptions) (CutResult, error) {
	if abs, err := filepath.Abs(o.Out); err == nil {
		o.Out = abs
	}
	r, err := c.call(request{Op: "cut", Cut: &o})
	if r.Cut == nil {
		return CutResult{}, err
	}
	return *r.Cut, err
}

// Record starts recording every write and flush into a directory; see
// RecordOptions. Stats.Seq counts the events recorded.
func (c *Client) Record(o RecordOptions) error {
	if abs, err := filepath.Abs(o.Dir); err == nil {
		o.Dir = abs
	}
	_, err := c.call(request{Op: "record", Record: &o})
	return err
}

// Unrecord ends the recording and returns the number of events in it.
func (c *Client) Unrecord() (int64, error) {
	r, err := c.call(request{Op: "unrecord"})
	if err != nil {
		return 0, err
	}
	return r.Stats.Seq, nil
}

// Yank pulls the stick: the open epoch is lost and every later I/O fails
// with EIO.
func (c *Client) Yank() error {
	_, err := c.call(request{Op: "yank"})
	return err
}

// SetFaults replaces the armed faults and restarts their counters.
func (c *Client) SetFaults(f Faults) error {
	_, err := c.call(request{Op: "faults", Faults: &f})
	return err
}

// Disk is a disk served by a child process.
type Disk struct {
	*Client
	Dir   string // state directory
	Image string // path of disk.img, for losetup
	// Source is the mount of Config.Source, "" without one.
	Source string
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start serves a new disk in a child process: the running binary again,
// which the package's init turns into a server. It returns once disk.img
// can be used.
func Start(cfg Config) (*Disk, error) {
	if cfg.Dir == "" {
		return nil, errors.New("vdisk: Config.Dir is empty")
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = abs
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	d := &Disk{Client: Dial(cfg.Dir), Dir: cfg.Dir, Image: filepath.Join(mountDir(cfg.Dir), ImageName), done: make(chan struct{})}
	if cfg.Source != "" {
		d.Source = filepath.Join(cfg.Dir, SourceName)
	}
	os.Remove(d.Socket)
	d.cmd = exec.Command(exe)
	d.cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	logf, err := os.Create(filepath.Join(cfg.Dir, "server.log"))
	if err != nil {
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	defer logf.Close()
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// A server outliving its parent would keep the mount and its loop
	// devices forever.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("vdisk: starting server: %w", err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, err := d.Stats(); err == nil {
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("vdisk: server for %s exited: %s", cfg.Dir, d.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.kill()
			return nil, fmt.Errorf("vdisk: server for %s did not start", cfg.Dir)
		}
	}
}

// Close stops the server and removes its mount. Detach any loop device on
// the image first; a device left attached sees ENOTCONN from then on.
func (d *Disk) Close() error {
	select {
	case <-d.done:
	default:
		d.call(request{Op: "quit"})
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			d.kill()
		}
	}
	// A killed server leaves its mounts behind.
	if d.Source != "" {
		unix.Unmount(d.Source, unix.MNT_DETACH)
	}
	mnt := mountDir(d.Dir)
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return &os.PathError{Op: "umount", Path: mnt, Err: err}
	}
	return nil
}

func (d *Disk) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

// Log returns what the server printed.
func (d *Disk) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "server.log"))
	return string(bytes.TrimSpace(b))
}

//go:build linux

package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/lab/powercut"
)

// The guest's side of a crash campaign: one process per batch, the
// running binary again (as lab/vdisk's server is), started in the guest
// with checkEnv set. The host puts each state's image in the share as
// NNNNNN.img (renamed into place when complete); the checker attaches it
// to a loop device, mounts it with the guest kernel's driver and the
// options a desktop uses, lists every file with its hash, unmounts and
// answers NNNNNN.json, then waits for the next one, until "end" appears.
const checkEnv = "SURE_VM_CRASHCHECK"

// checkJob tells the checker where the images come and how to mount them.
type checkJob struct {
	Dir     string `json:"dir"`
	Mnt     string `json:"mnt"`
	FS      string `json:"fs"`
	Options string `json:"options"`
}

// checkReply is the checker's answer on one image.
type checkReply struct {
	Listing  powercut.Listing `json:"listing,omitempty"`
	MountErr string           `json:"mount_error,omitempty"`
	Kernel   []string         `json:"kernel,omitempty"` // the kernel's log while the state was mounted
	LabErr   string           `json:"lab_error,omitempty"`
}

func init() {
	if v := os.Getenv(checkEnv); v != "" {
		os.Exit(runChecker(v))
	}
}

func stateBase(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("%06d", i)) }

// endFile tells the checker that no image follows.
const endFile = "end"

func runChecker(spec string) int {
	var j checkJob
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		fmt.Fprintf(os.Stderr, "vm: checker: %v\n", err)
		return 2
	}
	if err := os.MkdirAll(j.Mnt, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "vm: checker: %v\n", err)
		return 2
	}
	for i := 0; ; i++ {
		base := stateBase(j.Dir, i)
		for {
			if _, err := os.Stat(base + ".img"); err == nil {
				break
			}
			if _, err := os.Stat(filepath.Join(j.Dir, endFile)); err == nil {
				return 0
			}
			time.Sleep(5 * time.Millisecond)
		}
		r := checkState(base+".img", j)
		b, err := json.Marshal(r)
		if err == nil {
			err = os.WriteFile(base+".json.tmp", b, 0o644)
		}
		if err == nil {
			err = os.Rename(base+".json.tmp", base+".json")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "vm: checker: %v\n", err)
			return 2
		}
		if r.LabErr != "" {
			return 2
		}
	}
}

// checkState mounts one image and lists it.
func checkState(img string, j checkJob) (r checkReply) {
	klogClear()
	dev, detach, err := loopAttach(img)
	if err != nil {
		r.LabErr = err.Error()
		return r
	}
	defer func() {
		if err := detach(); err != nil && r.LabErr == "" {
			r.LabErr = err.Error()
		}
	}()
	if err := unix.Mount(dev, j.Mnt, j.FS, unix.MS_NOSUID|unix.MS_NODEV, j.Options); err != nil {
		r.MountErr = (&os.PathError{Op: "mount -t " + j.FS + " " + dev, Path: j.Mnt, Err: err}).Error()
		r.Kernel = klogTail(3)
		return r
	}
	r.Listing = powercut.ListMount(j.Mnt)
	r.Kernel = klogTail(3)
	if err := unix.Unmount(j.Mnt, 0); err != nil {
		r.LabErr = (&os.PathError{Op: "umount", Path: j.Mnt, Err: err}).Error()
	}
	return r
}

// loopAttach puts img on a free loop device and drops whatever the
// device's page cache may hold from an earlier image.
func loopAttach(img string) (string, func() error, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", nil, err
	}
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	ctl.Close()
	if err != nil {
		return "", nil, &os.PathError{Op: "LOOP_CTL_GET_FREE", Path: ctl.Name(), Err: err}
	}
	dev := fmt.Sprintf("/dev/loop%d", n)
	lf, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return "", nil, err
	}
	bf, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		lf.Close()
		return "", nil, err
	}
	err = unix.IoctlLoopConfigure(int(lf.Fd()), &unix.LoopConfig{Fd: uint32(bf.Fd())})
	bf.Close()
	if err != nil {
		lf.Close()
		return "", nil, &os.PathError{Op: "LOOP_CONFIGURE " + img, Path: dev, Err: err}
	}
	detach := func() error {
		defer lf.Close()
		var err error
		// The kernel may hold the device a moment after the unmount.
		for range 100 {
			if err = unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_CLR_FD, 0); !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return &os.PathError{Op: "LOOP_CLR_FD", Path: dev, Err: err}
		}
		return nil
	}
	if err := unix.IoctlSetInt(int(lf.Fd()), unix.BLKFLSBUF, 0); err != nil {
		return "", nil, errors.Join(&os.PathError{Op: "BLKFLSBUF", Path: dev, Err: err}, detach())
	}
	return dev, detach, nil
}

// Actions of syslog(2) (klogctl): read the whole ring buffer, clear it.
const (
	syslogReadAll = 3
	syslogClear   = 5
)

func klogClear() { unix.Klogctl(syslogClear, nil) }

// klogTail is the last n lines the kernel logged since klogClear.
func klogTail(n int) []string {
	buf := make([]byte, 1<<16)
	m, err := unix.Klogctl(syslogReadAll, buf)
	if err != nil || m <= 0 {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(string(buf[:m]), "\n") {
		// Each attach logs the loop device's new size: no news.
		if l != "" && !strings.Contains(l, "detected capacity change") {
			lines = append(lines, l)
		}
	}
	return lines[max(0, len(lines)-n):]
}

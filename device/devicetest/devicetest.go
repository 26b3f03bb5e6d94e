//go:build linux

// Package devicetest makes partitioned sticks for tests: an image file with
// an MBR partition table, attached to a loop device with partition
// scanning, its partitions formatted with real mkfs tools. A loop device
// stands in for a USB stick (see package device).
package devicetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
)

// Stick is a partitioned loop device.
type Stick struct {
	Image  string   // the backing file
	Disk   string   // "/dev/loop5"
	Parts  []string // "/dev/loop5p1", ...
	Mounts []string // mount point of each partition, "" when not mounted
}

// Part describes one partition to make: its size in MiB (0: the rest), a
// file system kind for fsimage ("" leaves it empty, "swap" runs mkswap), a
// label, and whether to mount it (kernel file systems only).
type Part struct {
	MiB   int
	Kind  string
	Label string
	Mount bool
}

// Partitioned makes a stick of sizeMiB with parts, and removes every trace
// of it when the test ends.
func Partitioned(t testing.TB, sizeMiB int, parts ...Part) *Stick {
	t.Helper()
	fsimage.Require(t, "ext4")
	for _, p := range parts {
		if p.Kind != "" && p.Kind != "swap" {
			fsimage.Require(t, p.Kind)
		}
	}
	if _, err := exec.LookPath("sfdisk"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sfdisk is not installed (package fdisk)")
		}
		t.Skip("sfdisk is not installed")
	}
	dir := t.TempDir()
	s := &Stick{Image: filepath.Join(dir, "stick.img")}
	f, err := os.Create(s.Image)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var table strings.Builder
	table.WriteString("label: dos\n")
	for _, p := range parts {
		typ := "83"
		switch p.Kind {
		case "vfat":
			typ = "c"
		case "exfat":
			typ = "7"
		case "swap":
			typ = "82"
		}
		if p.MiB > 0 {
			fmt.Fprintf(&table, "size=%dMiB, type=%s\n", p.MiB, typ)
		} else {
			fmt.Fprintf(&table, "type=%s\n", typ)
		}
	}
	run(t, table.String(), "sfdisk", "-q", s.Image)
	s.Disk = strings.TrimSpace(run(t, "", "losetup", "--find", "--show", "--partscan", s.Image))
	t.Cleanup(func() {
		if err := fsimage.Detach(s.Disk); err != nil {
			t.Error(err)
		}
	})
	// A kernel built without partition table parsers (this one has no
	// CONFIG_MSDOS_PARTITION) ignores --partscan; partx reads the table
	// and adds the partitions through BLKPG, where the kernel did not.
	run(t, "", "partx", "-u", s.Disk)
	for i, p := range parts {
		part := fmt.Sprintf("%sp%d", s.Disk, i+1)
		waitNode(t, part)
		s.Parts = append(s.Parts, part)
		s.Mounts = append(s.Mounts, "")
		switch p.Kind {
		case "":
			continue
		case "swap":
			args := []string{"-q"}
			if p.Label != "" {
				args = append(args, "-L", p.Label)
			}
			run(t, "", "mkswap", append(args, part)...)
			continue
		}
		if err := Mkfs(p.Kind, p.Label, part); err != nil {
			t.Fatal(err)
		}
		if !p.Mount {
			continue
		}
		mnt := filepath.Join(dir, fmt.Sprintf("p%d", i+1))
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		m, err := fsimage.Mount(p.Kind, part, mnt)
		if err != nil {
			t.Fatal(err)
		}
		s.Mounts[i] = mnt
		t.Cleanup(func() {
			if err := m.Unmount(); err != nil {
				t.Error(err)
			}
		})
	}
	return s
}

// Mkfs formats target (a device or an image file) like fsimage.Mkfs, with
// a label.
func Mkfs(kind, label, dev string) error {
	if label == "" {
		return fsimage.Mkfs(kind, dev)
	}
	var cmd *exec.Cmd
	switch kind {
	case "ext4":
		cmd = exec.Command("mkfs.ext4", "-q", "-F", "-L", label, "-E", "lazy_itable_init=0,lazy_journal_init=0", dev)
	case "xfs":
		cmd = exec.Command("mkfs.xfs", "-q", "-f", "-L", label, dev)
	case "btrfs":
		cmd = exec.Command("mkfs.btrfs", "-q", "-f", "-L", label, dev)
	case "exfat":
		cmd = exec.Command("mkfs.exfat", "-L", label, dev)
	case "vfat":
		cmd = exec.Command("mkfs.vfat", "-F", "32", "-n", label, dev)
	default:
		return fmt.Errorf("devicetest: unknown file system %q", kind)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", cmd.Args[0], dev, err, bytes.TrimSpace(out))
	}
	return nil
}

// waitNode waits for devtmpfs to show a partition the kernel has just
// scanned; a missing node after 10 s fails the test.
func waitNode(t testing.TB, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear after partition scan", path)
		}
	}
}

func run(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.String()
}

// Swapon puts dev in use as swap until the test ends. It skips (fails
// under CI) when this container may not swap.
func Swapon(t testing.TB, dev string) {
	t.Helper()
	out, err := exec.Command("swapon", dev).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("swapon %s: %v: %s", dev, err, bytes.TrimSpace(out))
		}
		t.Skipf("swapon %s is not permitted here: %v: %s", dev, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("swapoff", dev).CombinedOutput(); err != nil {
			t.Errorf("swapoff %s: %v: %s", dev, err, bytes.TrimSpace(out))
		}
	})
}

//go:build linux

package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// guest boots kernel suite with a fresh 256 MiB stick, fetching what it
// needs. Not root is the only reason to skip: CI runs as root with access
// to Debian's mirrors, and there a missing qemu or kernel is a failure.
func guest(t *testing.T, suite string, uas bool) *VM {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the VM lab needs root (9p passthrough of the host root, loop devices in the guest)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, suite)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "stick.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	v, err := Boot(ctx, Config{Kernel: k, Dir: dir, Stick: &Stick{Image: img, UAS: uas}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// shared holds one guest per kernel for the tests that only mkfs its
// stick afresh, so that the suite boots each kernel once for them.
var shared = struct {
	sync.Mutex
	vms map[string]*VM
}{vms: map[string]*VM{}}

func sharedGuest(t *testing.T, suite string) *VM {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if v, ok := shared.vms[suite]; ok {
		if _, err := v.MustRun(context.Background(), "umount /mnt/s 2>/dev/null; true"); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if os.Geteuid() != 0 {
		t.Skip("the VM lab needs root (9p passthrough of the host root, loop devices in the guest)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, suite)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sure-vm-test-")
	if err != nil {
		t.Fatal(err)
	}
	// RunAs's users must reach the scripts and binaries in it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "stick.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 256<<20); err != nil {
		t.Fatal(err)
	}
	v, err := Boot(ctx, Config{Kernel: k, Dir: dir, Stick: &Stick{Image: img}})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	shared.vms[suite] = v
	return v
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, v := range shared.vms {
		v.Close()
		os.RemoveAll(v.Dir)
	}
	os.Exit(code)
}

func TestBootRunAs(t *testing.T) {
	v := sharedGuest(t, Trixie)
	ctx := context.Background()
	out, err := v.MustRun(ctx, `uname -r; cat /sys/block/sda/removable /sys/block/sda/queue/write_cache; id -u; echo hi > `+v.Dir+`/x`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != v.Kernel.Version || lines[1] != "1" || lines[2] != "write back" || lines[3] != "0" {
		t.Fatalf("guest says %q", lines)
	}
	if b, err := os.ReadFile(filepath.Join(v.Dir, "x")); err != nil || string(b) != "hi\n" {
		t.Fatalf("share: %q, %v", b, err)
	}
	r, err := v.RunAs(ctx, 1000, 1000, "id -u; id -g; cat /dev/sda >/dev/null; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 3 || !strings.HasPrefix(r.Output, "1000\n1000\n") || !strings.Contains(r.Output, "Permission denied") {
		t.Fatalf("RunAs: status %d, output %q", r.Status, r.Output)
	}
	n, err := v.Flushes(ctx, "sda")
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.StickStats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Flushes != n {
		t.Fatalf("guest counted %d flushes, qemu %d", n, s.Flushes)
	}
}

// TestUASStick attaches the stick as USB Attached SCSI: the uas driver
// binds it, it is removable with a write-back cache, and an fsync reaches
// it as a FLUSH that qemu counts too.
func TestUASStick(t *testing.T) {
	v := guest(t, Trixie, true)
	ctx := context.Background()
	q0, err := v.StickStats()
	if err != nil {
		t.Fatal(err)
	}
	out, err := v.MustRun(ctx, `set -e
ls /sys/bus/usb/drivers/uas | grep -c :
cat /sys/block/sda/removable /sys/block/sda/queue/write_cache
f() { set -- $(cat /sys/block/sda/stat); echo ${16}; }
b=$(f)
mkfs.vfat /dev/sda >/dev/null; mkdir -p /mnt/s; mount /dev/sda /mnt/s; echo x > /mnt/s/x; sync /mnt/s/x; umount /mnt/s
echo $(( $(f) - b ))`)
	if err != nil {
		t.Fatal(err)
	}
	q1, err := v.StickStats()
	if err != nil {
		t.Fatal(err)
	}
	l := strings.Split(strings.TrimSpace(out), "\n")
	if len(l) != 4 || l[0] != "1" || l[1] != "1" || l[2] != "write back" || l[3] == "0" {
		t.Fatalf("guest says %q", l)
	}
	if n := q1.Flushes - q0.Flushes; strings.TrimSpace(l[3]) != fmt.Sprint(n) {
		t.Errorf("guest counted %s FLUSH requests, qemu %d", l[3], n)
	}
}

// TestAttachStick plugs a second stick into a running guest, counts the
// FLUSH of an fsync on it (guest and qemu agree), and pulls it out.
func TestAttachStick(t *testing.T) {
	v := sharedGuest(t, Trixie)
	ctx := context.Background()
	img := filepath.Join(v.Dir, "second.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	dev, err := v.AttachStick(ctx, "second", Stick{Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if dev == "sda" || !strings.HasPrefix(dev, "sd") {
		t.Fatalf("the second stick is %q", dev)
	}
	q0, err := v.StickStatsOf("second")
	if err != nil {
		t.Fatal(err)
	}
	out, err := v.MustRun(ctx, fmt.Sprintf(`set -e
cat /sys/block/%[1]s/removable
f() { set -- $(cat /sys/block/%[1]s/stat); echo ${16}; }
mkfs.vfat /dev/%[1]s >/dev/null; mkdir -p /mnt/t; mount /dev/%[1]s /mnt/t
b=$(f); echo x > /mnt/t/x; sync /mnt/t/x; a=$(f)
umount /mnt/t
echo $((a-b))`, dev))
	if err != nil {
		t.Fatal(err)
	}
	q1, err := v.StickStatsOf("second")
	if err != nil {
		t.Fatal(err)
	}
	l := strings.Fields(out)
	if len(l) != 2 || l[0] != "1" || l[1] == "0" {
		t.Fatalf("guest says %q", l)
	}
	if q1.Flushes <= q0.Flushes || q1.Writes <= q0.Writes {
		t.Errorf("qemu counted %d FLUSH and %d writes on the second stick", q1.Flushes-q0.Flushes, q1.Writes-q0.Writes)
	}
	if err := v.DetachStick(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	if r, err := v.Run(ctx, "test -e /sys/block/"+dev); err != nil || r.Status == 0 {
		t.Errorf("/sys/block/%s still there after the unplug (%v)", dev, err)
	}
}

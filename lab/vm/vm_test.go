//go:build linux

package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

func TestBootRunAs(t *testing.T) {
	v := guest(t, Trixie, false)
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

//go:build linux

package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sureBinary builds sure into dir, which the guest sees at the same path.
// SURE_VM_SURE names a binary to use instead (an older build, to show
// what it did).
func sureBinary(t *testing.T, dir string) string {
	t.Helper()
	if p := os.Getenv("SURE_VM_SURE"); p != "" {
		bin := filepath.Join(dir, "sure")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return bin
	}
	bin := filepath.Join(dir, "sure")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sure-tools/sure/cmd/sure").CombinedOutput()
	if err != nil {
		t.Fatalf("go build sure: %v\n%s", err, out)
	}
	return bin
}

// The normal user of the desktop case: the stick is mounted with its uid,
// it has no access to /dev/sda.
const userID = 1000

// TestSureFlushesStick runs sure cp -r, sure mv, sure sync and sure doctor on a
// vfat, exfat and ntfs3 stick, as root and as a normal user who owns the
// mount but cannot open the device, and asserts from the block trace that
// a FLUSH was issued after the last write completed and itself completed
// before sure returned: what "durable" means on a drive with a volatile
// cache. Syncfs alone sends these drives no FLUSH, and as a normal user
// sure's side flush of the block device is refused.
//
// The default suite runs it on 6.12, whose drivers cover all three file
// systems; SURE_VM_LONG=1 adds 6.1 (vfat, exfat).
func TestSureFlushesStick(t *testing.T) {
	suites := []string{Trixie}
	if os.Getenv("SURE_VM_LONG") != "" {
		suites = append(suites, Bookworm)
	}
	for _, suite := range suites {
		t.Run(suite, func(t *testing.T) {
			v := sharedGuest(t, suite)
			ctx := context.Background()
			sure := sureBinary(t, v.Dir)
			if _, err := v.MustRun(ctx, `set -e
rm -rf /tmp/src; mkdir -p /tmp/src/a/b /tmp/src/c
i=0
while [ $i -lt 24 ]; do
	i=$((i+1))
	head -c $((i*3000)) /dev/urandom > /tmp/src/a/f$i
	[ $((i%4)) = 0 ] && head -c 100 /dev/urandom > /tmp/src/a/b/g$i
done
echo hello > /tmp/src/c/h
head -c 100000 /dev/urandom > /tmp/one`); err != nil {
				t.Fatal(err)
			}
			for _, fs := range []string{"vfat", "exfat", "ntfs3"} {
				if !v.Kernel.HasModule(fs) {
					t.Logf("kernel %s has no %s", v.Kernel.Version, fs)
					continue
				}
				t.Run(fs, func(t *testing.T) {
					mountStick(ctx, t, v, fs, fmt.Sprintf("uid=%d,gid=%d", userID, userID))
					for _, uid := range []int{0, userID} {
						as := func(script string) func() (Result, error) {
							if uid == 0 {
								return func() (Result, error) { return v.Run(ctx, script) }
							}
							return func() (Result, error) { return v.RunAs(ctx, uid, uid, script) }
						}
						who := "root"
						if uid != 0 {
							who = "user"
							r, err := as("cat /dev/sda > /dev/null")()
							if err != nil {
								t.Fatal(err)
							}
							if r.Status == 0 || !strings.Contains(r.Output, "Permission denied") {
								t.Fatalf("the user can read /dev/sda (%d): %s", r.Status, r.Output)
							}
						}
						dst := "/mnt/s/" + who
						r, evs, err := v.Trace(ctx, "8,0", as(fmt.Sprintf("%s cp -r /tmp/src %s", sure, dst)))
						if err != nil {
							t.Fatal(err)
						}
						ok, writes, flushes := Covered(evs)
						t.Logf("%s %s as %s: sure cp -r: %d writes, %d FLUSH, last write covered: %v; %s", v.Kernel.Version, fs, who, writes, flushes, ok, strings.TrimSpace(r.Output))
						if r.Status != 0 {
							t.Fatalf("sure cp exited %d: %s", r.Status, r.Output)
						}
						if writes == 0 || !ok {
							t.Errorf("%s as %s: sure cp -r said %q with %d writes and %d FLUSH requests, the last write not followed by a completed FLUSH", fs, who, strings.TrimSpace(r.Output), writes, flushes)
						}
						if _, err := v.MustRun(ctx, fmt.Sprintf("cmp /tmp/src/a/f24 %s/a/f24 && cmp /tmp/src/c/h %s/c/h", dst, dst)); err != nil {
							t.Error(err)
						}

						// sure mv of a tree from the guest's tmpfs.
						mvsrc := "/tmp/mv-" + who
						if _, err := v.MustRun(ctx, fmt.Sprintf("rm -rf %[1]s && cp -r /tmp/src %[1]s && chown -R %[2]d:%[2]d %[1]s", mvsrc, uid)); err != nil {
							t.Fatal(err)
						}
						r, evs, err = v.Trace(ctx, "8,0", as(fmt.Sprintf("%s mv %s %s-mv", sure, mvsrc, dst)))
						if err != nil {
							t.Fatal(err)
						}
						ok, writes, flushes = Covered(evs)
						t.Logf("%s %s as %s: sure mv: %d writes, %d FLUSH, covered: %v; %s", v.Kernel.Version, fs, who, writes, flushes, ok, strings.TrimSpace(r.Output))
						if r.Status != 0 || writes == 0 || !ok {
							t.Errorf("%s as %s: sure mv exited %d (%s) with %d writes and %d FLUSH requests, last write covered: %v", fs, who, r.Status, strings.TrimSpace(r.Output), writes, flushes, ok)
						}
						if _, err := v.MustRun(ctx, fmt.Sprintf("! test -e %s && cmp /tmp/src/a/f24 %s-mv/a/f24", mvsrc, dst)); err != nil {
							t.Error(err)
						}

						// sure sync PATH after a plain cp.
						if _, err := v.MustRun(ctx, fmt.Sprintf("cp /tmp/one %s-one && chown %d:%d %s-one 2>/dev/null; true", dst, uid, uid, dst)); err != nil {
							t.Fatal(err)
						}
						r, evs, err = v.Trace(ctx, "8,0", as(fmt.Sprintf("%s sync %s-one", sure, dst)))
						if err != nil {
							t.Fatal(err)
						}
						ok, writes, flushes = Covered(evs)
						t.Logf("%s %s as %s: sure sync FILE: %d writes, %d FLUSH, covered: %v; %s", v.Kernel.Version, fs, who, writes, flushes, ok, strings.TrimSpace(r.Output))
						if r.Status != 0 || writes == 0 || !ok {
							t.Errorf("%s as %s: sure sync exited %d (%s) with %d writes and %d FLUSH requests, last write covered: %v", fs, who, r.Status, strings.TrimSpace(r.Output), writes, flushes, ok)
						}
					}
					r, err := v.RunAs(ctx, userID, userID, sure+" doctor /mnt/s")
					if err != nil {
						t.Fatal(err)
					}
					if r.Status != 0 || !strings.Contains(r.Output, "barrier: syncfs + fsync: /mnt/s ("+fs+"): one syncfs writes the batch") ||
						!strings.Contains(r.Output, "then an fsync of a directory on it flushes the drive's cache") {
						t.Errorf("sure doctor on %s (%d):\n%s", fs, r.Status, r.Output)
					}
				})
			}
		})
	}
}

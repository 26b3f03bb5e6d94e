//go:build linux

package vm

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/conformance"
)

// conformanceBinary builds the conformance suite's test binary into dir,
// which the guest sees at the same path.
func conformanceBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "conformance.test")
	out, err := exec.Command("go", "test", "-c", "-o", bin, "github.com/sure-tools/sure/internal/conformance").CombinedOutput()
	if err != nil {
		t.Fatalf("go test -c internal/conformance: %v\n%s", err, out)
	}
	return bin
}

// TestConformance runs the conformance suite of the durable library and
// the commit protocol (internal/conformance) in one guest of 6.12 on the
// in-kernel vfat, exfat and ntfs3 drivers, mounted with udisks2's options
// for a normal user, and on ext4 owned by that user: the suite runs as
// the user, as a desktop's sure would.
func TestConformance(t *testing.T) {
	v := sharedGuest(t, Trixie)
	ctx := context.Background()
	bin := conformanceBinary(t, v.Dir)
	for _, fs := range []string{"vfat", "exfat", "ntfs3", "ext4"} {
		t.Run(fs, func(t *testing.T) {
			if !v.Kernel.HasModule(fs) {
				t.Skipf("kernel %s has no %s", v.Kernel.Version, fs)
			}
			opts := "nosuid,nodev"
			if _, ok := desktopOptions[fs]; ok {
				opts += "," + mountOptions(fs, userID)
			}
			mountStick(ctx, t, v, fs, opts)
			// udisks2 gives ext4's root to nobody; its owner there is
			// whoever made the file system, as mkfs -E root_owner would.
			if _, err := v.MustRun(ctx, fmt.Sprintf("chown %[1]d:%[1]d /mnt/s && mount | grep ' /mnt/s '", userID)); err != nil {
				t.Fatal(err)
			}
			r, err := v.RunAs(ctx, userID, userID, fmt.Sprintf("set -e\nmkdir /mnt/s/conformance\n%s=/mnt/s/conformance %s -test.run '^TestDir$' -test.v 2>&1",
				conformance.DirEnv, bin))
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, l := range strings.Split(r.Output, "\n") {
				if strings.Contains(l, "--- FAIL") || strings.Contains(l, ".go:") || strings.Contains(l, "--- SKIP") {
					failed = append(failed, l)
				}
			}
			t.Logf("%s %s as uid %d: exit %d\n%s", v.Kernel.Version, fs, userID, r.Status, strings.Join(failed, "\n"))
			if r.Status != 0 || !strings.Contains(r.Output, "--- PASS: TestDir") {
				t.Errorf("the conformance suite on %s as a user (exit %d):\n%s", fs, r.Status, r.Output)
			}
		})
	}
}

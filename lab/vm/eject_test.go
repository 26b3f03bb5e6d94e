//go:build linux

package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plugStick attaches a fresh 64 MiB stick as id to the shared guest and
// returns its disk there.
func plugStick(ctx context.Context, t *testing.T, v *VM, id string, uas bool) string {
	t.Helper()
	img := filepath.Join(v.Dir, id+".img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	dev, err := v.AttachStick(ctx, id, Stick{Image: img, UAS: uas})
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

// TestEjectUSB runs sure eject as root on a mounted vfat stick, over
// usb-storage and over uas: the medium is unlocked before the drive is
// stopped, the USB device is removed, and only then, with the disk gone
// from /sys/block, does sure say the stick is safe to remove.
func TestEjectUSB(t *testing.T) {
	ctx := context.Background()
	for _, tr := range []struct {
		name string
		uas  bool
	}{{"usb-storage", false}, {"uas", true}} {
		t.Run(tr.name, func(t *testing.T) {
			id := "ej" + strings.ReplaceAll(tr.name, "-", "")
			var v *VM
			dev := "sda"
			if tr.uas {
				// A uas device plugged into a running guest shows no
				// disk, so this one boots with its stick.
				v = guest(t, Trixie, true)
			} else {
				v = sharedGuest(t, Trixie)
				dev = plugStick(ctx, t, v, id, false)
				defer v.DetachStick(ctx, id)
			}
			sure := sureBinary(t, v.Dir)
			r, err := v.Run(ctx, fmt.Sprintf(`set -e
mkfs.vfat -n EJECT /dev/%[1]s >/dev/null
mkdir -p /mnt/%[2]s; mount /dev/%[1]s /mnt/%[2]s
echo hello > /mnt/%[2]s/x
set +e
%[3]s eject /mnt/%[2]s; echo "exit $?"
test -e /sys/block/%[1]s && echo "still in /sys/block"
true`, dev, id, sure))
			if err != nil {
				t.Fatal(err)
			}
			out := r.Output
			t.Logf("%s:\n%s", tr.name, out)
			if !strings.Contains(out, "exit 0") || strings.Contains(out, "still in /sys/block") ||
				!strings.Contains(out, "safe to remove /dev/"+dev+"\n") || strings.Contains(out, "NOT safe") {
				t.Fatalf("sure eject on %s did not remove /dev/%s", tr.name, dev)
			}
			for _, want := range []string{
				"SCSI SYNCHRONIZE CACHE /dev/" + dev + ": the drive wrote its cache to the media",
				"SCSI PREVENT ALLOW MEDIUM REMOVAL (allow) /dev/" + dev + ": the drive unlocked its medium",
				"SCSI START STOP UNIT (stop, eject) /dev/" + dev + ": the drive stopped and released its medium",
				"power off /dev/" + dev + ": USB device ",
				"/dev/" + dev + " is gone from /sys/block",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("no step %q", want)
				}
			}
			if i, j := strings.Index(out, "MEDIUM REMOVAL"), strings.Index(out, "START STOP UNIT"); i < 0 || j < i {
				t.Errorf("the medium was not unlocked before the stop")
			}
		})
	}
}

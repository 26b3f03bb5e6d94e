//go:build linux

package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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

// desktopSetup starts, in a guest without an init system, what a desktop
// runs for a stick: the system bus, udevd (with the device database
// filled), polkitd with a rule granting user the udisks2 actions as a
// desktop grants its active session, and udisksd. It also makes the
// user's runtime directory, as logind would.
func desktopSetup(user string, uid int) string {
	return fmt.Sprintf(`set -e
mkdir -p /run/sure-rules /run/dbus /run/udisks2-lib /run/user/%[2]d
chown %[2]d:%[2]d /run/user/%[2]d; chmod 700 /run/user/%[2]d
cat > /run/sure-rules/50-sure-test.rules <<'R'
polkit.addRule(function(action, subject) {
	if (action.id.indexOf("org.freedesktop.udisks2.") == 0 && subject.user == "%[1]s")
		return polkit.Result.YES;
});
R
mount --bind /run/sure-rules /etc/polkit-1/rules.d
mount --bind /run/udisks2-lib /var/lib/udisks2
dbus-daemon --system --fork
export SYSTEMD_IGNORE_CHROOT=1
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add
udevadm settle
setsid /usr/lib/polkit-1/polkitd --no-debug > /tmp/polkitd.log 2>&1 < /dev/null &
setsid /usr/libexec/udisks2/udisksd --no-debug > /tmp/udisksd.log 2>&1 < /dev/null &
n=0
until udisksctl info -b /dev/sda > /dev/null 2>&1; do
	n=$((n+1)); [ $n -gt 600 ] && { echo "udisksd did not come up"; cat /tmp/udisksd.log; exit 1; }
	sleep 0.1
done
echo desktop up`, user, uid)
}

// desktopMkfs formats a stick with label SURETEST (%s: the disk).
var desktopMkfs = map[string]string{
	"vfat":  "mkfs.vfat -F 32 -n SURETEST /dev/%s >/dev/null",
	"exfat": "mkfs.exfat -L SURETEST /dev/%s >/dev/null",
	"ntfs3": "mkntfs -Q -F -L SURETEST /dev/%s >/dev/null",
}

// desktopIDType is the file-system type udisks2 reports for each stick.
var desktopIDType = map[string]string{"vfat": "vfat", "exfat": "exfat", "ntfs3": "ntfs"}

// udisksSees waits until udisksd shows dev as a file system of type
// idType labelled SURETEST. udevadm settle does not wait for udisksd,
// which learns of the new file system from udev's event after it, and the
// disk's name may be one udisksd last knew with another stick in it.
func udisksSees(ctx context.Context, t *testing.T, v *VM, dev, idType string) {
	t.Helper()
	out, err := v.MustRun(ctx, fmt.Sprintf(`udevadm trigger --action=change --settle /dev/%[1]s
i=0
while [ $i -lt 200 ]; do
	info=$(udisksctl info -b /dev/%[1]s 2>&1)
	if printf '%%s\n' "$info" | grep -q '^ *IdUsage: *filesystem$' &&
		printf '%%s\n' "$info" | grep -q '^ *IdType: *%[2]s$' &&
		printf '%%s\n' "$info" | grep -q '^ *IdLabel: *SURETEST$'; then
		exit 0
	fi
	i=$((i+1))
	sleep 0.05
done
printf '%%s\n' "$info"
exit 1`, dev, idType))
	if err != nil {
		t.Fatalf("udisksd does not show /dev/%s as %s SURETEST: %v\n%s", dev, idType, err, out)
	}
}

// TestDesktopFlow is a desktop user's session with a vfat, an exfat and
// an ntfs3 stick (one guest, the sticks plugged in one after the other),
// no root anywhere: udisksctl mount, sure cp -r and sure mv onto it (each
// ending with a FLUSH the drive completed after the last write), sure
// status (yes after sure's flush, though the user cannot read the
// device's page cache; not yes after touch -d, after a plain cp, or
// while a writer holds unwritten data), and sure eject, which powers
// the drive off through UDisks2 and says "safe to remove" once the disk is
// gone.
func TestDesktopFlow(t *testing.T) {
	v := guest(t, Trixie, false)
	ctx := context.Background()
	sure := sureBinary(t, v.Dir)
	user, err := v.MustRun(ctx, fmt.Sprintf("getent passwd %d | cut -d: -f1", userID))
	if err != nil || strings.TrimSpace(user) == "" {
		t.Skipf("no user with uid %d on this host: %v", userID, err)
	}
	user = strings.TrimSpace(user)
	if out, err := v.MustRun(ctx, desktopSetup(user, userID)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	as := func(script string) func() (Result, error) {
		return func() (Result, error) {
			return v.RunAs(ctx, userID, userID, fmt.Sprintf("export XDG_RUNTIME_DIR=/run/user/%d\n%s", userID, script))
		}
	}
	for i, fs := range []string{"vfat", "exfat", "ntfs3"} {
		t.Run(fs, func(t *testing.T) {
			if !v.Kernel.HasModule(fs) {
				t.Skipf("kernel %s has no %s", v.Kernel.Version, fs)
			}
			dev := "sda"
			if i > 0 {
				id := "desk" + fs
				dev = plugStick(ctx, t, v, id, false)
				defer v.DetachStick(ctx, id)
			}
			desktopFlow(ctx, t, v, as, sure, user, fs, dev)
		})
	}
}

// pullStatus runs script as the user, ending with sure status, and checks
// its answer: yes (exit 0), or else exit 1 and an answer that starts
// with one of want's alternatives (a regexp).
func pullStatus(ctx context.Context, t *testing.T, as func(string) func() (Result, error), script, when, want string) {
	t.Helper()
	r, err := as(script)()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sure status %s (%d):\n%s", when, r.Status, r.Output)
	status := 1
	if want == "yes" {
		status = 0
	}
	if r.Status != status || !regexp.MustCompile(`can I pull it now\? (`+want+`)`).MatchString(r.Output) {
		t.Errorf("sure status %s exited %d, want %d and %q", when, r.Status, status, want)
	}
}

func desktopFlow(ctx context.Context, t *testing.T, v *VM, as func(string) func() (Result, error), sure, user, fs, dev string) {
	mm, err := v.MustRun(ctx, fmt.Sprintf(`set -e
`+desktopMkfs[fs]+`
udevadm settle
rm -rf /tmp/src /tmp/mvsrc; mkdir -p /tmp/src/a/b /tmp/src/c
i=0
while [ $i -lt 24 ]; do
	i=$((i+1))
	head -c $((i*3000)) /dev/urandom > /tmp/src/a/f$i
	[ $((i%%4)) = 0 ] && head -c 100 /dev/urandom > /tmp/src/a/b/g$i
done
echo hello > /tmp/src/c/h
cp -r /tmp/src /tmp/mvsrc
head -c 100000 /dev/urandom > /tmp/one
chown -R %d /tmp/src /tmp/mvsrc /tmp/one
tr : , < /sys/block/%s/dev`, dev, userID, dev))
	if err != nil {
		t.Fatal(err)
	}
	// The disk's major,minor is the script's last line.
	mm = strings.TrimSpace(mm)
	mm = mm[strings.LastIndex(mm, "\n")+1:]
	udisksSees(ctx, t, v, dev, desktopIDType[fs])
	r, err := as("udisksctl mount -b /dev/" + dev)()
	if err != nil {
		t.Fatal(err)
	}
	mnt := "/media/" + user + "/SURETEST"
	if r.Status != 0 || !strings.Contains(r.Output, mnt) {
		t.Fatalf("udisksctl mount (%d): %s", r.Status, r.Output)
	}
	if out, err := v.MustRun(ctx, "stat -c %u "+mnt); err != nil || strings.TrimSpace(out) != fmt.Sprint(userID) {
		t.Fatalf("%s is owned by %q (%v), not the user", mnt, out, err)
	}
	for _, c := range []struct{ name, cmd string }{
		{"sure cp -r", fmt.Sprintf("%s cp -r /tmp/src %s/cp", sure, mnt)},
		{"sure mv", fmt.Sprintf("%s mv /tmp/mvsrc %s/mv", sure, mnt)},
	} {
		r, evs, err := v.Trace(ctx, mm, as(c.cmd))
		if err != nil {
			t.Fatal(err)
		}
		ok, writes, flushes := Covered(evs)
		t.Logf("%s %s as %s: %d writes, %d FLUSH, last write covered: %v; %s", fs, c.name, user, writes, flushes, ok, strings.TrimSpace(r.Output))
		if r.Status != 0 || writes == 0 || !ok {
			t.Errorf("%s exited %d (%s) with %d writes and %d FLUSH requests, the last write covered: %v", c.name, r.Status, strings.TrimSpace(r.Output), writes, flushes, ok)
		}
	}
	pullStatus(ctx, t, as, fmt.Sprintf("%s status %s/cp", sure, mnt), "after sure mv", "yes")
	pullStatus(ctx, t, as, fmt.Sprintf("touch -d '2000-01-02 03:04' %[2]s/cp/c/h && %[1]s status %[2]s/cp", sure, mnt), "after touch -d", "no|flush first")
	// Reading moves access times, which dirties inodes too: compare only
	// after the answers that must be yes.
	if _, err := v.MustRun(ctx, fmt.Sprintf("cmp /tmp/src/a/f24 %[1]s/cp/a/f24 && cmp /tmp/src/c/h %[1]s/mv/c/h && ! test -e /tmp/mvsrc", mnt)); err != nil {
		t.Error(err)
	}
	pullStatus(ctx, t, as, fmt.Sprintf("%[1]s sync %[2]s && %[1]s status %[2]s", sure, mnt), "after sure sync", "yes")
	if fs == "vfat" {
		// A mode change leaves only the file's directory entry dirty: no
		// dirty page, and no newer change time, which FAT does not keep
		// (touch is written at once: udisks2 mounts FAT with "flush").
		// Only the write-back check sees it.
		pullStatus(ctx, t, as, fmt.Sprintf("chmod a-w %[2]s/cp/c/h && %[1]s status %[2]s", sure, mnt), "after chmod a-w", "no: syncfs of")
	}
	pullStatus(ctx, t, as, fmt.Sprintf("cp /tmp/one %[2]s/one && %[1]s status %[2]s/one", sure, mnt), "after a plain cp", "no")
	// A writer that has written and still holds its file open.
	pullStatus(ctx, t, as, fmt.Sprintf(`%[1]s sync %[2]s || exit 2
rm -f /tmp/wrote
( exec 3>%[2]s/w; head -c 2000000 /dev/urandom >&3; : > /tmp/wrote; exec sleep 600 ) & pid=$!
while [ ! -e /tmp/wrote ]; do sleep 0.1; done
%[1]s status %[2]s; st=$?
kill $pid; wait
exit $st`, sure, mnt), "while a writer holds unwritten data", "no")
	// sure devices and sure doctor see what sysfs shows anyone.
	facts := fmt.Sprintf("%[1]s devices > /tmp/facts.$(id -u) 2>&1; %[1]s doctor %[2]s >> /tmp/facts.$(id -u) 2>&1; true", sure, mnt)
	if _, err := v.MustRun(ctx, facts); err != nil {
		t.Fatal(err)
	}
	if _, err := as(facts)(); err != nil {
		t.Fatal(err)
	}
	// Only root may read debugfs, where the bdi figures come from; they
	// and the whole system's dirty bytes move from one moment to the next.
	if d, err := v.Run(ctx, fmt.Sprintf("f() { grep -v -e '^  bdi ' -e '(debugfs)$' -e '(/proc/meminfo)$' /tmp/facts.$1 > /tmp/facts.$1.cmp; }\nf 0; f %d; diff /tmp/facts.0.cmp /tmp/facts.%[1]d.cmp", userID)); err != nil {
		t.Fatal(err)
	} else if d.Status != 0 {
		t.Errorf("sure devices and doctor differ, root (<) and the user (>):\n%s", d.Output)
	}
	r, err = as(fmt.Sprintf("%[1]s eject /dev/%[2]s; echo \"exit $?\"; test -e /sys/block/%[2]s && echo 'still in /sys/block'; true", sure, dev))()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sure eject as %s:\n%s", user, r.Output)
	if !strings.Contains(r.Output, "exit 0") || !strings.Contains(r.Output, "safe to remove /dev/"+dev+"\n") ||
		strings.Contains(r.Output, "still in /sys/block") || !strings.Contains(r.Output, "through UDisks2: Drive.PowerOff") {
		t.Errorf("sure eject as the user did not power the stick off through UDisks2")
	}
}

//go:build linux

package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/lab/vdisk"
)

// fsckScript repairs a crash image the way a desktop user would before
// trusting it.
var fsckScript = map[string]string{
	"vfat":  "fsck.vfat -a /dev/%s",
	"exfat": "fsck.exfat -y /dev/%s",
	"ntfs3": "ntfsfix -d /dev/%s",
}

// cutAfter runs command (sh, as uid, $SRC and $DST set) on a fresh fs
// stick whose image is served by lab/vdisk, so that a guest FLUSH (qemu's
// fdatasync, FUSE_FSYNC) is the only barrier; cuts the power as soon as it
// returns, keeping only what the last FLUSH covered; then checks the crash
// image in another guest (fsck, mount with the in-kernel driver, compare). It returns the files of
// the source tree and how many are missing or differ.
func cutAfter(t *testing.T, suite, fs string, uid int, command string) (files, lost int) {
	files, lost, _, _ = cutTrial(t, suite, fs, uid, command, false)
	return files, lost
}

// ackedFiles lists the destinations of the 'src' -> 'dst' lines of
// sure -v: files it reported durable.
func ackedFiles(out string) []string {
	var l []string
	for _, m := range ackLine.FindAllStringSubmatch(out, -1) {
		l = append(l, m[1])
	}
	return l
}

var ackLine = regexp.MustCompile(`(?m)^'[^']*' -> '([^']*)'$`)

// cutTrial is cutAfter, or with during the cut comes at the first file
// the command acknowledges (sure -v's lines); it then also returns the
// acknowledged files and how many of them the crash image lost.
func cutTrial(t *testing.T, suite, fs string, uid int, command string, during bool) (files, lost, acked, ackedLost int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the VM lab needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, suite)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d, err := vdisk.Start(vdisk.Config{Dir: filepath.Join(dir, "vdisk"), Size: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sure := sureBinary(t, dir)
	v, err := Boot(ctx, Config{Kernel: k, Dir: dir, Stick: &Stick{Image: d.Image}})
	if err != nil {
		t.Fatal(err)
	}
	mountStick(ctx, t, v, fs, fmt.Sprintf("uid=%d,gid=%d", uid, uid))
	if _, err := v.MustRun(ctx, fmt.Sprintf(`set -e
mkdir -p /tmp/src/a /tmp/src/b
i=0
while [ $i -lt 30 ]; do
	i=$((i+1))
	head -c $((i*2000)) /dev/urandom > /tmp/src/a/f$i
	[ $((i%%3)) = 0 ] && head -c 300 /dev/urandom > /tmp/src/b/g$i
done
chown -R %d:%d /tmp/src
cd /tmp/src && find . -type f | sort | xargs md5sum > %s/sums`, uid, uid, dir)); err != nil {
		t.Fatal(err)
	}
	script := "SRC=/tmp/src DST=/mnt/s/dst SURE=" + sure + "\n" + command
	var j *Job
	if uid == 0 {
		j, err = v.Start(script)
	} else {
		j, err = v.StartAs(uid, uid, script)
	}
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	var ackList []string
	if during {
		// Cut at the first file the command acknowledges, or when it ends.
		for !j.Done() {
			if ackList = ackedFiles(j.Output()); len(ackList) > 0 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
		v.Kill()
		r.Output = j.Output()
		ackList = ackedFiles(r.Output)
	} else {
		r, err = j.Wait(ctx)
		// The cut: qemu stops at once; the disk keeps what was flushed.
		v.Kill()
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 0 {
			t.Fatalf("%s exited %d: %s", command, r.Status, r.Output)
		}
	}
	crash := filepath.Join(dir, "crash.img")
	if _, err := d.Cut(vdisk.CutOptions{Out: crash, Mode: vdisk.CutNone}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// Checked in another guest, which never had that file system mounted.
	w := sharedGuest(t, suite)
	dev, err := w.AttachStick(ctx, "crash", Stick{Image: crash})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		w.MustRun(ctx, "umount /mnt/c 2>/dev/null; true")
		if err := w.DetachStick(ctx, "crash"); err != nil {
			t.Error(err)
		}
	}()
	var ackSums strings.Builder
	sums, err := os.ReadFile(filepath.Join(dir, "sums"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ackList {
		rel, ok := strings.CutPrefix(a, "/mnt/s/dst/")
		if !ok {
			t.Fatalf("acknowledged %q, outside the destination", a)
		}
		found := false
		for _, line := range strings.Split(string(sums), "\n") {
			if strings.HasSuffix(line, "  ./"+rel) {
				ackSums.WriteString(line + "\n")
				found = true
			}
		}
		if !found {
			t.Fatalf("acknowledged %q, not in the source", a)
		}
	}
	// The checking guest sees its own share only.
	sumsFile, ackedFile := filepath.Join(w.Dir, "sums"), filepath.Join(w.Dir, "acked")
	if err := os.WriteFile(sumsFile, sums, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ackedFile, []byte(ackSums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := w.MustRun(ctx, fmt.Sprintf(`%s >/dev/null 2>&1
mkdir -p /mnt/c && mount -t %s /dev/%s /mnt/c || { dmesg | tail -5; exit 1; }
wc -l < %s
cd /mnt/c/dst 2>/dev/null || { echo 0 0; exit 0; }
md5sum -c %s 2>/dev/null | grep -c ': OK$'
md5sum -c %s 2>/dev/null | grep -c ': OK$'
true`, fmt.Sprintf(fsckScript[fs], dev), fs, dev, sumsFile, sumsFile, ackedFile))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) != 3 {
		t.Fatalf("checking the crash image: %q", out)
	}
	files, _ = strconv.Atoi(f[0])
	ok, _ := strconv.Atoi(f[1])
	ackedOK, _ := strconv.Atoi(f[2])
	if files == 0 {
		t.Fatalf("no source files: %q", out)
	}
	when := "right after it returned"
	if during {
		when = fmt.Sprintf("at its first acknowledged file (%d acknowledged by then; it had ended: %v)", len(ackList), j.Done())
	}
	t.Logf("%s on %s (%s), cut %s: %d of %d files lost, %d of %d acknowledged ones; output %q", command, fs, k.Version, when, files-ok, files, len(ackList)-ackedOK, len(ackList), lastLines(r.Output, 2))
	return files, files - ok, len(ackList), len(ackList) - ackedOK
}

// TestPowerCutAfterReturn cuts the stick's power right after a command
// returns: sure cp -r, as a normal user with no access to the device,
// loses nothing; cp -r && sync -f, whose syncfs sends a vfat stick no
// FLUSH, loses files, which shows the rig cuts. SURE_VM_LONG=1 adds exfat
// and ntfs3.
func TestPowerCutAfterReturn(t *testing.T) {
	fss := []string{"vfat"}
	if os.Getenv("SURE_VM_LONG") != "" {
		fss = append(fss, "exfat", "ntfs3")
	}
	for _, fs := range fss {
		t.Run(fs, func(t *testing.T) {
			t.Run("sure cp", func(t *testing.T) {
				if _, lost := cutAfter(t, Trixie, fs, userID, `"$SURE" cp -r "$SRC" "$DST"`); lost != 0 {
					t.Errorf("sure cp -r returned, then the cut lost %d files", lost)
				}
			})
			t.Run("cp sync -f", func(t *testing.T) {
				files, lost := cutAfter(t, Trixie, fs, userID, `cp -r "$SRC" "$DST" && sync -f "$DST"`)
				if fs == "vfat" && lost == 0 {
					t.Errorf("cp -r && sync -f lost none of %d files on vfat: the cut did not cut", files)
				}
			})
		})
	}
}

// TestPowerCutAtFirstAck cuts the power at the first file sure cp -rv
// lists as durable, as a normal user on vfat: every file it listed must be
// on the crash image, intact.
func TestPowerCutAtFirstAck(t *testing.T) {
	_, _, acked, lost := cutTrial(t, Trixie, "vfat", userID, `exec "$SURE" cp -rv "$SRC" "$DST"`, true)
	if acked == 0 {
		t.Fatal("sure cp -rv listed no file")
	}
	if lost != 0 {
		t.Errorf("%d of the %d files sure cp -v listed as durable were lost", lost, acked)
	}
}

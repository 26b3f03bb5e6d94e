//go:build linux

package vm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/tail"
	"github.com/sure-tools/sure/lab/vdisk"
)

// fsckScript repairs a crash image the way a desktop user would before
// trusting it.
var fsckScript = map[string]string{
	"vfat":  "fsck.vfat -a /dev/%s",
	"exfat": "fsck.exfat -y /dev/%s",
	"ntfs3": "ntfsfix -d /dev/%s",
	"ext4":  "e2fsck -p /dev/%s",
}

// cutCase is one power-cut trial: command (sh, as uid, with $SRC, $DST
// and $SURE set) on a fresh fs stick whose image is served by lab/vdisk,
// so that a guest FLUSH (qemu's fdatasync, FUSE_FSYNC) is the only
// barrier.
type cutCase struct {
	suite, fs string
	uid       int
	command   string
	// move puts the source tree on the host's share, which keeps what
	// the guest removed when the power goes: a file gone from both
	// places is lost.
	move bool
	// during cuts while the command runs, on a stick slowed down so that
	// the cut falls inside the run: once at files were acknowledged
	// (sure -v's lines; 0: from the start) or the command ended, after
	// delay. Otherwise the cut comes when the command returns.
	during bool
	at     int
	delay  time.Duration
}

// cutResult is what the crash image kept.
type cutResult struct {
	files     int // in the source tree
	lost      int // missing from the stick or not intact there
	torn      int // present at their final names with other content
	acked     int // listed by sure -v before the cut
	ackedLost int // of those, not intact on the stick
	lostBoth  int // moves: intact neither on the stick nor in the source
	ended     bool
	output    string
}

// cutAfter cuts right after command returns and checks the crash image:
// the files of the source tree and how many are missing or differ.
func cutAfter(t *testing.T, suite, fs string, uid int, command string) (files, lost int) {
	r := cutRun(t, cutCase{suite: suite, fs: fs, uid: uid, command: command})
	return r.files, r.lost
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

// cutRun runs one trial: the cut keeps only what the last FLUSH covered
// (CutNone); another guest, which never had the file system mounted,
// checks the crash image (fsck, mount with the in-kernel driver, compare
// every file with its source).
func cutRun(t *testing.T, c cutCase) cutResult {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the VM lab needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, c.suite)
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
	// FAT, exFAT and NTFS take their owner from the mount, ext4 from
	// the root directory.
	opts, own := fmt.Sprintf("uid=%d,gid=%d", c.uid, c.uid), ""
	if c.fs == "ext4" {
		opts, own = "", fmt.Sprintf("chown %d:%d /mnt/s", c.uid, c.uid)
	}
	mountStick(ctx, t, v, c.fs, opts)
	src := "/tmp/src"
	if c.move {
		src = filepath.Join(dir, "src")
	}
	if _, err := v.MustRun(ctx, fmt.Sprintf(`set -e
mkdir -p %[4]s/a %[4]s/b
i=0
while [ $i -lt 30 ]; do
	i=$((i+1))
	head -c $((i*2000)) /dev/urandom > %[4]s/a/f$i
	[ $((i%%3)) = 0 ] && head -c 300 /dev/urandom > %[4]s/b/g$i
done
chown -R %[1]d:%[2]d %[4]s
%[5]s
cd %[4]s && find . -type f | sort | xargs md5sum > %[3]s/sums`, c.uid, c.uid, dir, src, own)); err != nil {
		t.Fatal(err)
	}
	if c.during {
		// A slow stick (1 MB/s, a FLUSH taking 10 ms), so that the cut
		// falls inside the run, with files not yet durable.
		if err := d.SetFaults(vdisk.Faults{BandwidthMBps: 1, FlushLatency: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	script := "SRC=" + src + " DST=/mnt/s/dst SURE=" + sure + "\n" + c.command
	var j *Job
	if c.uid == 0 {
		j, err = v.Start(script)
	} else {
		j, err = v.StartAs(c.uid, c.uid, script)
	}
	if err != nil {
		t.Fatal(err)
	}
	var res cutResult
	if c.during {
		for !j.Done() && len(ackedFiles(j.Output())) < c.at {
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
		// Where the cut falls varies; what it must keep does not.
		time.Sleep(c.delay)
		res.ended = j.Done()
		v.Kill()
		res.output = j.Output()
	} else {
		r, err := j.Wait(ctx)
		// The cut: qemu stops at once; the disk keeps what was flushed.
		v.Kill()
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 0 {
			t.Fatalf("%s exited %d: %s", c.command, r.Status, r.Output)
		}
		res.ended, res.output = true, r.Output
	}
	ackList := ackedFiles(res.output)
	crash := filepath.Join(dir, "crash.img")
	if _, err := d.Cut(vdisk.CutOptions{Out: crash, Mode: vdisk.CutNone}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	sums, err := os.ReadFile(filepath.Join(dir, "sums"))
	if err != nil {
		t.Fatal(err)
	}
	// Checked in another guest, which never had that file system mounted.
	w := sharedGuest(t, c.suite)
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
	// The checking guest sees its own share only.
	sumsFile := filepath.Join(w.Dir, "sums")
	if err := os.WriteFile(sumsFile, sums, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := w.MustRun(ctx, fmt.Sprintf(`%s >/dev/null 2>&1
mkdir -p /mnt/c && mount -t %s /dev/%s /mnt/c || { dmesg | tail -5; exit 1; }
cd /mnt/c/dst 2>/dev/null || exit 0
md5sum -c %s 2>/dev/null
true`, fmt.Sprintf(fsckScript[c.fs], dev), c.fs, dev, sumsFile))
	if err != nil {
		t.Fatal(err)
	}
	// md5sum -c says OK, FAILED (other content) or FAILED open or read.
	state := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if name, st, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(name, "./") {
			state[name[2:]] = st
		}
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		if _, name, ok := strings.Cut(l, "  ./"); ok {
			names = append(names, name)
		}
	}
	res.files = len(names)
	if res.files == 0 {
		t.Fatalf("no source files: %q", sums)
	}
	for _, name := range names {
		switch state[name] {
		case "OK":
			continue
		case "FAILED":
			res.torn++
		}
		res.lost++
		if c.move {
			if _, err := os.Lstat(filepath.Join(src, name)); os.IsNotExist(err) {
				res.lostBoth++
			}
		}
	}
	for _, a := range ackList {
		rel, ok := strings.CutPrefix(a, "/mnt/s/dst/")
		if !ok {
			t.Fatalf("acknowledged %q, outside the destination", a)
		}
		if _, ok := state[rel]; !ok {
			t.Fatalf("acknowledged %q, not in the source", a)
		}
		res.acked++
		if state[rel] != "OK" {
			res.ackedLost++
		}
	}
	when := "right after it returned"
	if c.during {
		when = fmt.Sprintf("%v after its %dth acknowledged file (it had ended: %v)", c.delay, c.at, res.ended)
		if c.at == 0 {
			when = fmt.Sprintf("%v after it started (it had ended: %v)", c.delay, res.ended)
		}
	}
	t.Logf("%s on %s (%s), cut %s: %d of %d files lost (%d torn, %d from both places), %d of %d acknowledged ones; output %q",
		c.command, c.fs, k.Version, when, res.lost, res.files, res.torn, res.lostBoth, res.ackedLost, res.acked, tail.Lines(res.output, 2))
	return res
}

// TestPowerCutAfterReturn cuts the stick's power right after a command
// returns: sure cp -r, as a normal user with no access to the device,
// loses nothing; cp -r && sync -f, whose syncfs sends a vfat stick no
// FLUSH, loses files, which shows the rig cuts. SURE_VM_LONG=1 adds exfat,
// ntfs3 and ext4 on 6.12, and vfat, exfat and ext4 on 6.1.
func TestPowerCutAfterReturn(t *testing.T) {
	for _, k := range longSuites([]string{"vfat"}, []string{"exfat", "ntfs3", "ext4"}, []string{"vfat", "exfat", "ext4"}) {
		t.Run(k.suite+"/"+k.fs, func(t *testing.T) {
			t.Run("sure cp", func(t *testing.T) {
				if _, lost := cutAfter(t, k.suite, k.fs, userID, `"$SURE" cp -r "$SRC" "$DST"`); lost != 0 {
					t.Errorf("sure cp -r returned, then the cut lost %d files", lost)
				}
			})
			t.Run("cp sync -f", func(t *testing.T) {
				files, lost := cutAfter(t, k.suite, k.fs, userID, `cp -r "$SRC" "$DST" && sync -f "$DST"`)
				if k.fs == "vfat" && lost == 0 {
					t.Errorf("cp -r && sync -f lost none of %d files on vfat: the cut did not cut", files)
				}
			})
		})
	}
}

type suiteFS struct{ suite, fs string }

// longSuites is the default suite's file systems on 6.12, and with
// SURE_VM_LONG=1 more on 6.12 and others on 6.1 (which has no ntfs3).
func longSuites(def, trixie, bookworm []string) []suiteFS {
	var l []suiteFS
	for _, fs := range def {
		l = append(l, suiteFS{Trixie, fs})
	}
	if os.Getenv("SURE_VM_LONG") == "" {
		return l
	}
	for _, fs := range trixie {
		l = append(l, suiteFS{Trixie, fs})
	}
	for _, fs := range bookworm {
		l = append(l, suiteFS{Bookworm, fs})
	}
	return l
}

// TestPowerCutAtFirstAck cuts the power at the first file sure cp -rv
// lists as durable, as a normal user on vfat: every file it listed must be
// on the crash image, intact.
func TestPowerCutAtFirstAck(t *testing.T) {
	r := cutRun(t, cutCase{suite: Trixie, fs: "vfat", uid: userID, command: `exec "$SURE" cp -rv "$SRC" "$DST"`, during: true, at: 1})
	if r.acked == 0 {
		t.Fatal("sure cp -rv listed no file")
	}
	if r.ackedLost != 0 {
		t.Errorf("%d of the %d files sure cp -v listed as durable were lost", r.ackedLost, r.acked)
	}
}

// TestPowerCutDuringRun cuts the power while sure cp -rv or sure mv -v
// runs, as a normal user, in batches of 6 files so that a run goes through
// several barriers, on a stick slowed to 1 MB/s with 10 ms FLUSHes. The
// cut comes at a point drawn from the seed: after the n-th listed file
// (or the end) plus up to 60 ms, or up to 2.5 s after the start. Every file listed
// must be intact on the stick, no final name may hold other content, and
// after mv no file may be gone from both places. The default suite runs
// three trials; SURE_VM_LONG=1 runs 3 seeds of both commands on vfat,
// exfat, ntfs3 and ext4 on 6.12 and on vfat, exfat and ext4 on 6.1.
func TestPowerCutDuringRun(t *testing.T) {
	type trial struct {
		suite, fs, verb string
		seed            uint64
	}
	trials := []trial{{Trixie, "vfat", "mv", 2}, {Trixie, "exfat", "cp", 1}, {Trixie, "ntfs3", "mv", 3}}
	if os.Getenv("SURE_VM_LONG") != "" {
		trials = nil
		for _, k := range longSuites([]string{"vfat", "exfat", "ntfs3", "ext4"}, nil, []string{"vfat", "exfat", "ext4"}) {
			for _, verb := range []string{"cp", "mv"} {
				for seed := uint64(1); seed <= 3; seed++ {
					trials = append(trials, trial{k.suite, k.fs, verb, seed})
				}
			}
		}
	}
	for _, tr := range trials {
		t.Run(fmt.Sprintf("%s/%s/%s/%d", tr.suite, tr.fs, tr.verb, tr.seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(tr.seed, 0))
			flags := "-rv"
			if tr.verb == "mv" {
				flags = "-v"
			}
			c := cutCase{suite: tr.suite, fs: tr.fs, uid: userID, move: tr.verb == "mv", during: true,
				command: fmt.Sprintf(`exec "$SURE" %s %s --batch-files 6 "$SRC" "$DST"`, tr.verb, flags)}
			// Odd seeds cut after a listed file, even ones at an instant
			// from the start, which may come before anything was listed.
			if tr.seed%2 == 1 {
				c.at, c.delay = 1+rnd.IntN(12), time.Duration(rnd.IntN(60))*time.Millisecond
			} else {
				c.delay = time.Duration(rnd.IntN(2500)) * time.Millisecond
			}
			r := cutRun(t, c)
			if c.at > 0 && r.acked == 0 {
				t.Fatalf("sure %s listed no file before the cut: the trial proved nothing", tr.verb)
			}
			if r.ackedLost != 0 || r.torn != 0 || r.lostBoth != 0 {
				t.Errorf("sure %s: %d of %d listed files lost, %d torn, %d lost from both places", tr.verb, r.ackedLost, r.acked, r.torn, r.lostBoth)
			}
		})
	}
}

// TestPowerCutMovePeer shows that the move oracle sees losses: coreutils
// mv removes each source once copied and syncs nothing, so a cut right
// after it returns loses files from both places. SURE_VM_LONG=1 adds
// exfat, ntfs3 and ext4 on 6.12, and vfat, exfat and ext4 on 6.1.
func TestPowerCutMovePeer(t *testing.T) {
	for _, k := range longSuites([]string{"vfat"}, []string{"exfat", "ntfs3", "ext4"}, []string{"vfat", "exfat", "ext4"}) {
		t.Run(k.suite+"/"+k.fs, func(t *testing.T) {
			r := cutRun(t, cutCase{suite: k.suite, fs: k.fs, uid: userID, move: true, command: `mv "$SRC" "$DST" 2>/dev/null; true`})
			if r.lostBoth == 0 {
				t.Errorf("mv lost %d of %d files, none from both places: the cut or the check does not work", r.lost, r.files)
			}
		})
	}
}

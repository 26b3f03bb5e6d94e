//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// A destination that goes away in the middle of a copy: read-only (ext4
// remounts itself read-only on an error, as a failing stick makes it do),
// or pulled out (the virtual stick, yanked). sure must exit 1, every file
// it reported durable must be intact when the file system is mounted
// again on a fresh loop device, no final name may hold anything partial,
// the summary must count exactly the files reported, and a temporary file
// it could not remove must be named, never claimed removed.

// makeSource writes n files of 64 KiB into a new directory src.
func makeSource(t *testing.T, n int) string {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := writeRandom(filepath.Join(src, fmt.Sprintf("f%04d", i)), 64<<10); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

type midCopy struct {
	reported [][2]string // src, dst of each durable line
	stderr   string
	code     int
	finished bool // the copy ended before the fault reached it
}

// copyUntil runs sure cp -rv one file per batch and calls fault, with the
// running sure, at the first durable line. A dirty budget of 1 MiB keeps
// the worker within 16 files of 64 KiB of what the device has taken, so
// that on a slow stick most files are still to come when the fault hits.
func copyUntil(t *testing.T, src, dst string, fault func(sure *os.Process)) midCopy {
	cmd := exec.Command(sureBinary(t), "cp", "-r", "-v", "--batch-files", "1", "--workers", "1", "--max-dirty", "1M", src, dst)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var m midCopy
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		d := durableLine.FindStringSubmatch(sc.Text())
		if d == nil {
			t.Errorf("unexpected output line %q", sc.Text())
			continue
		}
		if len(m.reported) == 0 {
			fault(cmd.Process)
		}
		m.reported = append(m.reported, [2]string{d[1], d[2]})
	}
	cmd.Wait()
	m.code, m.stderr = cmd.ProcessState.ExitCode(), stderr.String()
	m.finished = m.code == 0
	return m
}

var summaryDurable = regexp.MustCompile(`(?m)^sure: .*?([0-9]+) files? failed \(see above\); ([0-9]+) files?, .* durable`)

// checkOutcome checks the copy against the source after the file system
// came back at mnt (dst there).
func checkOutcome(t *testing.T, m midCopy, src, dst string, liveMnt, mnt string, tempsAllowed bool) {
	t.Helper()
	if m.code != exitFailed {
		t.Fatalf("sure exited with %d, want %d; stderr:\n%s", m.code, exitFailed, m.stderr)
	}
	s := summaryDurable.FindStringSubmatch(m.stderr)
	if s == nil {
		t.Fatalf("no summary naming failed and durable files; stderr:\n%s", m.stderr)
	}
	if n, _ := strconv.Atoi(s[2]); n != len(m.reported) {
		t.Errorf("the summary counts %d files durable, %d were reported", n, len(m.reported))
	}
	rebase := func(p string) string { return filepath.Join(mnt, strings.TrimPrefix(p, liveMnt)) }
	for _, r := range m.reported {
		a, err := entry(r[0])
		if err != nil {
			t.Fatal(err)
		}
		if b, err := entry(rebase(r[1])); err != nil || a != b {
			t.Errorf("%s was reported durable, but after remounting it is %s (%v); its source is %s", r[1], b, err, a)
		}
	}
	got, err := tree(rebase(dst))
	if err != nil {
		t.Fatal(err)
	}
	for p, e := range got {
		if e == "dir" {
			continue
		}
		if strings.HasPrefix(filepath.Base(p), ".sure-") {
			if !tempsAllowed && !strings.Contains(m.stderr, filepath.Base(p)) {
				t.Errorf("temporary file %s left and not named in the messages", p)
			}
			continue
		}
		if se, err := entry(filepath.Join(src, p)); err != nil || se != e {
			t.Errorf("%s: %s under a final name, but its source is %s (%v)", p, e, se, err)
		}
	}
	// A temporary file is never claimed removed when it was not.
	if strings.Contains(m.stderr, "temporary file") && !strings.Contains(m.stderr, "could not be removed") {
		t.Errorf("the messages speak of temporary files without saying they were left:\n%s", m.stderr)
	}
	t.Logf("%d files reported durable; stderr:\n%s", len(m.reported), m.stderr)
}

// checkCutShort checks that sure stopped at the dead destination instead
// of failing each of the remaining files with the same error: the files
// in flight fail, each with its line, but some files are never tried, and
// the summary says the copy stopped.
func checkCutShort(t *testing.T, m midCopy, files int) {
	t.Helper()
	failures := 0
	for _, l := range strings.Split(m.stderr, "\n") {
		if strings.HasPrefix(l, "sure: cp: ") {
			failures++
		}
	}
	if failures+len(m.reported) >= files {
		t.Errorf("%d failure lines and %d files reported durable, for %d files: the copy went on after the destination died:\n%s", failures, len(m.reported), files, m.stderr)
	}
	if !strings.Contains(m.stderr, "stopped: the destination ") || !strings.Contains(m.stderr, "the remaining files were not tried") {
		t.Errorf("the summary does not say the copy stopped at the destination:\n%s", m.stderr)
	}
}

func TestDestinationGoesReadOnly(t *testing.T) {
	fsimage.Require(t, "ext4")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "ext4.img"), filepath.Join(dir, "mnt")
	if err := fsimage.Create("ext4", img, 64<<20); err != nil {
		t.Fatal(err)
	}
	// What a kernel does when a stick fails under ext4: errors=remount-ro.
	if out, err := exec.Command("tune2fs", "-e", "remount-ro", img).CombinedOutput(); err != nil {
		t.Fatalf("tune2fs: %v: %s", err, out)
	}
	os.Mkdir(mnt, 0o755)
	live, err := fsimage.MountImage("ext4", img, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Unmount() })
	src := makeSource(t, 300)
	dst := filepath.Join(mnt, "dst")
	// `mount -o remount,ro` is refused (EBUSY) while sure holds a file
	// open for writing; an ext4 error is not, and is what a failing
	// stick causes.
	trigger := filepath.Join("/sys/fs/ext4", filepath.Base(live.Device), "trigger_fs_error")
	m := copyUntil(t, src, dst, func(*os.Process) {
		if err := os.WriteFile(trigger, []byte("1"), 0o200); err != nil {
			t.Errorf("making %s read-only: %v", mnt, err)
		}
	})
	if m.finished {
		t.Fatalf("the copy finished before the file system went read-only:\n%s", m.stderr)
	}
	if !strings.Contains(m.stderr, "read-only file system") {
		t.Errorf("the messages do not name the cause:\n%s", m.stderr)
	}
	checkCutShort(t, m, 300)
	// Temporary files it could not remove are still on the read-only
	// mount: each must be named, with the cause.
	left := findTemps(dst)
	for _, p := range left {
		if !strings.Contains(m.stderr, "temporary file '"+p+"' could not be removed: read-only file system") {
			t.Errorf("temporary file %s is left, and no message says so", p)
		}
	}
	t.Logf("%d temporary files left on the read-only file system", len(left))
	if err := live.Unmount(); err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(dir, "again")
	os.Mkdir(again, 0o755)
	m2, err := fsimage.MountImage("ext4", img, again)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Unmount()
	checkOutcome(t, m, src, dst, mnt, again, false)
}

func TestStickYanked(t *testing.T) {
	stick := vstick.New(t, "ext4", 64<<20)
	dir, mnt, disk := t.TempDir(), stick.Dir, stick.Disk
	src := makeSource(t, 300)
	dst := filepath.Join(mnt, "dst")
	crash := filepath.Join(dir, "after.img")
	// A slow stick: the 19 MiB take about a second, so the pull comes
	// with most of the files still to copy.
	stick.Faults(t, vdisk.Faults{BandwidthMBps: 20})
	m := copyUntil(t, src, dst, func(*os.Process) {
		// The stick as it is when pulled: what its last flush made
		// durable; every later I/O fails.
		if _, err := disk.Cut(vdisk.CutOptions{Out: crash, Mode: vdisk.CutNone, Yank: true}); err != nil {
			t.Errorf("yank: %v", err)
		}
	})
	if m.finished {
		t.Fatalf("the copy finished before the stick was pulled:\n%s", m.stderr)
	}
	// EIO from the device; ext4 may abort its journal on it first and
	// answer EROFS from then on.
	if !strings.Contains(m.stderr, "input/output error") && !strings.Contains(m.stderr, "read-only file system") {
		t.Errorf("the messages do not name the cause:\n%s", m.stderr)
	}
	checkCutShort(t, m, 300)
	stick.Remove(t)
	// Plugged in again: the image on a fresh loop device.
	again := filepath.Join(dir, "again")
	os.Mkdir(again, 0o755)
	m2, err := fsimage.MountImage("ext4", crash, again)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Unmount()
	// Temporary files made durable before the pull stay on the stick; the
	// next run into the directory removes them.
	checkOutcome(t, m, src, dst, mnt, again, true)
}

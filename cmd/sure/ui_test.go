//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

type event struct {
	Event         string `json:"event"`
	Time          string `json:"time"`
	Src, Dst      string
	Path          string
	Error         string
	Level         string
	Files         *int
	ExitCode      int    `json:"exit_code"`
	TotalOnDevice int64  `json:"total_on_device"`
	DestMount     string `json:"dest_mount"`
}

// sure cp -r --json on a real ext4: every line is one JSON object; started
// comes first and finished last; one durable per file, with its paths;
// every on_device of a file before its durable; an unreadable source is
// an error event with its path and cause; the level is durable.
func TestJSONStream(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	src := filepath.Join(t.TempDir(), "src")
	want := map[string]bool{}
	for i := range 20 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%02d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := writeRandom(p, int64(1000+i*200_000)); err != nil {
			t.Fatal(err)
		}
		want[p] = true
	}
	dst := filepath.Join(m.Dir, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sureBinary(t), "cp", "-r", "--json", src, "/proc/self/mem", dst)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailed {
		t.Fatalf("exit: %v, want %d; stderr:\n%s", err, exitFailed, stderr.String())
	}
	var evs []event
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if e.Event == "" || e.Time == "" {
			t.Fatalf("line %q has no event or time", sc.Text())
		}
		evs = append(evs, e)
	}
	if len(evs) < 2 || evs[0].Event != "started" || evs[len(evs)-1].Event != "finished" {
		t.Fatalf("stream does not run from started to finished: %+v", evs)
	}
	durable := map[string]bool{}
	onDevice := 0
	var errs []event
	for _, e := range evs[1 : len(evs)-1] {
		switch e.Event {
		case "started", "finished":
			t.Fatalf("a second %s", e.Event)
		case "on_device":
			onDevice++
			if durable[e.Path] {
				t.Errorf("on_device of %s after its durable", e.Path)
			}
		case "durable":
			if durable[e.Dst] {
				t.Errorf("%s durable twice", e.Dst)
			}
			durable[e.Dst] = true
			rel, _ := filepath.Rel(dst, e.Dst)
			if !want[filepath.Join(filepath.Dir(src), rel)] || e.Src != filepath.Join(filepath.Dir(src), rel) {
				t.Errorf("durable %s -> %s: not a file of the job", e.Src, e.Dst)
			}
			delete(want, e.Src)
		case "error":
			errs = append(errs, e)
		}
	}
	if len(want) > 0 {
		t.Errorf("no durable event for %v", want)
	}
	if onDevice == 0 {
		t.Log("no on_device events: the copier reports no L1 progress")
	}
	if len(errs) != 1 || errs[0].Src != "/proc/self/mem" || !strings.Contains(errs[0].Error, "input/output error") {
		t.Errorf("error events %+v, want one for /proc/self/mem with its cause", errs)
	}
	fin := evs[len(evs)-1]
	if fin.Level != "durable" || fin.ExitCode != exitFailed || fin.Files == nil || *fin.Files != 20 || fin.DestMount != m.Dir {
		t.Errorf("finished %+v: want level durable, exit 1, 20 files on %s", fin, m.Dir)
	}
}

// A job refused before it starts (a usage error) still ends its stream,
// with level none.
func TestJSONUsage(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte("b"), 0o644)
	cmd := exec.Command(sureBinary(t), "cp", "--json", filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "a"))
	out, _ := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var last event
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if last.Event != "finished" || last.Level != "none" || last.ExitCode != exitUsage {
		t.Fatalf("last event %+v, want finished, level none, exit %d", last, exitUsage)
	}
}

// With stderr not a terminal: no escape sequences, and no more progress
// lines than the job's few seconds allow (one per ten seconds).
func TestPlainProgress(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	src := filepath.Join(t.TempDir(), "src")
	os.Mkdir(src, 0o755)
	for i := range 50 {
		if err := writeRandom(filepath.Join(src, fmt.Sprintf("f%02d", i)), 300_000); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sureBinary(t), "cp", "-r", src, filepath.Join(m.Dir, "dst"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if bytes.ContainsAny(stderr.Bytes(), "\x1b\r") {
		t.Fatalf("escape or carriage return on a non-terminal stderr: %q", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "sure: 50 files, 14.3 MiB durable on "+m.Dir) {
		t.Fatalf("last line %q", last)
	}
	if len(lines) > 4 {
		t.Fatalf("%d lines for a 50-file copy:\n%s", len(lines), stderr.String())
	}
}

// On a terminal (a pty made by script(1)): the bar with its phase, the
// bytes on device, and the final line saying what is durable; colour
// unless NO_COLOR is set.
func TestBarOnTerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) from util-linux is not installed")
	}
	m := fsimage.ForTest(t, "ext4")
	src := filepath.Join(t.TempDir(), "src")
	os.Mkdir(src, 0o755)
	if err := writeRandom(filepath.Join(src, "big"), 20<<20); err != nil {
		t.Fatal(err)
	}
	for i, noColor := range []bool{false, true} {
		line := fmt.Sprintf("stty cols 150 rows 40; exec %s cp -r %s %s", sureBinary(t), src, filepath.Join(m.Dir, fmt.Sprint("dst", i)))
		cmd := exec.Command("script", "-q", "-e", "-c", line, "/dev/null")
		cmd.Env = append(os.Environ(), "TERM=xterm")
		if noColor {
			cmd.Env = append(cmd.Env, "NO_COLOR=1")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		s := string(out)
		for _, w := range []string{"] 20.0 MiB of 20.0 MiB on device, 1/1 durable", "sure: 1 file, 20.0 MiB durable on " + m.Dir} {
			if !strings.Contains(s, w) {
				t.Errorf("NO_COLOR=%v: %q missing from the terminal's output:\n%q", noColor, w, s)
			}
		}
		if hasColor := strings.Contains(s, "\x1b[3"); hasColor == noColor {
			t.Errorf("NO_COLOR=%v, colour escapes present: %v", noColor, hasColor)
		}
	}
}

// On an 80-column terminal every line of the drawing fits, and each
// figure is said once: the bar never wraps into a second line.
func TestBarFits80Columns(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) from util-linux is not installed")
	}
	// A stick at 16 MB/s: the copy takes two seconds, and the bar is
	// drawn mid-way with a rate, a time left and a file name to fit.
	m := vstick.New(t, "ext4", 256<<20)
	if err := m.Disk.SetFaults(vdisk.Faults{BandwidthMBps: 16}); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	os.Mkdir(src, 0o755)
	// A long name: the tail must drop it rather than wrap.
	long := strings.Repeat("a-rather-long-file-name-", 4)
	for i := range 8 {
		if err := writeRandom(filepath.Join(src, fmt.Sprintf("%s%d", long, i)), 4<<20); err != nil {
			t.Fatal(err)
		}
	}
	line := fmt.Sprintf("stty cols 80 rows 24; exec %s cp -r %s %s", sureBinary(t), src, filepath.Join(m.Dir, "dst"))
	cmd := exec.Command("script", "-q", "-e", "-c", line, "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	csi := regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	plain := csi.ReplaceAllString(string(out), "")
	bars := 0
	for _, l := range strings.FieldsFunc(plain, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if n := utf8.RuneCountInString(l); n > 80 && !strings.HasPrefix(l, "sure: ") {
			t.Errorf("a line of the drawing is %d columns wide on an 80-column terminal: %q", n, l)
		}
		if strings.Contains(l, "on device") {
			bars++
			if c := strings.Count(l, "on device"); c != 1 {
				t.Errorf("the bar says \"on device\" %d times: %q", c, l)
			}
			if !strings.Contains(l, "durable") {
				t.Errorf("the bar does not count durable files: %q", l)
			}
		}
	}
	if bars < 2 {
		t.Fatalf("the bar was drawn %d times, want it mid-way too:\n%q", bars, out)
	}
}

// The rate shown is the device's recent one: after a fast start and a
// few seconds at a tenth of the speed, the meter reads the slow rate, not
// the average since the start.
func TestRateIsRecent(t *testing.T) {
	var r rateMeter
	t0 := time.Unix(1000, 0)
	var n int64
	at := t0
	for range 200 { // 20 s at 100 MB/s
		at = at.Add(100 * time.Millisecond)
		n += 10_000_000
		r.add(n, at)
	}
	if r.rate < 99e6 || r.rate > 101e6 {
		t.Fatalf("steady 100 MB/s read as %.0f B/s", r.rate)
	}
	for range 40 { // 4 s at 10 MB/s
		at = at.Add(100 * time.Millisecond)
		n += 1_000_000
		r.add(n, at)
	}
	if r.rate < 9.9e6 || r.rate > 10.1e6 {
		t.Errorf("after 4 s at 10 MB/s the rate reads %.0f B/s (the average since the start is %.0f)", r.rate, float64(n)/at.Sub(t0).Seconds())
	}
}

// A write that reaches the drive with no trace in the file system (here
// straight to the device, in ext4's unused boot sector) may be only in
// the drive's cache: status must say so.
func TestStatusDriveWrittenSinceFlush(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	if err := os.WriteFile(filepath.Join(m.Dir, "f"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	sure := sureBinary(t)
	if out, err := exec.Command(sure, "sync", m.Dir).CombinedOutput(); err != nil {
		t.Fatalf("sync: %v: %s", err, out)
	}
	if out, err := exec.Command(sure, "status", m.Dir).CombinedOutput(); err != nil {
		t.Fatalf("status after sync: %v: %s", err, out)
	}
	dev, err := os.OpenFile(m.Device, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	aligned := buf[4096-int(uintptr(unsafe.Pointer(&buf[0]))&4095):][:512]
	if _, err := dev.WriteAt(aligned, 0); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	out, err := exec.Command(sure, "status", m.Dir).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "completed writes after its last flush") {
		t.Fatalf("status after a write to the drive: %v:\n%s", err, out)
	}
}

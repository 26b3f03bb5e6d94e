//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// TestInterrupt stops a copy with SIGINT once the first file is reported
// durable: sure exits 130, says it was interrupted, leaves no temporary
// file, and every file it reported durable (and every file under a final
// name at all) is complete. It copies into a directory of the test's and
// onto exFAT.
func TestInterrupt(t *testing.T) {
	for _, kind := range []string{"local", "exfat"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			if kind != "local" {
				dir = fsimage.ForTest(t, kind).Dir
			}
			src := filepath.Join(t.TempDir(), "src")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			made := 0
			// If the copy ends before the signal lands, try again with a
			// larger job: the outcome, not the timing, is what is tested.
			for attempt, n := 0, 1000; ; attempt, n = attempt+1, n*4 {
				if attempt == 3 {
					t.Fatalf("the copy of %d files always finished before SIGINT reached it", made)
				}
				for ; made < n; made++ {
					if err := writeRandom(filepath.Join(src, fmt.Sprintf("f%05d", made)), int64(1024+made%7*4096)); err != nil {
						t.Fatal(err)
					}
				}
				dst := filepath.Join(dir, fmt.Sprintf("dst%d", attempt))
				if interrupted := interruptCopy(t, src, dst); interrupted {
					return
				}
			}
		})
	}
}

// interruptCopy runs sure cp -r src dst, sends SIGINT at its first durable
// line and checks the outcome. It returns false if the copy completed.
func interruptCopy(t *testing.T, src, dst string) bool {
	m := copyUntil(t, src, dst, func(sure *os.Process) {
		if err := sure.Signal(syscall.SIGINT); err != nil {
			t.Logf("SIGINT: %v", err)
		}
	})
	code, reported := m.code, m.reported
	if code == 0 {
		t.Logf("copy of %s completed before SIGINT: %s", src, m.stderr)
		return false
	}
	if code != exitInterrupted {
		t.Fatalf("sure exited with %d, want %d; stderr:\n%s", code, exitInterrupted, m.stderr)
	}
	if !strings.Contains(m.stderr, "interrupted") {
		t.Errorf("stderr does not say interrupted:\n%s", m.stderr)
	}
	if len(reported) == 0 {
		t.Fatal("no file reported durable")
	}
	if temps := findTemps(dst); len(temps) > 0 {
		t.Errorf("temporary files left after SIGINT: %s", strings.Join(temps, ", "))
	}
	for _, r := range reported {
		a, err := entry(r[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := entry(r[1])
		if err != nil || a != b {
			t.Errorf("%s reported durable, but it is %s (%v); its source %s is %s", r[1], b, err, r[0], a)
		}
	}
	// Nothing partial under any final name either.
	copied, err := tree(dst)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for p, e := range copied {
		if e == "dir" {
			continue
		}
		files++
		if se, err := entry(filepath.Join(src, p)); err != nil || se != e {
			t.Errorf("%s: %s, but its source is %s (%v)", filepath.Join(dst, p), e, se, err)
		}
	}
	t.Logf("%d files reported durable, %d in place; stderr:\n%s", len(reported), files, m.stderr)
	return true
}

var summaryInterrupted = regexp.MustCompile(`(?m)^sure: interrupted; (?:.*; )?([0-9]+) files?, [^;]* durable`)

// TestDoubleSIGTERM stops a copy and a move as `timeout -s TERM` does:
// SIGTERM to sure, then at once to its process group, which sure is in.
// The two are one request. Once sure says it is stopping, a third SIGTERM
// comes, as from an impatient supervisor: while sure cleans up, that one
// must not kill it either. sure must exit 130 with its summary and leave
// no temporary file; every file it reported durable is intact, and after
// a move every other file is still intact in the source.
func TestDoubleSIGTERM(t *testing.T) {
	for _, verb := range []string{"cp", "mv"} {
		t.Run(verb, func(t *testing.T) { doubleSIGTERM(t, verb) })
	}
}

func doubleSIGTERM(t *testing.T, verb string) {
	stick := vstick.New(t, "ext4", 128<<20)
	src := makeSource(t, 600)
	before, err := tree(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(stick.Dir, "dst")
	// A slow stick: the 38 MiB take about 4 seconds, so the job is still
	// running at the first durable line. Batches of 16 files keep
	// temporary files staged at any time.
	stick.Faults(t, vdisk.Faults{BandwidthMBps: 10})
	args := []string{verb, "-v", "--batch-files", "16", "--max-dirty", "2M", src, dst}
	if verb == "cp" {
		args = append([]string{"cp", "-r"}, args[1:]...)
	}
	cmd := exec.Command(sureBinary(t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	term := func(to int) {
		if err := unix.Kill(to, unix.SIGTERM); err != nil {
			t.Errorf("SIGTERM to %d: %v", to, err)
		}
	}
	var stderr strings.Builder
	noticed := false
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if !noticed && strings.HasPrefix(sc.Text(), "sure: "+verb+": stopping: ") {
				noticed = true
				term(-pid)
			}
		}
	}()
	reported := map[string]bool{} // names under src and dst
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		d := durableLine.FindStringSubmatch(sc.Text())
		if d == nil {
			t.Errorf("unexpected output line %q", sc.Text())
			continue
		}
		if len(reported) == 0 {
			term(pid)
			term(-pid)
		}
		rel, err := filepath.Rel(src, d[1])
		if err != nil || filepath.Join(dst, rel) != d[2] {
			t.Errorf("unexpected durable line %q", sc.Text())
			continue
		}
		reported[rel] = true
	}
	<-stderrDone
	cmd.Wait()
	code, errOut := cmd.ProcessState.ExitCode(), stderr.String()
	t.Logf("%s, %d files reported durable; stderr:\n%s", cmd.ProcessState, len(reported), errOut)
	if code == 0 {
		t.Fatal("the job finished before SIGTERM reached it")
	}
	if code != exitInterrupted {
		t.Errorf("sure ended with %s, want exit status %d", cmd.ProcessState, exitInterrupted)
	}
	if !noticed {
		t.Errorf("sure did not say it was stopping")
	}
	if s := summaryInterrupted.FindStringSubmatch(errOut); s == nil {
		t.Errorf("no summary saying interrupted and what is durable")
	} else if n, _ := strconv.Atoi(s[1]); n != len(reported) {
		t.Errorf("the summary counts %d files durable, %d were reported", n, len(reported))
	}
	if temps := findTemps(dst); len(temps) > 0 {
		t.Errorf("%d temporary files left after SIGTERM, such as %s", len(temps), temps[0])
	}
	for rel, want := range before {
		if want == "dir" {
			continue
		}
		if reported[rel] {
			if got, err := entry(filepath.Join(dst, rel)); err != nil || got != want {
				t.Errorf("%s reported durable, but it is %s (%v); its source was %s", filepath.Join(dst, rel), got, err, want)
			}
		}
		if verb == "mv" {
			_, err := os.Lstat(filepath.Join(src, rel))
			switch {
			case reported[rel] && err == nil:
				t.Errorf("%s is durable at its new place, but its source is still there", rel)
			case !reported[rel]:
				if got, err := entry(filepath.Join(src, rel)); err != nil || got != want {
					t.Errorf("%s was not reported durable, and its source is now %s (%v), was %s", rel, got, err, want)
				}
			}
		}
	}
}

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// TestResumeAfterKill kills a copy (SIGKILL, no cleanup) at its tenth
// durable line and runs it again: the rerun copies none of the files the
// first run reported durable, copies every other one, and copies again a
// finished file the user changed in between (same size, time put back)
// and one whose source changed. Onto ext4 (syncfs) and exFAT (per file).
func TestResumeAfterKill(t *testing.T) {
	for _, kind := range []string{"ext4", "exfat"} {
		t.Run(kind, func(t *testing.T) {
			stick := vstick.New(t, kind, 128<<20)
			src := makeSource(t, 200)
			// Into an existing directory, so that the same command
			// names the same target again.
			dst := filepath.Join(stick.Dir, "dst")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			// Slow enough that most files are still to come at the kill.
			stick.Faults(t, vdisk.Faults{BandwidthMBps: 10})
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
			first := map[string]bool{} // destination names reported durable
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				d := durableLine.FindStringSubmatch(sc.Text())
				if d == nil {
					continue
				}
				first[d[2]] = true
				if len(first) == 10 {
					cmd.Process.Kill()
				}
			}
			cmd.Wait()
			if cmd.ProcessState.Success() {
				t.Fatalf("the copy finished before it was killed:\n%s", stderr.String())
			}
			if len(first) >= 200 {
				t.Fatalf("all %d files were reported before the kill", len(first))
			}
			stick.Faults(t, vdisk.Faults{})
			if _, err := os.Stat(filepath.Join(dst, copier.JournalName)); err != nil {
				t.Fatalf("no journal after the kill: %v", err)
			}

			// The user changes one finished copy, keeping its size and
			// time, and the source of another.
			var changedDst, changedSrc string
			for name := range first {
				switch {
				case changedDst == "":
					changedDst = name
				case changedSrc == "":
					changedSrc = name
				}
			}
			overwriteKeepTime(t, changedDst)
			overwriteKeepTime(t, filepath.Join(src, filepath.Base(changedSrc)))

			rerun := exec.Command(sureBinary(t), "cp", "-r", "-v", src, dst)
			var rerr bytes.Buffer
			rerun.Stderr = &rerr
			rout, err := rerun.Output()
			if err != nil {
				t.Fatalf("rerun: %v\n%s", err, rerr.String())
			}
			again := map[string]bool{}
			for _, l := range strings.Split(string(rout), "\n") {
				if d := durableLine.FindStringSubmatch(l); d != nil {
					again[d[2]] = true
				}
			}
			for name := range first {
				want := name == changedDst || name == changedSrc
				if again[name] != want {
					t.Errorf("%s: copied again %v, want %v", name, again[name], want)
				}
			}
			// The first run may have finished more than was read before
			// the kill hit: those are kept too, and said so.
			kept := summaryKept.FindStringSubmatch(rerr.String())
			if kept == nil {
				t.Fatalf("rerun does not say what it kept:\n%s", rerr.String())
			}
			if n, _ := strconv.Atoi(kept[1]); n+len(again) != 200 || n < len(first)-2 {
				t.Errorf("rerun copied %d files and kept %d; %d were reported durable before the kill", len(again), n, len(first))
			}
			a, err := tree(src)
			if err != nil {
				t.Fatal(err)
			}
			b, err := tree(filepath.Join(dst, "src"))
			if err != nil {
				t.Fatal(err)
			}
			for p, e := range a {
				if b[p] != e {
					t.Errorf("%s: %s, source %s", p, b[p], e)
				}
			}
			if _, err := os.Stat(filepath.Join(dst, copier.JournalName)); err == nil {
				t.Errorf("the journal is left after the complete rerun")
			}
			t.Logf("%d files durable before the kill; rerun copied %d:\n%s", len(first), len(again), rerr.String())
		})
	}
}

var summaryKept = regexp.MustCompile(`([0-9]+) files? already complete from an earlier run`)

// overwriteKeepTime gives path other content of the same size and puts
// its modification time back.
func overwriteKeepTime(t *testing.T, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, time.Time{}, fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

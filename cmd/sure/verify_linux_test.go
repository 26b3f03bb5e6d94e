//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
	"github.com/sure-tools/sure/readback"
)

// makeTree writes n small files and one big one under dir, the same bytes
// for the same names (writeRandom), and returns their relative names.
func makeTree(t *testing.T, dir string, n int, small, big int64) []string {
	t.Helper()
	var names []string
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		names = append(names, fmt.Sprintf("sub/s%02d", i))
	}
	if big > 0 {
		names = append(names, "big")
	}
	for _, rel := range names {
		size := small
		if rel == "big" {
			size = big
		}
		if err := writeRandom(filepath.Join(dir, rel), size); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// runSure runs the sure binary and returns its exit code, stdout and
// stderr.
func runSure(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(sureBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("sure %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

var mismatchLine = regexp.MustCompile(`(?m)^sure: (?:cp|mv): not verified: '([^']*)' (?:read back|could not|cannot)`)

// onDevice reports whether path, read back from its device, holds the
// content of ref.
func onDevice(t *testing.T, path, ref string) bool {
	t.Helper()
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	r := readback.New()
	if err := r.Invalidate(path); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, err = r.Copy(&got, path)
	return err == nil && bytes.Equal(got.Bytes(), want)
}

// TestVerifyCatchesFlips copies onto a stick that silently flips a bit in
// some of the writes it stores. The page cache holds the right bytes, so
// only a read from the device shows the damage: --verify must exit 3 and
// name exactly the files the device holds wrong; with mv their sources
// stay and only the verified ones are removed.
func TestVerifyCatchesFlips(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		for _, verb := range []string{"cp", "mv"} {
			if verb == "mv" && kind != "ext4" && kind != "exfat" {
				continue
			}
			t.Run(kind+"/"+verb, func(t *testing.T) {
				s := vstick.New(t, kind, 0)
				src := filepath.Join(t.TempDir(), "src")
				ref := filepath.Join(t.TempDir(), "ref")
				names := makeTree(t, src, 12, 6000, 6<<20)
				makeTree(t, ref, 12, 6000, 6<<20)
				// Writes reach the stick in pieces of up to 1 MiB, and
				// several small files share one: every third write leaves
				// the big file flipped a few times and most small ones
				// intact.
				s.Faults(t, vdisk.Faults{FlipEvery: 3})
				args := []string{verb, "--verify", src, s.Dir}
				if verb == "cp" {
					args = []string{verb, "-r", "--verify", src, s.Dir}
				}
				code, _, stderr := runSure(t, args...)
				s.Faults(t, vdisk.Faults{})
				st, _ := s.Disk.Stats()
				t.Logf("stick: %d writes, %d bit flips", st.Writes, st.BitFlips)
				if code != exitMismatch {
					t.Fatalf("exit %d, want %d (mismatch)", code, exitMismatch)
				}
				named := map[string]bool{}
				for _, m := range mismatchLine.FindAllStringSubmatch(stderr, -1) {
					named[m[1]] = true
				}
				if !named[filepath.Join(s.Dir, "src", "big")] {
					t.Errorf("the big file, which took several flips, is not named")
				}
				verified := 0
				for _, rel := range names {
					dst := filepath.Join(s.Dir, "src", rel)
					intact := onDevice(t, dst, filepath.Join(ref, rel))
					if intact == named[dst] {
						t.Errorf("%s: intact on the device %v, named as a mismatch %v", dst, intact, named[dst])
					}
					if intact {
						verified++
					}
					if verb != "mv" {
						continue
					}
					_, err := os.Stat(filepath.Join(src, rel))
					if kept := err == nil; kept != named[dst] {
						t.Errorf("%s: source kept %v, mismatched %v: mv must keep exactly the sources of mismatched copies", rel, kept, named[dst])
					}
				}
				if verified == 0 {
					t.Fatal("no file came through intact: the test shows nothing about good files")
				}
				if want := fmt.Sprintf(", %d verified (read back from the device)", verified); !strings.Contains(stderr, want) {
					t.Errorf("summary does not say %q", want)
				}
			})
		}
	}
}

// TestVerifyCatchesFakeCapacity copies onto a stick that stores only part
// of what it claims (writes past the real capacity wrap onto the start,
// the way counterfeit sticks lose data): files written early are
// overwritten by later ones, and --verify must say so.
func TestVerifyCatchesFakeCapacity(t *testing.T) {
	for _, kind := range []string{"ext4", "exfat"} {
		t.Run(kind, func(t *testing.T) {
			s := vstick.New(t, kind, 128<<20)
			src := filepath.Join(t.TempDir(), "src")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if err := writeRandom(filepath.Join(src, fmt.Sprintf("f%d", i)), 8<<20); err != nil {
					t.Fatal(err)
				}
			}
			s.Faults(t, vdisk.Faults{Capacity: 40 << 20})
			code, _, stderr := runSure(t, "cp", "-r", "--verify", src, s.Dir)
			s.Faults(t, vdisk.Faults{})
			if code != exitMismatch {
				t.Fatalf("exit %d, want %d", code, exitMismatch)
			}
			if !mismatchLine.MatchString(stderr) {
				t.Fatal("no file named as differing")
			}
		})
	}
}

// TestYankReplugResume pulls the stick in the middle of a copy, once the
// first files are reported durable, plugs the image the pull left back in
// (checked and repaired as a computer would) and runs the same command
// again: it must finish with every file intact, no temporary file left,
// and every file reported durable before the pull found complete, not
// copied again. exFAT keeps times too coarse for -a's test, so there the
// job resumes by content (--checksum).
func TestYankReplugResume(t *testing.T) {
	for _, tc := range []struct {
		kind string
		args []string
	}{
		{"ext4", []string{"cp", "-a"}},
		{"exfat", []string{"cp", "-r", "--checksum"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s := vstick.New(t, tc.kind, 0)
			src := filepath.Join(t.TempDir(), "src")
			names := makeTree(t, src, 40, 256<<10, 0)
			s.Faults(t, vdisk.Faults{BandwidthMBps: 8})
			// A dirty budget of 1 MiB holds at most four staged files of
			// 256 KiB, so no batch reports more than a few files at once
			// and the pull at the fourth line comes with most of the job
			// still to do, however the batches fall.
			args := append(append([]string{}, tc.args...), "-v", "--batch-files", "4", "--workers", "2", "--max-dirty", "1M", src, s.Dir)

			cmd := exec.Command(sureBinary(t), args...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[string]bool{}
			crash := filepath.Join(t.TempDir(), "crash.img")
			sc := bufio.NewScanner(stdout)
			pulled := false
			for sc.Scan() {
				if m := durableLine.FindStringSubmatch(sc.Text()); m != nil {
					acked[m[2]] = true
				}
				if len(acked) >= 4 && !pulled {
					res := s.Pull(t, crash, 7)
					t.Logf("pulled after %d files durable; %d of %d volatile writes kept", len(acked), res.Kept, res.EpochWrites)
					pulled = true
				}
			}
			io.Copy(io.Discard, stdout)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				t.Fatalf("sure did not end after the pull: %s", stderr.String())
			}
			t.Logf("first run: %v\n%s", err, stderr.String())
			if !pulled {
				t.Fatal("the copy ended before the pull")
			}
			if err == nil {
				t.Fatal("the first run succeeded on a pulled stick")
			}
			if len(acked) >= len(names) {
				t.Fatal("every file was durable before the pull: nothing left to resume")
			}
			s.Remove(t)
			vstick.Replug(t, tc.kind, crash, s.Dir)

			code, out, errOut := runSure(t, args...)
			if code != 0 {
				t.Fatalf("rerun: exit %d", code)
			}
			dst := filepath.Join(s.Dir, "src")
			for _, rel := range names {
				a, _ := entry(filepath.Join(src, rel))
				b, err := entry(filepath.Join(dst, rel))
				if err != nil || a != b {
					t.Errorf("%s: %s, want %s (%v)", rel, b, a, err)
				}
			}
			if tmp := findTemps(s.Dir); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
			complete := map[string]bool{}
			for _, m := range regexp.MustCompile(`(?m)^skipped '([^']*)': up to date`).FindAllStringSubmatch(out, -1) {
				complete[m[1]] = true
			}
			for p := range acked {
				if !complete[p] {
					t.Errorf("%s was durable before the pull but copied again", p)
				}
			}
			if want := fmt.Sprintf("%d files already complete", len(complete)); !strings.Contains(errOut, want) || len(complete) < len(acked) {
				t.Errorf("summary does not say %q (acknowledged before the pull: %d)", want, len(acked))
			}
		})
	}
}

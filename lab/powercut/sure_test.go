//go:build linux

package powercut

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// buildSure builds the real command, so the campaigns judge what users run.
func buildSure(t *testing.T) string {
	return buildSureWith(t)
}

// buildSureWith builds the command with extra go build flags (a lab
// variant's tags).
func buildSureWith(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sure")
	args := append(append([]string{"build"}, flags...), "-o", bin, "github.com/sure-tools/sure/cmd/sure")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	return bin
}

// sureAck is the line sure cp -v and sure mv -v print for each file once
// it is durable: 'SRC' -> 'DST'.
const sureAck = `^'[^']*' -> '([^']*)'$`

// TestSureSurvivesPowerCuts is sure's promise, checked on every file
// system a stick may carry: whatever sure acknowledged survives a power
// cut at any instant, no final name ever holds a torn file, and a move
// never loses a file from both places. Cuts come right after sure returns
// (everything must be there), and at random instants while it runs,
// replacing old versions or moving. During the run, the files sure has
// already listed as durable (-v) must survive; small batches make the run
// go through many barriers, so the cut meets files at every stage of the
// pipeline (staged, renamed and waiting for the next barrier, reported).
func TestSureSurvivesPowerCuts(t *testing.T) {
	sure := buildSure(t)
	campaigns := []struct{ when, work, command string }{
		{After, Copy, sure + ` cp -r "$SRC" "$DST"`},
		{During, Overwrite, sure + ` cp -rv --batch-files 6 "$SRC" "$DST"`},
		{During, Move, sure + ` mv -v --batch-files 6 "$SRC" "$DST"`},
	}
	// Files listed as durable before a cut that came while sure ran, over
	// all file systems: a few trials on one of them may all cut before
	// sure's first report (btrfs reports its first files late), but none
	// at all would mean the per-file acknowledgement was never tested.
	ackedDuring := 0
	defer func() {
		if ackedDuring == 0 && !t.Failed() && !t.Skipped() {
			t.Error("no cut during a run found a file sure had listed as durable: the campaigns proved nothing about per-file acknowledgements")
		}
	}()
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			fsimage.Require(t, kind)
			for _, cp := range campaigns {
				c := testConfig(t, kind, cp.when, cp.work, cp.command)
				c.AckPattern = sureAck
				if cp.when == During {
					// A slow stick, so that the run lasts long enough
					// for a cut at a random instant to find files at
					// every stage.
					c.Faults = vdisk.Faults{BandwidthMBps: 10, FlushLatency: 5 * time.Millisecond}
				}
				if !long() {
					c.Trials = 4
				}
				res, err := Run(context.Background(), c)
				if err != nil {
					t.Fatal(err)
				}
				bad := res.Bad()
				if tearsReplacements(kind, cp.work, cp.when) {
					bad = res.AckedLost+res.LostBoth > 0
					if res.Torn > 0 {
						t.Logf("%s %s cut %s: %d files torn, a known gap of FAT and exFAT (README, Status): %s", cp.work, kind, cp.when, res.Torn, res.Summary())
					}
				}
				if bad {
					t.Errorf("%s %s cut %s: %s", cp.work, kind, cp.when, res.Summary())
					for _, tr := range res.Trials {
						t.Log(tr)
					}
				}
				for _, tr := range res.Trials {
					if cp.when == During && !tr.Returned {
						ackedDuring += tr.Acked
					}
					if cp.when == After && (tr.ExitCode != 0 || tr.Acked == 0) {
						t.Errorf("%s: sure exited %d and acknowledged %d files; the campaign proved nothing\n%s", kind, tr.ExitCode, tr.Acked, tr.Output)
					}
				}
			}
		})
	}
}

// tearsReplacements reports the one case where sure is known to leave a
// torn file: on FAT32 (fusefat), a power cut while files replace older
// versions can leave an old name pointing at clusters the replacement
// already freed, because fusefat frees them and rewrites the directory
// entry in separate writes, and the device takes the FAT's sectors first.
// Measured with `surelab powercut --fs vfat --when during --work overwrite
// -n 40 --seed 100 --files 40 --small-size 4096 --big-size 1048576
// --bandwidth 10 --flush-latency 5ms -- 'sure cp -r --batch-files 6 ...'`:
// 3 to 6 of 40 trials tore files, before and after the pipelined barriers.
// Files sure reported durable are never among them; that is still checked.
// exFAT (exfat-fuse) has no journal either and did it once: 1 of the 4
// trials of a default-suite run under load tore a file it was replacing;
// the same campaign then found none in 80 trials (seeds 1 and 100).
func tearsReplacements(kind, work, when string) bool {
	return (kind == "vfat" || kind == "exfat") && work == Overwrite && when == During
}

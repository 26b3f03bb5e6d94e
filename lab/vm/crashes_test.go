//go:build linux

package vm

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/lab/powercut"
)

// sureAck matches the lines of sure -v that list a file as durable.
const sureAck = `^'[^']*' -> '([^']*)'$`

// TestCrashesVFAT explores the crash states of one run each of cp -r &&
// sync -f and sure cp -rv on the 6.12 kernel's vfat, recorded and checked
// in one guest: the states of cp -r && sync -f must lose files it had
// returned from (syncfs sends a vfat stick no FLUSH), which shows that the
// explorer sees losses through the guest's mounts; sure must lose nothing
// it listed. SURE_VM_CRASH_STATES=N changes the states per run (100).
func TestCrashesVFAT(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the VM lab needs root")
	}
	states := 100
	if v := os.Getenv("SURE_VM_CRASH_STATES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("SURE_VM_CRASH_STATES=%q: %v", v, err)
		}
		states = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, Trixie)
	if err != nil {
		t.Fatal(err)
	}
	sure := sureBinary(t, t.TempDir())
	lab, err := NewCrashLab(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	explore := func(t *testing.T, command, ack string) powercut.CrashResult {
		c := CrashConfig{CrashConfig: powercut.CrashConfig{
			FS: "vfat", Work: powercut.Copy, Command: command, AckPattern: ack,
			Shape: powercut.Shape{Files: 12, MaxSmall: 4096, BigSize: 64 << 10},
			Seed:  1, States: states, Dir: t.TempDir(),
		}, Sure: sure}
		run, err := lab.Record(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if run.ExitCode != 0 {
			t.Fatalf("%s exited %d: %s", command, run.ExitCode, run.Output)
		}
		e, err := powercut.OpenExplorer(c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		b, err := e.NewBuilder(c.Dir + "/epoch.img")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		rs, err := lab.CheckStates(ctx, e, b, e.States)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Finish(0, len(e.States), rs)
		if err != nil {
			t.Fatal(err)
		}
		var w strings.Builder
		res.Report(&w, 3)
		t.Logf("%s on %s:\n%s%s", command, k.Version, w.String(), res.Summary())
		return res
	}
	t.Run("cp sync -f", func(t *testing.T) {
		res := explore(t, `cp -r "$SRC" "$DST" && sync -f "$DST"`, "")
		if res.Violations == 0 || res.Classes[powercut.ClassPrefix].AckedLost+res.Classes[powercut.ClassSubset].AckedLost == 0 {
			t.Errorf("cp -r && sync -f: %s, want files lost in the states cut after it returned", res.Summary())
		}
	})
	t.Run("sure cp", func(t *testing.T) {
		res := explore(t, `"$SURE" cp -rv --batch-files 6 "$SRC" "$DST"`, sureAck)
		if res.OwedStates == 0 {
			t.Fatalf("no state owed any file: the campaign proved nothing")
		}
		lost, both := 0, 0
		for _, cc := range res.Classes {
			lost += cc.AckedLost
			both += cc.LostBoth
		}
		if lost != 0 || both != 0 {
			t.Errorf("sure cp -rv: %d listed files lost, %d lost from both places (%s)", lost, both, res.Summary())
		}
	})
}

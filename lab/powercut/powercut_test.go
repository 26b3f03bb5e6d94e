//go:build linux

package powercut

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/fsimage"
)

// long campaigns run with SURE_LONG=1; the default suite keeps the lab to
// a few trials of a small tree per file system.
func long() bool { return os.Getenv("SURE_LONG") != "" }

func testConfig(t *testing.T, kind, when, work, command string) Config {
	c := Config{
		FS: kind, When: when, Work: work, Command: command,
		Trials: 2, Seed: 1,
		Shape: Shape{Files: 40, MaxSmall: 4096, BigSize: 1 << 20},
		Dir:   t.TempDir(),
	}
	if long() {
		c.Trials = 20
		c.Shape = DefaultShape
	}
	if testing.Verbose() {
		c.Log = testWriter{t}
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// goodCommand makes the copy durable on kind. On the kernel file systems
// syncfs sends the cache flush. exfat-fuse and fusefat never see syncfs
// (the kernel sends the FUSE server nothing), and fusefat writes nothing
// before unmount, so there only an eject is good: unmount, wait for the
// server to finish writing, fsync the block device.
func goodCommand(kind string) string {
	if kind == "exfat" || kind == "vfat" {
		return `cp -r "$SRC" "$DST" && ` + Eject
	}
	return `cp -r "$SRC" "$DST" && sync -f "$DST"`
}

// TestLabSeesLossesAndNotFalseOnes is the lab's own check: a command known
// to lose data must show losses, and one known to be durable must show
// none, on every file system. A lab that sees nothing, or sees losses
// everywhere, would make every other figure worthless.
func TestLabSeesLossesAndNotFalseOnes(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			fsimage.Require(t, kind)
			bad, err := Run(context.Background(), testConfig(t, kind, After, Copy, `cp -r "$SRC" "$DST"`))
			if err != nil {
				t.Fatal(err)
			}
			if bad.AckedLost == 0 {
				t.Errorf("cp -r without a flush, power cut after it returned: %s, want acknowledged files lost", bad.Summary())
			}
			good, err := Run(context.Background(), testConfig(t, kind, After, Copy, goodCommand(kind)))
			if err != nil {
				t.Fatal(err)
			}
			if good.Bad() {
				t.Errorf("%s: %s, want nothing lost", goodCommand(kind), good.Summary())
				for _, tr := range good.Trials {
					t.Log(tr)
				}
			}
		})
	}
}

// TestMoveWithoutFlushLosesBoth: mv across file systems deletes the source
// before the stick has flushed, so a cut right after it loses files from
// both places; a lab that reports lost_both=0 here cannot judge moves.
func TestMoveWithoutFlushLosesBoth(t *testing.T) {
	fsimage.Require(t, "ext4")
	res, err := Run(context.Background(), testConfig(t, "ext4", After, Move, `mv "$SRC" "$DST"`))
	if err != nil {
		t.Fatal(err)
	}
	if res.LostBoth == 0 {
		t.Errorf("mv, cut after it returned: %s, want files lost from both places", res.Summary())
	}
}

// TestOverwriteKeepsOldVersions: when the stick never received a flush
// after the old versions, a cut must leave exactly the old versions: no
// torn file, all acknowledged new versions lost.
func TestOverwriteKeepsOldVersions(t *testing.T) {
	fsimage.Require(t, "ext4")
	c := testConfig(t, "ext4", After, Overwrite, `cp -r "$SRC" "$DST"`)
	c.CutMode = "prefix"
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Trials {
		if tr.Epoch.EpochWrites == 0 && (tr.Torn != 0 || tr.AckedLost != tr.Acked) {
			t.Errorf("nothing reached the stick, yet the crash image is not the old tree: %v", tr)
		}
	}
	if res.AckedLost == 0 {
		t.Errorf("overwrite with cp -r, cut after: %s, want acknowledged new versions lost", res.Summary())
	}
}

// TestDuringCutsBeforeReturn checks that "during" really cuts while the
// command runs: a command that cannot finish before the cut never counts
// as acknowledged.
func TestDuringCutsBeforeReturn(t *testing.T) {
	fsimage.Require(t, "ext4")
	c := testConfig(t, "ext4", During, Copy, `cp -r "$SRC" "$DST" && sleep 30`)
	c.Calibration = 200e6 // 200 ms: the cut falls well before the sleep ends
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Trials {
		if tr.Returned || tr.Acked != 0 {
			t.Errorf("a cut during a 30 s command was counted after its return: %v", tr)
		}
	}
}

// TestDrawSpreads: the four trials of a default campaign (seeds 1 to 4),
// or any four consecutive seeds, must cut early and late in the run, tear
// and not tear, and use both cut modes; random draws once put every cut
// of seeds 1 to 4 at 82-99% of the run, never torn.
func TestDrawSpreads(t *testing.T) {
	c := Config{When: During, Calibration: time.Second}
	for first := uint64(1); first <= 100; first += 33 {
		checkSpread(t, c, first)
	}
	for seed := uint64(1); seed <= 4; seed++ {
		a, da := c.draw(seed)
		b, db := c.draw(seed)
		if a.Tear != b.Tear || a.CutMode != b.CutMode || da != db {
			t.Errorf("seed %d drew differently twice", seed)
		}
	}
}

func checkSpread(t *testing.T, c Config, first uint64) {
	t.Helper()
	var early, late, torn, whole bool
	modes := map[string]bool{}
	for seed := first; seed < first+4; seed++ {
		tr, delay := c.draw(seed)
		early = early || delay < c.Calibration/2
		late = late || delay >= c.Calibration/2
		torn = torn || tr.Tear
		whole = whole || !tr.Tear
		modes[tr.CutMode] = true
	}
	if !early || !late || !torn || !whole || len(modes) != 2 {
		t.Errorf("seeds %d-%d: early %v, late %v, torn %v, untorn %v, modes %v; want all", first, first+3, early, late, torn, whole, modes)
	}
}

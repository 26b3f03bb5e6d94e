//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestSmoke runs the smallest scenario and a small dirty-memory run end to
// end: every peer completes and copies the whole tree on both
// destinations, the report has its tables, sure's progress is never ahead
// of the stick, and the same check does catch a tool whose figure is (rsync
// counts bytes handed to the page cache). Timings are not judged.
func TestSmoke(t *testing.T) {
	fsimage.Require(t, "ext4")
	for _, tool := range []string{"rsync", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (CI must provide it)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	c, err := parseFlags([]string{"-quick", "-only", "small,dirty", "-files", "20", "-dirty-size", "24MiB", "-dir", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c.log = testLog{t}
	r, err := run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	report := r.markdown()
	t.Log("\n" + report)

	for _, d := range []string{onStick, onPlain} {
		for _, p := range r.small.peers {
			cell := r.small.cells[d][p]
			if cell == nil || cell.err != "" || len(cell.runs) != 1 {
				t.Errorf("%s on the %s: %+v", p, d, cell)
			}
		}
	}
	if len(r.small.peers) != 5 {
		t.Errorf("small files: peers %q, want sure and four others", r.small.peers)
	}
	for _, want := range []string{"### Many small files: 20 files", "| `rsync -a --fsync` |", "### Dirty memory", "Target: sure cp within", " CPU s | + kernel threads s |", "+ kernel threads: the CPU above plus"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	var sureChecked, rsyncChecked bool
	for _, row := range r.dirty.rows {
		if row.err != "" {
			t.Errorf("dirty: %s: %s", row.name, row.err)
			continue
		}
		h := row.honesty
		switch {
		case h == nil:
		case strings.HasPrefix(row.name, "sure"):
			sureChecked = true
			if h.events == 0 || h.reported != 24<<20 || h.maxAhead != 0 {
				t.Errorf("%s: %d reports, last %d, up to %d bytes ahead of the stick; want reports up to %d, never ahead", row.name, h.events, h.reported, h.maxAhead, 24<<20)
			}
		case strings.HasPrefix(row.name, "rsync"):
			rsyncChecked = true
			if h.maxAhead <= 0 {
				t.Errorf("rsync's figure counts bytes in the page cache, yet it was never seen ahead of the stick (%d reports)", h.events)
			}
		}
	}
	if !sureChecked || !rsyncChecked {
		t.Errorf("dirty: progress of sure checked %v, of rsync %v", sureChecked, rsyncChecked)
	}
}

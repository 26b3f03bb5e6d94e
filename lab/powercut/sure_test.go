//go:build linux

package powercut

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// buildSure builds the real command, so the campaigns judge what users run.
func buildSure(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sure")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sure-tools/sure/cmd/sure").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/sure: %v\n%s", err, out)
	}
	return bin
}

// TestSureSurvivesPowerCuts is sure's promise, checked on every file
// system a stick may carry: whatever sure acknowledged survives a power
// cut at any instant, no final name ever holds a torn file, and a move
// never loses a file from both places. Cuts come right after sure returns
// (everything must be there), and at random instants while it runs,
// replacing old versions or moving.
func TestSureSurvivesPowerCuts(t *testing.T) {
	sure := buildSure(t)
	campaigns := []struct{ when, work, command string }{
		{After, Copy, sure + ` cp -r "$SRC" "$DST"`},
		{During, Overwrite, sure + ` cp -r "$SRC" "$DST"`},
		{During, Move, sure + ` mv "$SRC" "$DST"`},
	}
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			fsimage.Require(t, kind)
			for _, cp := range campaigns {
				c := testConfig(t, kind, cp.when, cp.work, cp.command)
				if !long() {
					c.Trials = 4
				}
				res, err := Run(context.Background(), c)
				if err != nil {
					t.Fatal(err)
				}
				if res.Bad() {
					t.Errorf("%s %s cut %s: %s", cp.work, kind, cp.when, res.Summary())
					for _, tr := range res.Trials {
						t.Log(tr)
					}
				}
				if cp.when == After {
					for _, tr := range res.Trials {
						if tr.ExitCode != 0 || tr.Acked == 0 {
							t.Errorf("%s: sure exited %d and acknowledged %d files; the campaign proved nothing\n%s", kind, tr.ExitCode, tr.Acked, tr.Output)
						}
					}
				}
			}
		})
	}
}

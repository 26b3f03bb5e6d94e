//go:build linux

package main

import (
	"slices"
	"testing"
	"time"
)

// TestParseFlagsLists: each comma list keeps its known keys in order,
// skipping blanks, and refuses an unknown one by its flag's name.
func TestParseFlagsLists(t *testing.T) {
	c, err := parseFlags([]string{"-only", " small, ,flash", "-peers", "cp,sure", "-flash-tools", "dd", "-dests", "plain"})
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string][2][]string{
		"only":        {c.only, {"small", "flash"}},
		"peers":       {c.peers, {"cp", "sure"}},
		"flash-tools": {c.flashKeys, {"dd"}},
		"dests":       {c.dests, {"plain"}},
	} {
		if !slices.Equal(l[0], l[1]) {
			t.Errorf("-%s: %q, want %q", name, l[0], l[1])
		}
	}
	for _, c := range []struct{ flag, want string }{
		{"-only", `-only: unknown part "x" (known: small, big, photo, rss, dirty, flash)`},
		{"-peers", `-peers: unknown command "x" (known: sure, cp-sync, rsync-fsync, rsync, cp, dd)`},
		{"-dests", `-dests: unknown destination "x" (known: stick, plain)`},
	} {
		if _, err := parseFlags([]string{c.flag, "x"}); err == nil || err.Error() != c.want {
			t.Errorf("%s x: %v, want %s", c.flag, err, c.want)
		}
	}
}

// TestParseFlagsMachineIdle: the idle stretch before each run is a second
// by default, a quarter of one in quick mode, and never negative.
func TestParseFlagsMachineIdle(t *testing.T) {
	for _, c := range []struct {
		args []string
		want time.Duration
	}{
		{nil, time.Second},
		{[]string{"-quick"}, 250 * time.Millisecond},
		{[]string{"-quick", "-machine-idle", "0"}, 0},
	} {
		got, err := parseFlags(c.args)
		if err != nil {
			t.Fatal(err)
		}
		if got.idle != c.want {
			t.Errorf("%q: idle %v, want %v", c.args, got.idle, c.want)
		}
	}
	if _, err := parseFlags([]string{"-machine-idle", "-1s"}); err == nil {
		t.Error("-machine-idle -1s accepted")
	}
}

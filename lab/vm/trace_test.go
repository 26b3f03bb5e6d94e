//go:build linux

package vm

import "testing"

// TestCovered checks the ordering rule on traces of the kind the guest
// prints: a write counts as covered only by a FLUSH issued after it
// completed, and only once that FLUSH completed.
func TestCovered(t *testing.T) {
	const (
		w   = "  kworker/0:1H-136 [000] ..... 11.1: block_rq_issue: 8,0 W 65536 () 4136 + 128 be,0,4 [kworker/0:1H]\n"
		wc  = "  usb-storage-164 [000] ..... 11.2: block_rq_complete: 8,0 W () 4136 + 128 be,0,4 [0]\n"
		f   = "  kworker/0:1H-136 [000] ..... 11.3: block_rq_issue: 8,0 FF 0 () 0 + 0 none,0,0 [kworker/0:1H]\n"
		fc  = "  usb-storage-164 [000] ..... 11.4: block_rq_complete: 8,0 FF () 18446744073709551615 + 0 none,0,0 [0]\n"
		sdb = "  kworker/0:1H-136 [000] ..... 11.5: block_rq_issue: 8,16 W 512 () 0 + 1 be,0,4 [x]\n"
	)
	for _, tc := range []struct {
		name    string
		trace   string
		covered bool
		writes  int
		flushes int
	}{
		{"write, then flush", w + wc + f + fc, true, 1, 1},
		{"flush issued before the write completed", w + f + wc + fc, false, 1, 1},
		{"flush not completed", w + wc + f, false, 1, 0},
		{"no flush", w + wc, false, 1, 0},
		{"another disk's write", w + wc + f + fc + sdb, true, 1, 1},
		{"a later write", w + wc + f + fc + w + wc, false, 2, 1},
	} {
		evs, err := ParseTrace(tc.trace, "8,0")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ok, writes, flushes := Covered(evs)
		if ok != tc.covered || writes != tc.writes || flushes != tc.flushes {
			t.Errorf("%s: Covered = %v, %d writes, %d flushes; want %v, %d, %d", tc.name, ok, writes, flushes, tc.covered, tc.writes, tc.flushes)
		}
	}
	if _, err := ParseTrace("x: block_rq_issue: 8,0 W\n", "8,0"); err == nil {
		t.Error("a truncated trace line was accepted")
	}
}

func TestParseFlushes(t *testing.T) {
	n, err := parseFlushes("     104        0     4568      150       37        0     1298       58        0      180      215        0        0        0        0        5        6\n")
	if err != nil || n != 5 {
		t.Fatalf("parseFlushes = %d, %v; want 5", n, err)
	}
	if _, err := parseFlushes("1 2 3 4 5 6 7 8 9 10 11\n"); err == nil {
		t.Error("a stat of a kernel before 5.5 (11 fields) was accepted")
	}
}

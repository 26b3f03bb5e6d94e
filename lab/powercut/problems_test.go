//go:build linux

package powercut

import (
	"strings"
	"testing"
)

// TestResultStringsListFiveProblems: a trial and a crash state each name
// their first five problems a line each and count the rest.
func TestResultStringsListFiveProblems(t *testing.T) {
	ps := []string{"torn: a", "torn: b", "torn: c", "torn: d", "torn: e", "torn: f", "torn: g"}
	want := "\n  torn: a\n  torn: b\n  torn: c\n  torn: d\n  torn: e\n  ... 2 more"
	for name, s := range map[string]string{
		"trial": Trial{Mounted: true, Problems: ps}.String(),
		"state": StateResult{Mounted: true, Problems: ps}.String(),
	} {
		if !strings.HasSuffix(s, want) {
			t.Errorf("%s: %q does not end in %q", name, s, want)
		}
	}
	if s := (Trial{Mounted: true, Problems: ps[:2]}).String(); !strings.HasSuffix(s, "\n  torn: a\n  torn: b") {
		t.Errorf("two problems: %q", s)
	}
}

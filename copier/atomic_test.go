package copier

import "testing"

// TestStageNames: a staged tree's name is recognised, and is never taken
// for a temporary file (whose removal spares directories anyway).
func TestStageNames(t *testing.T) {
	n := newStageName()
	if !isStage(n) {
		t.Errorf("%s is not recognised as a staged tree", n)
	}
	for _, bad := range []string{".sure-tree-x.tmp", ".sure-0123456789abcdef.tmp", "sure-tree-0123456789abcdef.tmp"} {
		if isStage(bad) {
			t.Errorf("%s is taken for a staged tree", bad)
		}
	}
}

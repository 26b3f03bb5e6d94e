package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/sure-tools/sure/copier"
)

// TestSummaryTemps: the summary of a stopped copy counts the temporary
// files it removed only when there were some, and names those it left.
func TestSummaryTemps(t *testing.T) {
	dead := errors.New("the destination /m can no longer be written")
	for _, tc := range []struct {
		name      string
		s         copier.Summary
		verbose   []bool // the short line of a stopped copy counts no removals
		want, not []string
	}{
		{"none removed", copier.Summary{DestFailed: dead, Failed: 2}, []bool{false, true}, nil, []string{"temporary file"}},
		{"two removed", copier.Summary{DestFailed: dead, Failed: 2, Discarded: 2}, []bool{true}, []string{"2 unfinished temporary files removed"}, nil},
		{"one left", copier.Summary{DestFailed: dead, TempsLeft: []string{"/m/.sure-1.tmp"}}, []bool{false, true}, []string{" left ", "/m/.sure-1.tmp"}, []string{"removed"}},
		{"interrupted, one left", copier.Summary{Interrupted: true, TempsLeft: []string{"/m/.sure-1.tmp"}}, []bool{false}, []string{"1 left behind", "/m/.sure-1.tmp"}, []string{"removed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, verbose := range tc.verbose {
				got := summaryLine(tc.s, verbose)
				for _, w := range tc.want {
					if !strings.Contains(got, w) {
						t.Errorf("verbose %v: %q does not say %q", verbose, got, w)
					}
				}
				for _, n := range tc.not {
					if strings.Contains(got, n) {
						t.Errorf("verbose %v: %q says %q", verbose, got, n)
					}
				}
			}
		})
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/sure-tools/sure/internal/tempdir"
)

// Every page sure man writes has the sections of man-pages(7), in its
// order.
func TestManSections(t *testing.T) {
	dir := tempdir.ForTest(t)
	var out, errb bytes.Buffer
	if code := run([]string{"man", dir}, &out, &errb); code != 0 {
		t.Fatalf("sure man: exit %d: %s", code, errb.String())
	}
	want := []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"}
	sh := regexp.MustCompile(`(?m)^\.SH (.*)$`)
	for _, page := range []string{"sure.1", "sure-cp.1", "sure-mv.1", "sure-sync.1", "sure-eject.1", "sure-write.1", "sure-man.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range sh.FindAllStringSubmatch(string(b), -1) {
			got = append(got, m[1])
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: sections %q, want %q", page, got, want)
		}
	}
}

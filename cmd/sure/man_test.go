package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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

// The OPTIONS of a page say what the flags take as --help does: a flag
// without an argument shows none, an optional argument is [=NAME] with
// what the flag alone means, a required one is =NAME.
func TestManOptionsMatchHelp(t *testing.T) {
	dir := tempdir.ForTest(t)
	var out, errb bytes.Buffer
	if code := run([]string{"man", dir}, &out, &errb); code != 0 {
		t.Fatalf("sure man: exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "sure-cp.1"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		"\\fB-a\\fP, \\fB--archive\\fP\n",
		"\\fB-v\\fP, \\fB--verbose\\fP\n",
		"\\fB--reflink\\fP[=\\fIWHEN\\fP]\n",
		"without =WHEN: always",
		"\\fB-u\\fP, \\fB--update\\fP[=\\fIUPDATE\\fP]\n",
		"\\fB--max-dirty\\fP=\\fISIZE\\fP\n",
		"\\fB-t\\fP, \\fB--target-directory\\fP=\\fIDIRECTORY\\fP\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("sure-cp.1 lacks %q", want)
		}
	}
	// roff breaks before an indented line only: a plain line after the
	// list of short options would run on from its last item.
	if strings.Contains(page, "without an argument\nWith") {
		t.Errorf("sure-cp.1 runs the sentence after the short options on from the last one")
	}
	for _, bad := range []string{"[=]", "[=false]", "[=\"\"]", "=\"\"\n"} {
		if strings.Contains(page, bad) {
			t.Errorf("sure-cp.1 shows %q, which no flag takes", bad)
		}
	}
}

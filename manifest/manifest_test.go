package manifest

import (
	"strings"
	"testing"
)

func TestParseLineRoundTrip(t *testing.T) {
	var sum Sum
	for i := range sum {
		sum[i] = byte(i * 7)
	}
	for _, name := range []string{"plain", "sp ace", `back\slash`, "new\nline", `both\` + "\n", "tab\tx", "cr\rx", "d/e/f", "/abs/path", "ünï", " lead", "trail "} {
		line := FormatLine(sum, name)
		if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
			t.Fatalf("%q: line %q is not one line", name, line)
		}
		e, err := ParseLine(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if e.Path != name || e.Sum != sum {
			t.Fatalf("%q: parsed back as %q %s", name, e.Path, e.Sum)
		}
	}
}

func TestParseLineRefuses(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, line := range []string{
		"",
		h,
		h + "  ",
		h + " x",
		strings.ToUpper(h) + "  x",
		strings.Repeat("g", 64) + "  x",
		`\` + h + `  a\tb`,
		`\` + h + `  a\`,
		h + "  bad\uFFFDname",
	} {
		if e, err := ParseLine(line); err == nil {
			t.Errorf("%q parsed as %+v", line, e)
		}
	}
}

func TestNonUTF8NameIsWrittenAsB3sumDoes(t *testing.T) {
	line := FormatLine(Sum{}, "bad\xffname")
	if !strings.HasSuffix(line, "  bad\uFFFDname\n") {
		t.Fatalf("line %q", line)
	}
	if _, err := ParseLine(strings.TrimSuffix(line, "\n")); err == nil {
		t.Fatal("a line naming no file parsed")
	}
}

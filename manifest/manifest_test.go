package manifest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sure-tools/sure/readback"

	"github.com/sure-tools/sure/internal/tempdir"
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
		// On Windows a backslash separates names; the manifest writes "/".
		if want := filepath.ToSlash(name); e.Path != want || e.Sum != sum {
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

// TestCheckLongLine: a file with a line far longer than any b3sum line
// (a disk image given as the manifest) is told as one bad line, read
// without holding the line in memory, and the lines after it are read.
func TestCheckLongLine(t *testing.T) {
	name := filepath.Join(tempdir.ForTest(t), "image")
	long := bytes.Repeat([]byte{'x'}, 16<<20)
	if err := os.WriteFile(name, append(append(long, '\n'), "junk\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []Result
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := Check(context.Background(), name, readback.New(), func(r Result) { got = append(got, r) })
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Line != 1 || got[1].Line != 2 {
		t.Fatalf("results %+v, want lines 1 and 2", got)
	}
	var le *LineError
	if !errors.As(got[0].Err, &le) || !strings.Contains(le.Error(), "longer than") {
		t.Errorf("line 1: %v, want a *LineError saying it is too long", got[0].Err)
	}
	if !errors.As(got[1].Err, &le) {
		t.Errorf("line 2: %v, want a *LineError", got[1].Err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("reading a 16 MiB line allocated %d bytes", n)
	}
}

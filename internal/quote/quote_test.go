package quote

import (
	"io"
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a/b c.txt", "'a/b c.txt'"},
		{"caf\xe9", `"caf\xe9"`},
		{"x\x1b[2Jy", `"x\x1b[2Jy"`},
		{"line\nbreak", `"line\nbreak"`},
		{"été", "'été'"},
	} {
		if got := Name(c.in); got != c.want {
			t.Errorf("Name(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain\nlines\tand tabs", "plain\nlines\tand tabs"},
		{"bad \xff\xfe byte", `bad \xff\xfe byte`},
		{"esc \x1b[31mred", `esc \x1b[31mred`},
		{"été \x07", `été \a`},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain été", "plain été"},
		{"two\nlines\tand tab", `two\nlines\tand tab`},
		{"clear \x1b[2J\nsure: safe", `clear \x1b[2J\nsure: safe`},
		{"bad \xff", `bad \xff`},
	} {
		if got := Line(c.in); got != c.want {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWriter(t *testing.T) {
	var b strings.Builder
	w := Writer(&b)
	for _, s := range []string{"ok\n", "esc \x1b[2J here\n", "tab\tkept\n"} {
		if n, err := io.WriteString(w, s); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if want := "ok\nesc \\x1b[2J here\ntab\tkept\n"; b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
}

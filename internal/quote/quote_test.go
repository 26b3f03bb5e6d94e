package quote

import "testing"

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

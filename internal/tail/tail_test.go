package tail

import "testing"

func TestLines(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 1, ""},
		{"one", 1, "one"},
		{"one\ntwo\nthree\n", 1, "three"},
		{"one\ntwo\nthree\n\n  ", 2, "two\nthree"},
		{"\n one\ntwo", 5, "one\ntwo"},
	} {
		if got := Lines(c.s, c.n); got != c.want {
			t.Errorf("Lines(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

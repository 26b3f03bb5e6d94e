// Package quote shows file names and messages on a terminal without
// letting their bytes act on it: a name that is not valid UTF-8 or holds
// control characters (an escape sequence, a newline) is printed escaped,
// so the user sees which file is meant and the terminal stays sane.
package quote

import (
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name quotes a file name or path for a message: 'name' when it prints as
// itself, else Go's double-quoted form with escapes ("caf\xe9").
func Name(s string) string {
	if Clean(s) {
		return "'" + s + "'"
	}
	return strconv.Quote(s)
}

// Clean reports whether s is valid UTF-8 without control or other
// non-printing characters.
func Clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// Text makes a whole message safe to print: bytes that are not UTF-8 become
// \xNN and control characters other than newline and tab become escapes,
// while everything else, line breaks included, stays as it is.
func Text(s string) string {
	return escape(s, unsafeRune)
}

func escape(s string, unsafe func(rune) bool) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unsafe) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i]), 16))
		case unsafe(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r != '\n' && r != '\t' && (unicode.IsControl(r) || r == utf8.RuneError)
}

// Line is Text for one line: a newline or tab in it (from a file name, a
// volume label, a drive's model string) is escaped too, so that nothing a
// stick supplies can forge a line or a column of sure's output.
func Line(s string) string {
	return escape(s, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError })
}

// Writer makes everything written through it safe as Text makes it: for
// the reports of commands that show what a device holds. Each Write is
// escaped on its own, so it must hold whole characters (a Fprintf does).
func Writer(w io.Writer) io.Writer { return textWriter{w} }

type textWriter struct{ w io.Writer }

func (t textWriter) Write(p []byte) (int, error) {
	s := string(p)
	if e := Text(s); e != s {
		if _, err := io.WriteString(t.w, e); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return t.w.Write(p)
}

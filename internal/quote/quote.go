// Package quote shows file names and messages on a terminal without
// letting their bytes act on it: a name that is not valid UTF-8 or holds
// control characters (an escape sequence, a newline) is printed escaped,
// so the user sees which file is meant and the terminal stays sane.
package quote

import (
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
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i]), 16))
		case unsafeRune(r):
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

// Package filter decides which paths of a transfer are left out, with
// rsync's include and exclude rules: the first rule whose pattern matches
// a path decides, and a path no rule matches is included.
//
// Paths are slash-separated and relative to the root of the transfer:
// for an operand SRC/ (trailing slash) the names beneath SRC, for an
// operand SRC its own name first. A pattern
//   - with a leading '/' is anchored at that root;
//   - with a '/' elsewhere (not counting a trailing one) is matched
//     against the last components of the path, as many as it has;
//   - with neither is matched against the last component alone;
//   - with a trailing '/' matches directories only;
//   - with "**" is matched against the whole path, or any tail of it
//     after a '/' when not anchored; "dir/***" matches dir and all
//     beneath it.
//
// '*' matches within one component, "**" across them, '?' one character
// but '/', "[...]" a class; a backslash quotes the next character in a
// pattern that has wildcards. Since an excluded directory is not
// entered, nothing beneath it is ever asked about.
package filter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// List is an ordered list of rules. The zero List includes everything.
type List struct {
	rules []rule
}

type rule struct {
	text     string // as given, for messages
	include  bool
	pattern  string   // without the leading and trailing '/'
	globs    []string // doublestar's patterns matching what pattern does
	anchored bool
	dirOnly  bool
	wild     bool   // has *, ? or [: matched as a glob, else compared as is
	slashes  int    // '/' inside the pattern
	wild2    bool   // has "**": may match across components
	wild2pre bool   // starts with "**": matches only from the root
	self     string // for "dir/***": the pattern that matches dir itself
}

// Empty reports whether l has no rules, and so excludes nothing.
func (l *List) Empty() bool { return l == nil || len(l.rules) == 0 }

// Exclude adds an exclude rule for pattern, as rsync's --exclude does: a
// pattern starting with "+ " or "- " is a rule of that kind instead.
func (l *List) Exclude(pattern string) error { return l.add(pattern, false, true) }

// Include adds an include rule for pattern, as rsync's --include does.
func (l *List) Include(pattern string) error { return l.add(pattern, true, true) }

func (l *List) add(pattern string, include, prefixes bool) error {
	if prefixes {
		switch {
		case strings.HasPrefix(pattern, "+ "):
			pattern, include = pattern[2:], true
		case strings.HasPrefix(pattern, "- "):
			pattern, include = pattern[2:], false
		}
	}
	r, err := compile(pattern, include)
	if err != nil {
		return err
	}
	l.rules = append(l.rules, r)
	return nil
}

// Rule adds one rule in rsync's --filter syntax: "+ PATTERN",
// "- PATTERN", "include PATTERN", "exclude PATTERN", "merge FILE" or
// ". FILE" (the rules of FILE, one a line, in this syntax), and "clear"
// or "!" (forget the rules so far).
func (l *List) Rule(text string) error { return l.rule(text, 0) }

// maxMerge bounds merge files read from merge files: a file that merges
// itself would never end.
const maxMerge = 16

func (l *List) rule(text string, depth int) error {
	text = strings.TrimLeft(text, " ")
	if text == "!" || text == "clear" {
		l.rules = nil
		return nil
	}
	kind, arg, ok := strings.Cut(text, " ")
	if !ok || arg == "" {
		return fmt.Errorf("invalid filter rule: '%s'", text)
	}
	switch kind {
	case "+", "include":
		return l.add(arg, true, false)
	case "-", "exclude":
		return l.add(arg, false, false)
	case ".", "merge":
		if depth >= maxMerge {
			return fmt.Errorf("merge file '%s': merged more than %d deep", arg, maxMerge)
		}
		return l.readRules(arg, func(line string) error { return l.rule(line, depth+1) })
	}
	return fmt.Errorf("invalid filter rule: '%s'", text)
}

// ExcludeFrom adds an exclude rule for each pattern in the file at path
// ("-" is standard input), as --exclude-from does; IncludeFrom the same
// for include rules. Blank lines and lines starting with ';' or '#' are
// skipped.
func (l *List) ExcludeFrom(path string) error {
	return l.readRules(path, func(line string) error { return l.Exclude(line) })
}

// IncludeFrom adds an include rule for each pattern in the file at path.
func (l *List) IncludeFrom(path string) error {
	return l.readRules(path, func(line string) error { return l.Include(line) })
}

func (l *List) readRules(path string, add func(string) error) error {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	sc := bufio.NewScanner(in)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if err := add(line); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return &os.PathError{Op: "read", Path: path, Err: err}
	}
	return nil
}

// compile turns one pattern into a rule.
func compile(pattern string, include bool) (rule, error) {
	r := rule{text: pattern, include: include}
	if pattern == "" {
		return r, errors.New("empty pattern")
	}
	p := pattern
	if strings.HasPrefix(p, "/") {
		r.anchored = true
		p = p[1:]
	}
	for strings.HasSuffix(p, "/") {
		r.dirOnly = true
		p = p[:len(p)-1]
	}
	r.wild = strings.ContainsAny(p, "*?[")
	r.wild2 = strings.Contains(p, "**")
	r.wild2pre = strings.HasPrefix(p, "**")
	r.slashes = strings.Count(p, "/")
	if strings.HasSuffix(p, "/***") {
		r.self = quoteBraces(p[:len(p)-4])
		p = p[:len(p)-1]
	}
	r.pattern = p
	if r.wild {
		r.globs = globs(quoteBraces(p))
		for _, g := range r.globs {
			if !doublestar.ValidatePattern(g) {
				return r, fmt.Errorf("invalid pattern '%s'", pattern)
			}
		}
	}
	return r, nil
}

// globs turns a pattern's "**" into doublestar's: rsync's matches any
// string, '/' included, but never nothing where doublestar's "**" as a
// component would. A "**" that is not a whole component matches either
// within one component or across several; each such "**" doubles the
// list.
func globs(p string) []string {
	out := []string{""}
	for {
		i := strings.Index(p, "**")
		if i < 0 || len(out) > 64 {
			for k := range out {
				out[k] += p
			}
			return out
		}
		j := i + 2
		for j < len(p) && p[j] == '*' {
			j++
		}
		left := i == 0 || p[i-1] == '/'
		right := j == len(p) || p[j] == '/'
		var alts []string
		switch {
		case left && right && i == 0 && j == len(p):
			alts = []string{"**"}
		case left && right:
			alts = []string{"*/**"} // one component or more
		default:
			alts = []string{"*", "*/**/*"}
		}
		var next []string
		for _, o := range out {
			for _, a := range alts {
				next = append(next, o+p[:i]+a)
			}
		}
		out, p = next, p[j:]
	}
}

// quoteBraces makes '{' and '}' plain characters: rsync has no
// alternatives.
func quoteBraces(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			b.WriteByte(c)
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		case '{', '}':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Excluded reports whether the first rule matching path (slash-separated,
// from the root of the transfer) excludes it; dir says whether path is a
// directory.
func (l *List) Excluded(path string, dir bool) bool {
	if l == nil {
		return false
	}
	path = strings.Trim(path, "/")
	if path == "" || path == "." {
		return false
	}
	for i := range l.rules {
		if r := &l.rules[i]; r.matches(path, dir) {
			return !r.include
		}
	}
	return false
}

// ExcludedPath is Excluded for a path in the host's form.
func (l *List) ExcludedPath(path string, dir bool) bool {
	return l.Excluded(filepath.ToSlash(path), dir)
}

func (r *rule) matches(path string, dir bool) bool {
	if r.dirOnly && !dir {
		return false
	}
	switch {
	case r.anchored || r.wild2pre:
		return r.match(path)
	case r.slashes == 0 && !r.wild2:
		// Only the last component.
		if i := strings.LastIndexByte(path, '/'); i >= 0 {
			path = path[i+1:]
		}
		return r.match(path)
	case !r.wild2:
		// The last slashes+1 components.
		n := 0
		for i := len(path) - 1; i >= 0; i-- {
			if path[i] == '/' {
				if n++; n == r.slashes+1 {
					path = path[i+1:]
					break
				}
			}
		}
		return r.match(path)
	}
	// "**" inside: the whole path, or any tail after a '/'.
	for {
		if r.match(path) {
			return true
		}
		i := strings.IndexByte(path, '/')
		if i < 0 {
			return false
		}
		path = path[i+1:]
	}
}

// match compares name with the pattern itself.
func (r *rule) match(name string) bool {
	if !r.wild {
		return name == r.pattern
	}
	if r.self != "" && doublestar.MatchUnvalidated(r.self, name) {
		return true
	}
	for _, g := range r.globs {
		if doublestar.MatchUnvalidated(g, name) {
			return true
		}
	}
	return false
}

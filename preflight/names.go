package preflight

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sure-tools/sure/fsinfo"
)

// Reserved device names are refused on every format with Windows' name
// rules (FAT, exFAT, NTFS), not only where Linux would refuse them: Linux
// writes "CON.txt" onto a stick without complaint, and Windows then cannot
// open, copy or delete it. A stick is made to be read elsewhere.

const invalidChars = `"*/:<>?\|`

var reserved = func() map[string]bool {
	m := map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true}
	for i := '1'; i <= '9'; i++ {
		m["COM"+string(i)] = true
		m["LPT"+string(i)] = true
	}
	return m
}()

// stem is what Windows compares against the reserved names: the part
// before the first dot ("CON.tar.gz" is CON too).
func stem(name string) string {
	s, _, _ := strings.Cut(name, ".")
	return s
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// nameProblem says in words why name cannot exist on f, or "".
func nameProblem(name string, f fsinfo.Format) string {
	if !f.WindowsNames {
		return ""
	}
	fs := f.Name
	// Linux names are bytes; these file systems store UTF-16, and their
	// drivers refuse bytes that are not UTF-8 (exfat-fuse: EILSEQ,
	// fusefat: EPERM).
	if !utf8.ValidString(name) {
		return fmt.Sprintf("the name is not valid UTF-8 (shown escaped), which %s cannot hold", fs)
	}
	var bad []string
	for _, r := range name {
		switch {
		case r < 0x20:
			bad = append(bad, fmt.Sprintf("control character %U", r))
		case strings.ContainsRune(invalidChars, r):
			bad = append(bad, fmt.Sprintf("'%c'", r))
		}
	}
	if len(bad) > 0 {
		return fmt.Sprintf("the name contains %s, which %s cannot hold", strings.Join(dedup(bad), ", "), fs)
	}
	if s := strings.ToUpper(stem(name)); reserved[s] {
		return fmt.Sprintf("%s is a device name reserved by Windows; a file named so on %s cannot be opened there", s, fs)
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return fmt.Sprintf("the name ends with a dot or space, which Windows drops: the file could not be opened there from %s", fs)
	}
	if n := utf16Len(name); n > f.MaxNameUTF16 {
		return fmt.Sprintf("the name is %d characters long (UTF-16); %s allows %d", n, fs, f.MaxNameUTF16)
	}
	return ""
}

func dedup(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// fixName makes name valid on f, which has Windows' name rules: invalid
// characters and bytes that are not UTF-8 become '_', trailing dots and
// spaces go, a reserved stem gets a '_', and an over-long name loses
// characters at the end of its stem, keeping its extension so the file
// still opens with the same program.
func fixName(name string, f fsinfo.Format) string {
	var b strings.Builder
	for i := 0; i < len(name); {
		r, n := utf8.DecodeRuneInString(name[i:])
		if r < 0x20 || strings.ContainsRune(invalidChars, r) || r == utf8.RuneError && n == 1 {
			r = '_'
		}
		b.WriteRune(r)
		i += n
	}
	n := strings.TrimRight(b.String(), ". ")
	if n == "" {
		n = "_"
	}
	if s := stem(n); reserved[strings.ToUpper(s)] {
		n = s + "_" + n[len(s):]
	}
	for utf16Len(n) > f.MaxNameUTF16 {
		base, ext := n, ""
		if i := strings.LastIndexByte(n, '.'); i > 0 && utf16Len(n[i:]) < 32 {
			base, ext = n[:i], n[i:]
		}
		r := []rune(base)
		if len(r) <= 1 {
			r = []rune(n)
			ext = ""
		}
		n = strings.TrimRight(string(r[:len(r)-1]), ". ") + ext
	}
	return n
}

// fold is the key under which a file system that folds case finds a name:
// FAT, exFAT and NTFS compare names upcased.
func fold(name string) string { return strings.ToUpper(name) }

// suffixed is name with "~i" before its extension, cut where it would
// be too long for f (max bytes on file systems that count in bytes).
func suffixed(name string, i int, f fsinfo.Format, max int) string {
	base, ext := name, ""
	if j := strings.LastIndexByte(name, '.'); j > 0 && len(name)-j < 32 {
		base, ext = name[:j], name[j:]
	}
	suf := fmt.Sprintf("~%d", i)
	long := func(n string) bool {
		if f.WindowsNames {
			return utf16Len(n) > f.MaxNameUTF16
		}
		return max > 0 && len(n) > max
	}
	for long(base+suf+ext) && base != "" {
		_, n := utf8.DecodeLastRuneInString(base)
		base = base[:len(base)-n]
	}
	return base + suf + ext
}

// unsuffixed is name without a suffix that suffixed added.
func unsuffixed(name string) string {
	base, ext := name, ""
	if j := strings.LastIndexByte(name, '.'); j > 0 && len(name)-j < 32 {
		base, ext = name[:j], name[j:]
	}
	i := strings.LastIndexByte(base, '~')
	if i <= 0 || i == len(base)-1 || strings.Trim(base[i+1:], "0123456789") != "" {
		return name
	}
	return base[:i] + ext
}

// lengthProblem says why name is too long for a file system that counts
// names in bytes (ext4, xfs, btrfs: 255), or "". A name from a source that
// counts in characters (exFAT, NTFS) can exceed it.
func lengthProblem(name string, f fsinfo.Format, max int) string {
	if f.WindowsNames || max <= 0 || len(name) <= max {
		return ""
	}
	fs := f.Name
	if fs == "" {
		fs = "the destination"
	}
	return fmt.Sprintf("the name is %d bytes long; %s allows %d", len(name), fs, max)
}

// shorten cuts name to max bytes at a character boundary, keeping its
// extension, as fixName does for over-long names on Windows file systems.
func shorten(name string, max int) string {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i < 32 {
		base, ext = name[:i], name[i:]
	}
	for len(base)+len(ext) > max && base != "" {
		_, n := utf8.DecodeLastRuneInString(base)
		base = base[:len(base)-n]
	}
	if base == "" {
		return name[:max]
	}
	return base + ext
}

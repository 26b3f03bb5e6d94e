package filter

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// tree is the source every case is run on, by rsync and by List.
var tree = []string{
	"top.jpg", "top.txt", "notes", ".hidden",
	"a/b/f.jpg", "a/b/deep/z.jpg", "a/g.txt", "a/a.jpg",
	"x/h.jpg", "x/a/b/f.jpg", "x/sub/foo", "sub/foo", "sub/bar/foo",
	"foo/inner.txt", "build/out.o", "src/build/keep.c", "src/main.c",
	"weird{a,b}.txt", "cache/tmp/t", "lit[1].txt", "q1.txt", "q22.txt",
}

// cases are rsync command lines' filter options.
var cases = [][]string{
	{"--exclude", "*.jpg"},
	{"--include", "*/", "--include", "*.jpg", "--exclude", "*"},
	{"--exclude", "/top.jpg"},
	{"--exclude", "/a"},
	{"--exclude", "a"},
	{"--exclude", "a/"},
	{"--exclude", "foo"},
	{"--exclude", "foo/"},
	{"--exclude", "sub/foo"},
	{"--exclude", "/sub/foo"},
	{"--exclude", "a/b"},
	{"--exclude", "a/**"},
	{"--exclude", "a/***"},
	{"--exclude", "**/b"},
	{"--exclude", "x/**/f.jpg"},
	{"--exclude", "x/**/h.jpg"},
	{"--exclude", "a**g.txt"},
	{"--exclude", "**/b/**"},
	{"--exclude", "/x/**"},
	{"--exclude", "a/*/f.jpg"},
	{"--exclude", "**.jpg"},
	{"--exclude", "/**/foo"},
	{"--exclude", "*/foo"},
	{"--exclude", ".*"},
	{"--exclude", "q?.txt"},
	{"--exclude", "q[0-9]*.txt"},
	{"--exclude", "[!q]*.txt"},
	{"--exclude", "weird{a,b}.txt"},
	{"--exclude", "lit[1].txt"},
	{"--exclude", `lit\[1\].txt`},
	{"--exclude", "build/", "--include", "src/build/"},
	{"--include", "src/build/", "--exclude", "build/"},
	{"--include", "/a/", "--include", "/a/b/", "--include", "/a/b/**", "--exclude", "*"},
	{"--exclude", "+ *.jpg", "--exclude", "*"},
	{"--include", "- *.txt"},
	{"--filter", "- *.txt", "--filter", "+ a/", "--filter", "- /*/"},
	{"--filter", "exclude cache/", "--filter", "include *.c", "--filter", "exclude src/*"},
	{"--exclude", "*", "--filter", "clear", "--exclude", "*.o"},
	{"--exclude", "deep/"},
	{"--exclude", "b/deep/*.jpg"},
	{"--exclude", "/x/a/b/"},
	{"--exclude-from", "@excl"},
	{"--include-from", "@incl", "--exclude", "*"},
	{"--filter", "merge @rules"},
	{"--filter", ". @rules", "--exclude", "*.c"},
}

// files are the rule files the cases name with '@'.
var files = map[string]string{
	"excl":  "# comment\n; comment\n\n*.jpg\n+ *.txt\nsrc/\n",
	"incl":  "*/\n*.c\n- *.o\n",
	"rules": "- cache/\n+ *.c\n# comment\n- src/*\n. @more\n",
	"more":  "exclude *.txt\n",
}

// rsyncList is what rsync -n lists for a transfer of src with args: the
// paths from the root of the transfer, directories with a '/'.
func rsyncList(t *testing.T, src string, args []string) []string {
	cmd := exec.Command("rsync", append(append([]string{"-rln", "--out-format=%n"}, args...), src, filepath.Join(t.TempDir(), "dst")+"/")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rsync %q: %v\n%s", args, err, out)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && l != "./" {
			names = append(names, l)
		}
	}
	sort.Strings(names)
	return names
}

// listWith is the same list made with l, walking src as the copier does:
// an excluded directory is not entered.
func listWith(t *testing.T, l *List, src string) []string {
	root := strings.TrimSuffix(src, "/")
	prefix := ""
	if !strings.HasSuffix(src, "/") {
		prefix = filepath.Base(root) + "/"
	}
	var names []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := prefix + filepath.ToSlash(rel)
		if rel == "." {
			if prefix == "" {
				return nil
			}
			name = strings.TrimSuffix(prefix, "/")
		}
		if l.Excluded(name, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			name += "/"
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func makeTree(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "src")
	for _, f := range tree {
		p := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A link to a directory is not one: "x/" rules pass it by.
	if err := os.Symlink("a", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	return src
}

// TestAsRsync runs every case through rsync and through List, on the
// same tree, with and without a trailing slash on the source, and wants
// the same list.
func TestAsRsync(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync not installed")
	}
	src := makeTree(t)
	dir := t.TempDir()
	at := func(s string) string { return strings.ReplaceAll(s, "@", dir+"/") }
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(at(text)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range cases {
		args = append([]string(nil), args...)
		for i := range args {
			args[i] = at(args[i])
		}
		for _, s := range []string{src + "/", src} {
			var l List
			for i := 0; i < len(args); i += 2 {
				var err error
				switch args[i] {
				case "--exclude":
					err = l.Exclude(args[i+1])
				case "--include":
					err = l.Include(args[i+1])
				case "--filter":
					err = l.Rule(args[i+1])
				case "--exclude-from":
					err = l.ExcludeFrom(args[i+1])
				case "--include-from":
					err = l.IncludeFrom(args[i+1])
				}
				if err != nil {
					t.Fatalf("%q: %v", args, err)
				}
			}
			want := rsyncList(t, s, args)
			got := listWith(t, &l, s)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%q on %s:\n got  %q\n want %q", args, filepath.Base(s)+map[bool]string{true: "/"}[strings.HasSuffix(s, "/")], got, want)
			}
		}
	}
}

func TestBadRules(t *testing.T) {
	for _, r := range []string{"x", "+", "merge", "p *.c", "- [", ". /nonexistent/rules"} {
		var l List
		if err := l.Rule(r); err == nil {
			t.Errorf("rule %q accepted", r)
		}
	}
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	if err := os.WriteFile(loop, []byte("merge "+loop+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var l List
	if err := l.Rule("merge " + loop); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("a merge file merging itself: %v", err)
	}
}

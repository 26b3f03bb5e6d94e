//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// TestMessagesAsGNU runs GNU cp and mv and sure on the same operands in
// the same kind of directory and wants sure's first line of stderr to be
// GNU's, after "sure: ": empty names, and targets that are missing or no
// directory. M is another file system, for moves that copy.
func TestMessagesAsGNU(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	cases := [][]string{
		{"cp", "a", "b", ""},
		{"cp", "a", "b", "nonexist"},
		{"cp", "a", "b", "file"},
		{"mv", "a", "b", "nonexist"},
		{"mv", "a", "b", "file"},
		{"mv", "a", ""},
		{"mv", "M/a", ""},
		{"mv", "M/d", ""},
		{"mv", "", "x"},
		{"cp", "", "x"},
		{"cp", "a", ""},
		{"cp", "-r", "M/d", ""},
	}
	run := func(name string, args []string, sure bool) (string, string) {
		dir := t.TempDir()
		other, err := os.MkdirTemp(m.Dir, "M")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"a", "b", "file", filepath.Join(other, "a"), filepath.Join(other, "d", "f")} {
			p := f
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, f)
			}
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var argv []string
		for _, a := range args {
			argv = append(argv, strings.Replace(a, "M/", other+"/", 1))
		}
		var cmd *exec.Cmd
		if sure {
			cmd = exec.Command(sureBinary(t), append([]string{name}, argv...)...)
		} else {
			cmd = exec.Command(name, argv...)
		}
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		first, _, _ := strings.Cut(stderr.String(), "\n")
		return strings.ReplaceAll(first, other, "M"), stderr.String()
	}
	for _, c := range cases {
		gnu, _ := run(c[0], c[1:], false)
		got, all := run(c[0], c[1:], true)
		if got != "sure: "+gnu {
			t.Errorf("%q:\n GNU:  %s\n sure: %s\n%s", c, gnu, got, all)
		}
	}
}

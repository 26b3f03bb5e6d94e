//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make install puts the binary, the man pages and the completions under
// DESTDIR/PREFIX where the FHS and the shells look, and uninstall takes
// them all away again.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sure")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "dest")
	mk := func(target string) {
		t.Helper()
		c := exec.Command("make", "-C", root, target, "DESTDIR="+dest, "PREFIX=/usr", "B="+filepath.Join(tmp, "build"))
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}
	mk("install")
	files := map[string]string{
		"usr/bin/sure":                                  "",
		"usr/share/man/man1/sure.1":                     `.TH "SURE" "1"`,
		"usr/share/man/man1/sure-cp.1":                  ".SH EXIT STATUS",
		"usr/share/bash-completion/completions/sure":    "__start_sure",
		"usr/share/zsh/site-functions/_sure":            "#compdef sure",
		"usr/share/fish/vendor_completions.d/sure.fish": "complete -c sure",
	}
	for p, want := range files {
		b, err := os.ReadFile(filepath.Join(dest, p))
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not hold %q", p, want)
		}
	}
	out, err := exec.Command(filepath.Join(dest, "usr/bin/sure"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "sure version ") {
		t.Errorf("installed sure --version: %q, %v", out, err)
	}
	if fi, err := os.Stat(filepath.Join(dest, "usr/bin/sure")); err == nil && fi.Mode().Perm() != 0o755 {
		t.Errorf("usr/bin/sure has mode %v, want 0755", fi.Mode().Perm())
	}
	// Nothing outside DESTDIR/usr.
	ents, _ := os.ReadDir(dest)
	if len(ents) != 1 || ents[0].Name() != "usr" {
		t.Errorf("DESTDIR holds %v, want only usr", ents)
	}
	mk("uninstall")
	for p := range files {
		if _, err := os.Stat(filepath.Join(dest, p)); err == nil {
			t.Errorf("make uninstall left %s", p)
		}
	}
}

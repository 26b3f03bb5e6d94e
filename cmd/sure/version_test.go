package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/sure-tools/sure", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, c := range []struct {
		set  string
		bi   *debug.BuildInfo
		want string
	}{
		{"", bi, "v1.2.3 (commit abc123, 2026-01-02T03:04:05Z, with uncommitted changes, go1.26.0)"},
		{"v9", bi, "v9 (commit abc123, 2026-01-02T03:04:05Z, with uncommitted changes, go1.26.0)"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"", nil, "devel"},
	} {
		if got := versionFrom(c.set, c.bi); got != c.want {
			t.Errorf("versionFrom(%q, %v) = %q, want %q", c.set, c.bi, got, c.want)
		}
	}
}

// A binary built in a git checkout names its commit, the commit's time
// and whether the tree differed from it.
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sure twice")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	run := func(d string, env []string, name string, args ...string) string {
		t.Helper()
		c := exec.Command(name, args...)
		c.Dir = d
		c.Env = append(os.Environ(), env...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// A fresh repository holding the module as it is now, committed.
	run(dir, nil, "cp", "-a", root, src)
	os.RemoveAll(filepath.Join(src, ".git"))
	git := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z"}
	run(src, git, "git", "init", "-q")
	run(src, git, "git", "add", "-A")
	run(src, git, "git", "commit", "-q", "-m", "x")
	rev := run(src, nil, "git", "rev-parse", "HEAD")
	bin := filepath.Join(dir, "sure")
	build := func() string {
		run(src, []string{"GOFLAGS="}, "go", "build", "-buildvcs=true", "-o", bin, "./cmd/sure")
		return run(dir, nil, bin, "--version")
	}
	got := build()
	// The go command makes a pseudo-version from the commit.
	want := "sure version v0.0.0-20260102030405-" + rev[:12] + " (commit " + rev + ", 2026-01-02T03:04:05Z, go"
	if !strings.HasPrefix(got, want) || strings.Contains(got, "uncommitted") {
		t.Errorf("clean build: --version says %q, want it to start with %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(src, "extra.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := build(); !strings.Contains(got, "commit "+rev) || !strings.Contains(got, "with uncommitted changes") {
		t.Errorf("build with a change: --version says %q, want the commit and the change", got)
	}
}

//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A dry run with --json writes the event stream, not the words: started
// (dry_run true) first, one would per file with what would be done, one
// would_remove per entry --delete would remove, finished last; nothing is
// written.
func TestJSONDryRun(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, f := range []string{"src/a", "src/sub/b", "src/skip.log", "dst/a", "dst/extra", "dst/keep.log"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(sureBinary(t), "cp", "-r", "--dry-run", "--json", "--delete", "--exclude", "*.log", src+"/", dst).Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	type ev struct {
		Event    string
		Src, Dst string
		Path     string
		Action   string
		Size     int64
		DryRun   bool `json:"dry_run"`
		Would    int
		Removed  int
		Excluded int
		ExitCode int `json:"exit_code"`
		Level    string
	}
	var evs []ev
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var e ev
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON line: %q (%v)\n%s", l, err, out)
		}
		evs = append(evs, e)
	}
	if len(evs) < 2 || evs[0].Event != "started" || !evs[0].DryRun || evs[len(evs)-1].Event != "finished" {
		t.Fatalf("want started (dry_run) first and finished last:\n%s", out)
	}
	got := map[string]string{}
	for _, e := range evs[1 : len(evs)-1] {
		switch e.Event {
		case "would":
			got[e.Dst] = e.Action
		case "would_remove":
			got[e.Path] = "remove"
		default:
			t.Errorf("unexpected event %q in a dry run", e.Event)
		}
	}
	want := map[string]string{
		filepath.Join(dst, "a"): "replace", filepath.Join(dst, "sub/b"): "copy", filepath.Join(dst, "extra"): "remove",
	}
	if len(got) != len(want) {
		t.Errorf("events %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	f := evs[len(evs)-1]
	if !f.DryRun || f.Would != 2 || f.Removed != 1 || f.Excluded != 1 || f.Level != "none" || f.ExitCode != 0 {
		t.Errorf("finished %+v, want dry_run, would 2, removed 1, excluded 1, level none, exit 0", f)
	}
	if _, err := os.Stat(filepath.Join(dst, "extra")); err != nil {
		t.Errorf("a dry run removed dst/extra: %v", err)
	}
}

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// TestJSONRawNames: a name that is not valid UTF-8 (byte 0xff) reaches
// the JSON stream with U+FFFD in its text fields, and byte-exact in the
// *_b64 field next to each; valid names carry no *_b64 field.
func TestJSONRawNames(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	src := filepath.Join(t.TempDir(), "src")
	raw := filepath.Join(src, "caf\xff")
	plain := filepath.Join(src, "plain")
	for _, p := range []string{raw, plain} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(m.Dir, "out")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	rawDst := filepath.Join(dst, "src", "caf\xff")

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(sureBinary(t), "cp", "-r", "--json", src, raw, dst)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sure cp: %v\n%s", err, stderr.String())
	}
	decode := func(ev map[string]any, key string) string {
		s, ok := ev[key].(string)
		if !ok {
			return ""
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Errorf("%s %q: %v", key, s, err)
		}
		return string(b)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		name, _ := ev["event"].(string)
		switch name {
		case "started":
			if _, ok := ev["dest_b64"]; ok {
				t.Errorf("started: dest_b64 for the valid name %s", dst)
			}
			srcs, _ := ev["sources_b64"].([]any)
			if len(srcs) != 2 {
				t.Fatalf("started: sources_b64 %v, want 2 entries", ev["sources_b64"])
			}
			for i, want := range []string{src, raw} {
				b, _ := base64.StdEncoding.DecodeString(srcs[i].(string))
				if string(b) != want {
					t.Errorf("started: sources_b64[%d] is %q, want %q", i, b, want)
				}
			}
		case "copying", "durable":
			s, d := decode(ev, "src_b64"), decode(ev, "dst_b64")
			switch {
			case ev["src"] == plain:
				if s != "" || d != "" {
					t.Errorf("%s: src_b64 %q dst_b64 %q for the valid names of %s", name, s, d, plain)
				}
			case ev["src"] != filepath.Join(src, "caf\uFFFD"):
				t.Errorf("%s: src %q, not the file's name with U+FFFD", name, ev["src"])
			case s != raw || (d != rawDst && d != filepath.Join(dst, "caf\xff")):
				t.Errorf("%s: src_b64 %q dst_b64 %q, want %q and its copy's name", name, s, d, raw)
			}
			seen[name]++
		case "on_device":
			p := decode(ev, "path_b64")
			if (ev["path"] == filepath.Join(dst, "src", "plain")) != (p == "") {
				t.Errorf("on_device %v: path_b64 %q", ev["path"], p)
			}
		case "finished":
			if ev["level"] != "durable" {
				t.Errorf("finished %v", ev)
			}
		}
	}
	// src/caf\xff and src/plain under dst/src, and caf\xff itself.
	if seen["durable"] != 3 {
		t.Errorf("%d durable events, want 3\n%s", seen["durable"], stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dst, "caf\xff")); err != nil {
		t.Error(err)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A directory its user cannot read fails once, named as the source, for
// a normal user (root reads everything): not again when its empty copy
// is finished, and never as a "regular file" of the destination.
func TestNormalUserUnreadableDirFailsOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sure as nobody")
	}
	dir := worldDir(t)
	bin := nobodyBinary(t, dir)
	src := filepath.Join(dir, "src")
	for _, d := range []string{src, filepath.Join(src, "ok"), filepath.Join(src, "locked")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(src, "ok", "f"), filepath.Join(src, "locked", "g")} {
		if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	filepath.Walk(src, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	if err := os.Chmod(filepath.Join(src, "locked"), 0); err != nil {
		t.Fatal(err)
	}
	for i, flags := range []string{"-r", "-a"} {
		dst := filepath.Join(dir, "dst"+string(rune('0'+i)))
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(dst, 65534, 65534)
		code, _, stderr := runSureAsNobody(t, bin, "cp", flags, src, dst)
		if code != 1 {
			t.Errorf("cp %s: exit %d, want 1", flags, code)
		}
		var fails []string
		for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
			if strings.HasPrefix(l, "sure: cp: ") {
				fails = append(fails, l)
			}
		}
		want := "sure: cp: cannot open '" + filepath.Join(src, "locked") + "' for reading: Permission denied"
		if len(fails) != 1 || fails[0] != want {
			t.Errorf("cp %s: failures %q, want only %q", flags, fails, want)
		}
		if !strings.Contains(stderr, "1 file failed (see above); 1 file, 2 B durable") {
			t.Errorf("cp %s: summary:\n%s", flags, stderr)
		}
		if b, err := os.ReadFile(filepath.Join(dst, "src", "ok", "f")); err != nil || string(b) != "x\n" {
			t.Errorf("cp %s: the readable file: %q, %v", flags, b, err)
		}
	}
}

//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/vstick"
)

// TestBackupSurvivesPowerCut replaces a file with cp -b on the virtual
// stick and cuts the power as soon as sure returns: after the replug the
// file holds the new content and its backup the old one, on ext4, exFAT
// (hard link, then rename) and FAT32 (no hard links: the old file is
// renamed).
func TestBackupSurvivesPowerCut(t *testing.T) {
	for _, kind := range []string{"ext4", "exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			s := vstick.New(t, kind, 0)
			dir := t.TempDir()
			old, new := filepath.Join(dir, "old"), filepath.Join(dir, "new")
			if err := writeRandom(old, 300<<10); err != nil {
				t.Fatal(err)
			}
			if err := writeRandom(new, 200<<10); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(s.Dir, "a")
			for _, args := range [][]string{{"cp", old, dst}, {"cp", "-b", new, dst}} {
				if out, err := exec.Command(sureBinary(t), args...).CombinedOutput(); err != nil {
					t.Fatalf("sure %v: %v\n%s", args, err, out)
				}
			}
			crash := filepath.Join(t.TempDir(), "crash.img")
			s.Pull(t, crash, 7)
			s.Remove(t)
			again := filepath.Join(t.TempDir(), "again")
			if err := os.Mkdir(again, 0o755); err != nil {
				t.Fatal(err)
			}
			vstick.Replug(t, kind, crash, again)
			for name, want := range map[string]string{"a": new, "a~": old} {
				w, _ := os.ReadFile(want)
				if got, err := os.ReadFile(filepath.Join(again, name)); err != nil || !bytes.Equal(got, w) {
					t.Errorf("after the power cut %s holds %d bytes (%v), want the %d of %s", name, len(got), err, len(w), filepath.Base(want))
				}
			}
		})
	}
}

//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// complete runs cobra's hidden completion command, as the shells' scripts
// do, and returns the candidates (without descriptions) and the directive.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append([]string{"__complete"}, args...), &out, &errb); code != 0 {
		t.Fatalf("sure __complete %q: exit %d: %s", args, code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var cands []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		cands = append(cands, name)
	}
	return cands, lines[len(lines)-1]
}

// The shells offer the removable drives (a loop device stands for one)
// as write's targets and eject's argument, and eject also offers their
// mount points.
func TestCompleteRemovable(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	has := func(c []string, s string) bool {
		for _, x := range c {
			if x == s {
				return true
			}
		}
		return false
	}
	// The image itself is a file: the shell completes file names.
	if c, dir := complete(t, "write", ""); len(c) != 0 || dir != ":0" {
		t.Errorf("write IMAGE: candidates %q, directive %s; want the shell's files (:0)", c, dir)
	}
	c, dir := complete(t, "write", "img", "")
	if !has(c, m.Device) || dir != ":4" {
		t.Errorf("write img: candidates %q, directive %s; want %s and no files (:4)", c, dir, m.Device)
	}
	if has(c, m.Dir) {
		t.Errorf("write img: offers the mount point %s", m.Dir)
	}
	// A drive already named is not offered twice.
	if c, _ := complete(t, "write", "img", m.Device, ""); has(c, m.Device) {
		t.Errorf("write img %s: offers %s again", m.Device, m.Device)
	}
	c, dir = complete(t, "eject", "")
	if !has(c, m.Device) || !has(c, m.Dir) || dir != ":4" {
		t.Errorf("eject: candidates %q, directive %s; want %s and %s, no files (:4)", c, dir, m.Device, m.Dir)
	}
}

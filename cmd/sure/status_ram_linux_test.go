//go:build linux

package main

import "testing"

// A file system on no drive has nothing to pull: status says so once per
// file system and answers no, without walking the files the kernel makes
// up.
func TestStatusInRAM(t *testing.T) {
	code, out, _ := runSure(t, "status", "/proc", "/proc/self")
	want := "can I pull it now? nothing to pull: '/proc' (proc) is on no drive; its files live in RAM or are made up by the kernel\n"
	if code != 1 || out != want {
		t.Fatalf("sure status /proc /proc/self: exit %d, output %q; want exit 1 and %q", code, out, want)
	}
}

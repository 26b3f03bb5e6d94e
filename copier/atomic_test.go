package copier

import (
	"strings"
	"testing"
)

// TestAtomicRefusal is the table of file systems that can take a tree in
// one durable step, and the reason given where one cannot.
func TestAtomicRefusal(t *testing.T) {
	for _, c := range []struct {
		goos, fsType string
		fuse, ok     bool
		why          string // part of the reason
	}{
		{"linux", "ext4", false, true, ""},
		{"linux", "xfs", false, true, ""},
		{"linux", "btrfs", false, true, ""},
		{"linux", "tmpfs", false, true, ""},
		{"linux", "fuseblk", true, false, "RENAME_EXCHANGE"},
		{"linux", "fuse.fusefat", true, false, "empties a renamed directory"},
		{"linux", "vfat", false, false, "journal"},
		{"linux", "msdos", false, false, "journal"},
		{"linux", "exfat", false, false, "no RENAME_EXCHANGE"},
		{"linux", "ntfs3", false, false, "no RENAME_EXCHANGE"},
		{"linux", "nfs4", false, false, "not known"},
		{"linux", "fuse.sshfs", true, false, "over FUSE"},
		{"darwin", "apfs", false, true, ""},
		{"darwin", "hfs", false, true, ""},
		{"darwin", "msdos", false, false, "RENAME_SWAP"},
		{"darwin", "exfat", false, false, "RENAME_SWAP"},
		{"windows", "NTFS", false, false, "windows"},
		{"freebsd", "ufs", false, false, "freebsd"},
	} {
		why := atomicRefusal(c.goos, c.fsType, c.fuse)
		if (why == "") != c.ok || !strings.Contains(why, c.why) {
			t.Errorf("%s %s (fuse %v): %q, want ok %v and a reason with %q", c.goos, c.fsType, c.fuse, why, c.ok, c.why)
		}
	}
}

// TestStageNames: a staged tree's name is recognised, and is never taken
// for a temporary file (whose removal spares directories anyway).
func TestStageNames(t *testing.T) {
	n := newStageName()
	if !isStage(n) {
		t.Errorf("%s is not recognised as a staged tree", n)
	}
	for _, bad := range []string{".sure-tree-x.tmp", ".sure-0123456789abcdef.tmp", "sure-tree-0123456789abcdef.tmp"} {
		if isStage(bad) {
			t.Errorf("%s is taken for a staged tree", bad)
		}
	}
}

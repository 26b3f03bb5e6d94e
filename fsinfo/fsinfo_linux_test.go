package fsinfo

import (
	"path/filepath"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Mount
	}{
		{`36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue`,
			Mount{MountPoint: "/mnt/parent", FSType: "ext3", Source: "/dev/root", Options: "rw,errors=continue", Major: 98}},
		{`42 27 7:3 / /media/my\040stick rw,nosuid - fuseblk /dev/loop3 rw,user_id=0`,
			Mount{MountPoint: "/media/my stick", FSType: "fuseblk", Source: "/dev/loop3", Options: "rw,user_id=0", Major: 7, Minor: 3}},
		{`43 27 0:39 / /tmp/m2 rw,relatime shared:5 master:2 - fuse.fusefat fusefat rw`,
			Mount{MountPoint: "/tmp/m2", FSType: "fuse.fusefat", Source: "fusefat", Options: "rw", Minor: 39}},
		// Read-only: a bind mount of a writable file system, and an ext4
		// that turned read-only after an error.
		{`44 27 8:1 /data /ro-view ro,relatime - ext4 /dev/sda1 rw`,
			Mount{MountPoint: "/ro-view", FSType: "ext4", Source: "/dev/sda1", Options: "rw", ReadOnly: true, MountedReadOnly: true, Major: 8, Minor: 1}},
		{`45 27 7:4 / /media/stick rw,relatime - ext4 /dev/loop4 ro,errors=remount-ro`,
			Mount{MountPoint: "/media/stick", FSType: "ext4", Source: "/dev/loop4", Options: "ro,errors=remount-ro", ReadOnly: true, Major: 7, Minor: 4}},
	} {
		got, ok := parseMountInfo(tc.line)
		if !ok || got != tc.want {
			t.Errorf("parseMountInfo(%q) = %+v, %v; want %+v", tc.line, got, ok, tc.want)
		}
	}
	if _, ok := parseMountInfo("garbage"); ok {
		t.Error("parseMountInfo accepted a line without a separator")
	}
}

func TestForPathMissing(t *testing.T) {
	if _, err := ForPath(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("ForPath of a missing path succeeded")
	}
}

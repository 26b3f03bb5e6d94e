package fsinfo_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/fsimage"
)

// The FUSE servers hide the file system: exfat-fuse mounts as "fuseblk",
// fusefat as "fuse.fusefat". Kind must see through both on real mounts.
func TestKindOnRealMounts(t *testing.T) {
	for _, tc := range []struct{ kind, fstype, want string }{
		{"exfat", "fuseblk", "exfat"},
		{"vfat", "fuse.fusefat", "vfat"},
		{"ext4", "ext4", "ext4"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			m := fsimage.ForTest(t, tc.kind)
			mnt, err := fsinfo.ForPath(m.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if mnt.FSType != tc.fstype {
				t.Fatalf("%s mounted as %q, want %q: the test no longer covers the FUSE case", tc.kind, mnt.FSType, tc.fstype)
			}
			if got := fsinfo.KindOf(mnt); string(got) != tc.want {
				t.Errorf("fsinfo.KindOf(%+v) = %q, want %q", mnt, got, tc.want)
			}
		})
	}
}

// The boot sector signatures as mkfs writes them, read from images.
func TestBootSectorKind(t *testing.T) {
	for _, kind := range []string{"exfat", "vfat", "ext4"} {
		t.Run(kind, func(t *testing.T) {
			fsimage.Require(t, kind)
			img := t.TempDir() + "/fs.img"
			if err := fsimage.Create(kind, img, fsimage.MinSize(kind)); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			want := kind
			if kind == "ext4" {
				want = "" // no boot-sector signature: the mount type decides
			}
			if got := fsinfo.BootSectorKind(bytes.NewReader(b[:512])); string(got) != want {
				t.Errorf("bootSectorKind(%s image) = %q, want %q", kind, got, want)
			}
		})
	}
}

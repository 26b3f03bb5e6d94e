package copier

import (
	"io/fs"
	"testing"
	"time"

	"github.com/sure-tools/sure/fsinfo"
)

type fakeInfo struct {
	size  int64
	mtime time.Time
}

func (f fakeInfo) Name() string       { return "f" }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return 0o644 }
func (f fakeInfo) ModTime() time.Time { return f.mtime }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

// TestUpToDate pins the resume rule: a coarse file system's cut of the
// source's time counts only when times were kept, and a time merely close
// to the source's never does.
func TestUpToDate(t *testing.T) {
	src := time.Date(2001, 2, 3, 4, 5, 7, 789_000_000, time.UTC)
	cases := []struct {
		kind      fsinfo.Kind
		dst       time.Time
		timesKept bool
		want      bool
	}{
		{"ext4", src, false, true},
		{"ext4", src.Truncate(time.Second), true, false},
		{"exfat", src.Truncate(time.Second), true, true},
		{"exfat", src.Truncate(10 * time.Millisecond), true, true},
		{"exfat", src.Truncate(time.Second), false, false},
		{"exfat", src.Add(-300 * time.Millisecond), true, false}, // close, not the cut
		{"vfat", src.Truncate(2 * time.Second), true, true},
		{"vfat", src.Truncate(time.Second), true, false}, // 05:07 is not a FAT time
		{"vfat", src.Truncate(2 * time.Second), false, false},
	}
	for _, c := range cases {
		got := upToDate(fakeInfo{5, src}, fakeInfo{5, c.dst}, c.kind.Format(), c.timesKept)
		if got != c.want {
			t.Errorf("%s, dst %v, timesKept %v: upToDate = %v, want %v", c.kind, c.dst.Format("15:04:05.000"), c.timesKept, got, c.want)
		}
	}
	if upToDate(fakeInfo{5, src}, fakeInfo{6, src}, fsinfo.Kind("ext4").Format(), true) {
		t.Error("a different size counts as up to date")
	}
}

package commit

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/tempdir"
)

// TestTimesSetAgainAfterRename: where a rename resets a file's times, the
// times set on the temporary file are set again on the final name, after
// the rename and before the flushes that make the rename durable, so that
// those flushes cover them; when that fails the file is still durable and
// its result says its times were lost.
func TestTimesSetAgainAfterRename(t *testing.T) {
	mtime := time.Date(2019, 3, 14, 15, 9, 26, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		fail      string
		timesLost bool
	}{
		{"kept", "", false},
		{"lost", "chtimes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempdir.ForTest(t)
			// The second chtimes is the one on the final name.
			efs := &errorFS{barrier: fsinfo.BarrierPerFile, device: "/dev/under-test", caps: fsinfo.Caps{RenameResetsTimes: true},
				fail: tc.fail, nth: 2, err: syscall.ENOTSUP, calls: map[string]int{}}
			c := New()
			c.ops = efs
			final := filepath.Join(dir, "f")
			e, f, err := c.Create(final, 0o644, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString("data"); err != nil {
				t.Fatal(err)
			}
			if err := e.Chtimes(mtime, mtime); err != nil {
				t.Fatal(err)
			}
			if err := c.Stage(e, f); err != nil {
				t.Fatal(err)
			}
			res := c.Flush()
			if len(res) != 1 || res[0].Err != nil {
				t.Fatalf("Flush = %+v, want the file durable", res)
			}
			if res[0].TimesLost != tc.timesLost {
				t.Errorf("TimesLost = %v, want %v", res[0].TimesLost, tc.timesLost)
			}
			renamed, again, flushed := -1, -1, -1
			for i, r := range efs.log {
				switch {
				case r.op == "rename" && r.to == final:
					renamed = i
				case r.op == "chtimes" && r.path == final:
					again = i
				case r.op == "syncDevice" && again >= 0:
					flushed = i
				}
			}
			if renamed < 0 || again < renamed || flushed < again {
				t.Errorf("want rename, then chtimes on the final name, then the device flush; log %+v", efs.log)
			}
			if !tc.timesLost {
				fi, err := os.Stat(final)
				if err != nil {
					t.Fatal(err)
				}
				if !fi.ModTime().Equal(mtime) {
					t.Errorf("mtime %v, want %v", fi.ModTime(), mtime)
				}
			}
		})
	}
}

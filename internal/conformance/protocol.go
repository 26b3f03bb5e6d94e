package conformance

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
)

// The cases of the commit protocol.

// stage writes content to a new entry for final and stages it.
func stage(t *testing.T, c *commit.Committer, final string, content []byte, perm fs.FileMode, noReplace bool) *commit.Entry {
	t.Helper()
	e, f, err := c.Create(final, perm, noReplace)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(content); off += 1 << 20 {
		if _, err := f.Write(content[off:min(off+1<<20, len(content))]); err != nil {
			c.Abort(e, f)
			t.Fatal(err)
		}
	}
	e.Size = int64(len(content))
	if err := c.Stage(e, f); err != nil {
		t.Fatal(err)
	}
	return e
}

// temps lists the temporary files under dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && durable.IsTemp(d.Name()) {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func wantNoTemps(t *testing.T, dir string) {
	t.Helper()
	if left := temps(t, dir); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// flush flushes c and returns the results by final name.
func flush(t *testing.T, c *commit.Committer, want int) map[string]commit.Result {
	t.Helper()
	res := c.Flush()
	if len(res) != want {
		t.Fatalf("Flush reported %d entries, want %d: %+v", len(res), want, res)
	}
	out := map[string]commit.Result{}
	for _, r := range res {
		out[r.Entry.Final] = r
	}
	if n, _ := c.Pending(); n != 0 {
		t.Errorf("Pending after Flush = %d", n)
	}
	return out
}

// testProtocolBatch commits one batch: a file in a new directory, one
// replacing an existing file, one no-replace onto a taken name, and an
// empty one. Nothing is visible before the Flush; after it every final
// name holds what it should and nothing temporary is left.
func testProtocolBatch(t *testing.T, dir string, caps fsinfo.Caps) {
	old, taken := filepath.Join(dir, "old"), filepath.Join(dir, "taken")
	Write(t, old, "old content")
	Write(t, taken, "mine")
	sub := filepath.Join(dir, "new", "deeper")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	c := commit.New()
	for _, d := range []string{filepath.Join(dir, "new"), sub} {
		if err := c.DirCreated(d); err != nil {
			t.Fatal(err)
		}
	}
	fresh, empty := filepath.Join(sub, "a"), filepath.Join(dir, "empty")
	stage(t, c, fresh, []byte("aaa"), 0o640, false)
	stage(t, c, old, []byte("replaced"), 0o644, false)
	stage(t, c, taken, []byte("theirs"), 0o644, true)
	stage(t, c, empty, nil, 0o644, true)
	if files, n := c.Pending(); files != 4 || n != 17 {
		t.Errorf("Pending = %d files, %d bytes; want 4, 17", files, n)
	}
	WantContent(t, old, "old content")
	if _, err := os.Lstat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is visible before Flush: %v", fresh, err)
	}
	res := flush(t, c, 4)
	for _, final := range []string{fresh, old, empty} {
		if r := res[final]; r.Err != nil || r.Exists {
			t.Errorf("%s: %+v, want it durable", final, r)
		}
	}
	if r := res[taken]; !r.Exists || r.Err == nil {
		t.Errorf("no-replace onto a taken name: %+v, want Exists and an error", r)
	}
	for name, want := range map[string]string{fresh: "aaa", old: "replaced", taken: "mine", empty: ""} {
		WantContent(t, name, want)
	}
	wantPerm(t, fresh, 0o640, caps)
	wantNoTemps(t, dir)
	if err := c.FlushDirs(); err != nil {
		t.Errorf("FlushDirs: %v", err)
	}
}

// testProtocolTimes: a modification time set on the staged file is the
// final file's, as finely as the format keeps times (FAT: 2 s), also
// where a rename resets times (Caps.RenameResetsTimes).
func testProtocolTimes(t *testing.T, dir string, caps fsinfo.Caps) {
	// A whole even second: every format here can keep it exactly.
	mtime := time.Date(2019, 3, 14, 15, 9, 26, 0, time.UTC)
	c := commit.New()
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
	r := flush(t, c, 1)[final]
	if r.Err != nil || r.TimesLost {
		t.Fatalf("Flush = %+v, want the file durable with its times", r)
	}
	fi, err := os.Stat(final)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.ModTime(); !keptTime(got, mtime, caps.TimeGranularity) {
		t.Errorf("%s has mtime %v, want %v (kept to %v)", final, got, mtime, caps.TimeGranularity)
	}
}

// keptTime reports whether got is want as a format keeping times to one
// of grains may have cut it.
func keptTime(got, want time.Time, grains []time.Duration) bool {
	return got.Equal(want) || slices.ContainsFunc(grains, func(g time.Duration) bool { return got.Equal(want.Truncate(g)) })
}

// testProtocolRefusedName: an entry whose final name the file system
// refuses fails in Flush with an error naming it, its temporary file
// removed, and the rest of the batch lands.
func testProtocolRefusedName(t *testing.T, dir string, caps fsinfo.Caps) {
	c := commit.New()
	good := filepath.Join(dir, "good")
	stage(t, c, good, []byte("good"), 0o644, false)
	var finals []string
	for _, base := range refusedNames(caps) {
		final := filepath.Join(dir, base)
		finals = append(finals, final)
		stage(t, c, final, []byte("x"), 0o644, false)
	}
	res := flush(t, c, 1+len(finals))
	if r := res[good]; r.Err != nil {
		t.Errorf("%s: %v", good, r.Err)
	}
	WantContent(t, good, "good")
	for _, final := range finals {
		r := res[final]
		if r.Err == nil {
			t.Logf("%s takes the name %q", caps.Kind, filepath.Base(final))
			WantContent(t, final, "x")
			continue
		}
		if !namesPath(r.Err, final) {
			t.Errorf("Flush of %q: %#v, want an error naming it", filepath.Base(final), r.Err)
		}
	}
	wantNoTemps(t, dir)
}

// testProtocolLargeFile commits a file of many writeback windows onto an
// existing one of the same size.
func testProtocolLargeFile(t *testing.T, dir string, _ fsinfo.Caps) {
	final := filepath.Join(dir, "large")
	if err := os.WriteFile(final, make([]byte, largeSize), 0o644); err != nil {
		t.Fatal(err)
	}
	data := pattern(largeSize)
	c := commit.New()
	stage(t, c, final, data, 0o644, false)
	if r := flush(t, c, 1)[final]; r.Err != nil {
		t.Fatal(r.Err)
	}
	wantBytes(t, final, data)
	wantNoTemps(t, dir)
	if err := os.Remove(final); err != nil {
		t.Error(err)
	}
}

// testProtocolAbort: aborted entries leave neither temporary files nor
// final names behind, and a later Flush publishes nothing.
func testProtocolAbort(t *testing.T, dir string, _ fsinfo.Caps) {
	c := commit.New()
	stage(t, c, filepath.Join(dir, "x"), []byte("x"), 0o644, false)
	stage(t, c, filepath.Join(dir, "y"), []byte("y"), 0o644, false)
	if n, left := c.AbortPending(); n != 2 || len(left) > 0 {
		t.Fatalf("AbortPending = %d, %v; want 2 removed, none left", n, left)
	}
	if res := c.Flush(); len(res) != 0 {
		t.Errorf("Flush after AbortPending published %d entries", len(res))
	}
	WantNames(t, dir)
}

// testProtocolCaseFolding: the protocol's no-replace commit onto a name
// differing only in case from a file's, where the format folds case,
// reports the name taken or keeps both files whole; never overwrites.
func testProtocolCaseFolding(t *testing.T, dir string, caps fsinfo.Caps) {
	if !caps.FoldsCase {
		t.Skipf("%s keeps names differing in case apart", caps.Kind)
	}
	lower, upper := filepath.Join(dir, "f"), filepath.Join(dir, "F")
	Write(t, lower, "lower")
	c := commit.New()
	stage(t, c, upper, []byte("upper"), 0o644, true)
	r := flush(t, c, 1)[upper]
	WantContent(t, lower, "lower")
	switch {
	case r.Exists:
		WantNames(t, dir, "f")
	case r.Err != nil:
		t.Errorf("no-replace commit of F beside f: %v", r.Err)
	default:
		t.Logf("%s keeps f and F apart", caps.Kind)
		WantContent(t, upper, "upper")
		WantNames(t, dir, "F", "f")
	}
	wantNoTemps(t, dir)
}

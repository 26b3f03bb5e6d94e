package commit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/beneath"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// renameHook is the real protocol with after run once a rename returns.
type renameHook struct {
	osOps
	after func(name string)
}

func (h renameHook) rename(d *beneath.Dir, oldname, name string, noReplace bool) error {
	err := h.osOps.rename(d, oldname, name, noReplace)
	if err == nil {
		h.after(name)
	}
	return err
}

// TestReplacedClustersWaitForTheFlush: exfat-fuse frees the clusters of a
// file that a rename replaces at once and gives them to the next file
// written, while the rename reaches the stick only at the next fsync. A
// file another worker writes in between can then reach the stick in the
// same epoch as the rename, and a cut that keeps its data but not the
// directory leaves the old name on the other file's bytes (neither the
// old content nor the new). So a write waits while a replacing rename
// waits for its flush: no write before that flush covers the old
// content's sectors, and the next file does take them after it.
func TestReplacedClustersWaitForTheFlush(t *testing.T) {
	s := vstick.New(t, "exfat", 0)
	c := New()
	final := filepath.Join(s.Dir, "f")
	old := strings.Repeat("the old content. ", 200)
	stage(t, c, final, old, false)
	flushAll(t, c)

	rec := filepath.Join(t.TempDir(), "rec")
	if err := s.Disk.Record(vdisk.RecordOptions{Dir: rec}); err != nil {
		t.Fatal(err)
	}
	stage(t, c, final, strings.Repeat("the new content. ", 150), false)
	next := strings.Repeat("another file. ", 250)
	var renamedAt int64 = -1
	wrote := make(chan error, 1)
	waits := make(chan struct{}, 1)
	testHookWriteWaits = func() { waits <- struct{}{} }
	defer func() { testHookWriteWaits = nil }()
	c.ops = renameHook{after: func(name string) {
		if name != "f" || renamedAt >= 0 {
			return
		}
		st, err := s.Disk.Stats()
		if err != nil {
			t.Error(err)
		}
		renamedAt = st.Seq
		// Another worker writes a new file now: it either waits for the
		// rename's flush or is written before it.
		go func() { wrote <- write(c, filepath.Join(s.Dir, "g"), next) }()
		select {
		case err := <-wrote:
			wrote <- err
		case <-waits:
		}
	}}
	flushAll(t, c)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	flushAll(t, c)
	if _, err := s.Disk.Unrecord(); err != nil {
		t.Fatal(err)
	}
	if renamedAt < 0 {
		t.Fatal("f was never renamed")
	}

	r, err := vdisk.OpenRecording(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	base, err := os.ReadFile(r.Base())
	if err != nil {
		t.Fatal(err)
	}
	at := int64(bytes.Index(base, []byte(old)))
	if at < 0 {
		t.Fatal("the old content is not on the stick when the recording starts")
	}
	end := at + int64(len(old))
	flushed, reused := false, false
	for i, e := range r.Entries[renamedAt:] {
		switch {
		case e.Kind == vdisk.RecFlush:
			flushed = true
		case e.Off < end && at < e.Off+e.N && !flushed:
			t.Errorf("event %d, before the flush after the rename, writes over f's old content at %d: a cut keeping it and losing the rename leaves f on another file's bytes",
				renamedAt+int64(i)+1, at)
		case e.Off < end && at < e.Off+e.N:
			reused = true
		}
	}
	if !reused {
		t.Errorf("no write after the flush reused f's old clusters: the test shows nothing")
	}
}

func flushAll(t *testing.T, c *Committer) {
	t.Helper()
	for _, r := range c.Flush() {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Entry.Final, r.Err)
		}
	}
}

// write stages a new file as a worker does, each write to the stick
// under Writing.
func write(c *Committer, final, content string) error {
	e, f, err := c.Create(final, 0o644, false)
	if err != nil {
		return err
	}
	done := c.Writing()
	_, err = f.WriteString(content)
	done()
	if err != nil {
		return errors.Join(err, c.Abort(e, f))
	}
	e.Size = int64(len(content))
	return c.Stage(e, f)
}

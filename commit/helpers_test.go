package commit

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/durable"
)

func stage(t *testing.T, c *Committer, final, content string, noReplace bool) *Entry {
	t.Helper()
	e, f, err := c.Create(final, 0o644, noReplace)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	e.Size = int64(len(content))
	if err := c.Stage(e, f); err != nil {
		t.Fatal(err)
	}
	return e
}

func temps(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && durable.IsTemp(d.Name()) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

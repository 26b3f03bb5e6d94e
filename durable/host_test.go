package durable_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/tempdir"
)

// TestHostDir runs the suite in the host's temporary directory, unprivileged:
// the one real file system every platform's runner has.
func TestHostDir(t *testing.T) {
	root := tempdir.ForTest(t)
	sub := func(name string, f func(t *testing.T, dir string)) {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			f(t, dir)
		})
	}
	sub("WriteFileCreates", func(t *testing.T, dir string) { testWriteFileCreates(t, dir, hostDir) })
	sub("WriteFileReplaces", func(t *testing.T, dir string) { testWriteFileReplaces(t, dir, hostDir) })
	sub("CreateCommit", testCreateCommit)
	sub("CreateNoReplace", testCreateNoReplace)
	sub("Cleanup", testCleanup)
	sub("CommitOntoDirectory", testCommitOntoDirectory)
	sub("Rename", testRename)
	sub("ErrorsNamePaths", testErrorsNamePaths)
	sub("Sync", func(t *testing.T, dir string) { testSync(t, dir, hostDir) })
}

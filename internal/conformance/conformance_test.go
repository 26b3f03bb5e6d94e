package conformance

import (
	"os"
	"testing"

	"github.com/sure-tools/sure/internal/tempdir"
)

// TestHostDir runs the suite in the host's temporary directory,
// unprivileged: the one real file system every platform's runner has.
func TestHostDir(t *testing.T) {
	dir := tempdir.ForTest(t)
	Run(t, dir, CapsAt(t, dir))
}

// TestDir runs the suite in the directory $SURE_CONFORMANCE_DIR names, on
// whatever file system is mounted there: the VM lab runs this binary in
// its guest on each stick it formats, as the stick's owner.
func TestDir(t *testing.T) {
	dir := os.Getenv(DirEnv)
	if dir == "" {
		t.Skip(DirEnv + " names no directory")
	}
	Run(t, dir, CapsAt(t, dir))
}

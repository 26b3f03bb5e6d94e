package conformance

import (
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// TestLoopFS runs the suite on every file system fsimage makes, on loop
// devices, as root: the kernel's drivers and the FUSE servers sticks are
// mounted with on this host.
func TestLoopFS(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			Run(t, m.Dir, CapsAt(t, m.Dir))
		})
	}
}

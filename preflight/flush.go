package preflight

import (
	"fmt"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/quote"
)

// flushProblem says why nothing sure can do would make data durable on m,
// or "". Refused up front: a copy there could only end in a level whose
// barrier never ran.
func flushProblem(m fsinfo.Mount) string {
	if !m.IsFUSE() || !fsinfo.NoFsync(m) {
		return ""
	}
	if _, ok := fsinfo.BackingDevice(m); ok {
		return ""
	}
	return fmt.Sprintf("no flush would reach the media of %s (%s): its server implements no fsync, so only a flush of the block device under it could, and no block device was found under it "+
		"(a server mounted on a relative mount point cannot be matched to its mount); mount it again with an absolute mount point, or with the kernel's own driver",
		quote.Name(m.MountPoint), m.FSType)
}

package preflight

import (
	"fmt"
	"os"

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
	why := fmt.Sprintf("no flush would reach the media of %s (%s): its server implements no fsync, so only a flush of the block device under it could", quote.Name(m.MountPoint), m.FSType)
	dev, ok := fsinfo.BackingDevice(m)
	switch {
	case ok && fsinfo.CanOpen(dev):
		return ""
	case ok:
		return why + fmt.Sprintf(", and this user may not open %s; run sure as root, or mount the stick with the kernel's own driver (udisksctl mount does)", dev)
	case os.Geteuid() != 0:
		return why + ", and no block device was found under it (a normal user cannot see which device another user's server holds open); run sure as root, or mount the stick with the kernel's own driver (udisksctl mount does)"
	}
	return why + ", and no block device was found under it (a server mounted on a relative mount point cannot be matched to its mount); mount it again with an absolute mount point, or with the kernel's own driver"
}

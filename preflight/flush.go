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
func flushProblem(m fsinfo.Mount, caps fsinfo.Caps) string {
	if !caps.FUSE || !caps.NoFsync {
		return ""
	}
	// Its server has no fsync: only a flush of the block device under it
	// reaches the media.
	why := fmt.Sprintf("no flush would reach the media of %s (%s): its server has no fsync", quote.Name(m.MountPoint), m.FSType)
	dev, ok := fsinfo.BackingDevice(m)
	switch {
	case ok && fsinfo.CanOpen(dev):
		return ""
	case ok:
		return why + fmt.Sprintf(" and this user may not open %s; run sure as root, or mount with the kernel's driver (udisksctl mount)", dev)
	case os.Geteuid() != 0:
		// A normal user cannot see which device another user's server
		// holds open.
		return why + " and this user cannot see its device; run sure as root, or mount with the kernel's driver (udisksctl mount)"
	}
	// A server mounted on a relative mount point cannot be matched to
	// its mount.
	return why + " and no block device is found under it; mount it again at an absolute path, or with the kernel's driver"
}

package fsinfo

import (
	"io"
	"os"

	"github.com/sure-tools/sure/internal/blkid"
)

// kindOf is Kind, with the FUSE server's program name asked of server
// only when nothing else tells.
func kindOf(m Mount, server func() string) Kind {
	if k := knownKind(m.FSType); k != "" {
		return k
	}
	if m.IsFUSE() {
		if dev, ok := BackingDevice(m); ok {
			if k := probeBootSector(dev); k != "" {
				return k
			}
		}
		// A normal user may not read the device; its server tells.
		if m.FSType == "fuseblk" && exfatServer(server()) {
			return KindExFAT
		}
	}
	return Kind(m.FSType)
}

// probeBootSector reads the signatures mkfs writes at the start of dev.
// An unreadable device yields "": the caller falls back to the mount type.
func probeBootSector(dev string) Kind {
	f, err := os.Open(dev)
	if err != nil {
		return ""
	}
	defer f.Close()
	return bootSectorKind(f)
}

// bootSectorKind is the format of the Windows file systems, whose limits
// depend on it; "" for the others, which the mount type names.
func bootSectorKind(r io.ReaderAt) Kind {
	switch fstype, _, _ := blkid.Probe(r); fstype {
	case "vfat":
		return KindFAT
	case "exfat":
		return KindExFAT
	case "ntfs":
		return KindNTFS
	}
	return ""
}

package fsinfo

import (
	"bytes"
	"io"
	"os"
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

// probeBootSector reads the signatures mkfs writes into the first sector.
// An unreadable device yields "": the caller falls back to the mount type.
func probeBootSector(dev string) Kind {
	f, err := os.Open(dev)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := io.ReadFull(f, b); err != nil {
		return ""
	}
	return bootSectorKind(b)
}

func bootSectorKind(b []byte) Kind {
	switch {
	case len(b) < 90:
		return ""
	case bytes.Equal(b[3:11], []byte("EXFAT   ")):
		return KindExFAT
	case bytes.Equal(b[3:11], []byte("NTFS    ")):
		return KindNTFS
	case bytes.Equal(b[82:90], []byte("FAT32   ")), bytes.Equal(b[54:58], []byte("FAT1")):
		return KindFAT
	}
	return ""
}

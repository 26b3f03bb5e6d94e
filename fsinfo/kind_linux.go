package fsinfo

import (
	"bytes"
	"io"
	"os"
)

// Kind names the file system on m the way the rest of sure judges it:
// "vfat", "exfat", "ntfs", or the kernel's type name. FUSE mounts hide the
// real file system behind "fuseblk" (exfat-fuse, ntfs-3g), so for those the
// boot sector of the device underneath decides: the name limits of a stick
// depend on what is on it, not on who serves it.
func Kind(m Mount) string {
	switch m.FSType {
	case "vfat", "msdos", "fuse.fusefat":
		return "vfat"
	case "exfat", "fuse.exfat":
		return "exfat"
	case "ntfs", "ntfs3", "fuse.ntfs-3g":
		return "ntfs"
	}
	if m.IsFUSE() {
		if dev, ok := BackingDevice(m); ok {
			if k := probeBootSector(dev); k != "" {
				return k
			}
		}
		// A normal user may not read the device; its server tells.
		if m.FSType == "fuseblk" && exfatServer(fuseServer(m)) {
			return "exfat"
		}
	}
	return m.FSType
}

// probeBootSector reads the signatures mkfs writes into the first sector.
// An unreadable device yields "": the caller falls back to the mount type.
func probeBootSector(dev string) string {
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

func bootSectorKind(b []byte) string {
	switch {
	case len(b) < 90:
		return ""
	case bytes.Equal(b[3:11], []byte("EXFAT   ")):
		return "exfat"
	case bytes.Equal(b[3:11], []byte("NTFS    ")):
		return "ntfs"
	case bytes.Equal(b[82:90], []byte("FAT32   ")), bytes.Equal(b[54:58], []byte("FAT1")):
		return "vfat"
	}
	return ""
}

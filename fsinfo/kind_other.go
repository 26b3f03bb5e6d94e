//go:build !linux

package fsinfo

import "strings"

// Kind names the file system on m: "vfat", "exfat", "ntfs", or its type
// as reported. Without a mount table the type is often "unknown", and no
// limits of FAT or exFAT are then assumed.
func Kind(m Mount) string {
	switch t := strings.ToLower(m.FSType); t {
	case "msdos", "vfat", "fat", "fat32":
		return "vfat"
	case "exfat":
		return "exfat"
	case "ntfs":
		return "ntfs"
	default:
		return t
	}
}

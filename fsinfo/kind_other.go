//go:build !linux

package fsinfo

import "strings"

// kindOf names the format on m from its type as reported. Without a mount
// table the type is often "unknown", and no limits of FAT or exFAT are
// then assumed.
func kindOf(m Mount, _ func() string) Kind {
	switch t := strings.ToLower(m.FSType); t {
	case "msdos", "vfat", "fat", "fat32":
		return KindFAT
	case "exfat":
		return KindExFAT
	case "ntfs":
		return KindNTFS
	default:
		return Kind(t)
	}
}

// fuseServer: FUSE servers are not identified here.
func fuseServer(m Mount) string { return "" }

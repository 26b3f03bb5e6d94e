package fsinfo

import "sync"

// CapsOf returns what the file system mounted at m can do and promise.
// Under fuseblk it reads the device's boot sector or finds the server,
// so callers ask once per mount.
func CapsOf(m Mount) Caps {
	server := sync.OnceValue(func() string { return fuseServer(m) })
	kind := kindOf(m, server)
	s := ""
	if m.FSType == "fuseblk" {
		s = server()
	}
	c := capsOf(m.FSType, kind, s)
	_, major, minor := Kernel()
	c.CommitCoversLanded = commitCoversLanded(m.FSType, m.Options, major, minor)
	return c
}

// KindOf names the format on m (see the type Kind). FUSE mounts hide the
// real format behind "fuseblk" (exfat-fuse, ntfs-3g), so for those the boot
// sector of the device underneath decides: the name limits of a stick
// depend on what is on it, not on who serves it.
func KindOf(m Mount) Kind {
	return kindOf(m, func() string { return fuseServer(m) })
}

package fsinfo

// NoFsync reports whether m's FUSE server is known to implement no fsync:
// the kernel then answers every fsync there with success and sends the
// server nothing, so only a flush of the block device under it reaches
// the media. fusefat is such a server.
func NoFsync(m Mount) bool {
	return m.FSType == "fuse.fusefat"
}

package fsinfo

// NoFsync reports whether m's FUSE server is known to implement no fsync:
// the kernel then answers every fsync there with success and sends the
// server nothing, so only a flush of the block device under it reaches
// the media. fusefat is such a server.
func NoFsync(m Mount) bool {
	return m.FSType == "fuse.fusefat"
}

// ReportsOnlyAtEnd reports whether a file on m is known durable only once
// the job that wrote it has written everything and made it durable: on
// fusefat, later directory and FAT writes, half applied at a power cut,
// can take an already flushed file with them (fsck drops it as a
// duplicate), so no file is called durable before the job's last barrier.
func ReportsOnlyAtEnd(m Mount) bool {
	return m.FSType == "fuse.fusefat"
}

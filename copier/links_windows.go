package copier

import "io/fs"

// inodeOf has no file identity in a Windows FileInfo (it needs an open
// handle): hard links are copied as separate files there.
func inodeOf(info fs.FileInfo) (inode, uint64, bool) { return inode{}, 0, false }

func linkUnsupported(err error) bool { return true }

//go:build !linux

package preflight

import "io/fs"

// freeSpace is not known outside Linux yet; the space check is skipped.
func freeSpace(dir string) (free, block uint64, ok bool) { return 0, 0, false }

// device is not known outside Linux; moves are then counted as copies.
func device(path string) (uint64, bool) { return 0, false }

// nameMax is not known outside Linux; names are judged by the file
// system's kind only.
func nameMax(dir string) int { return 0 }

// allocated is not known outside Linux; a file counts at its size.
func allocated(info fs.FileInfo) (int64, bool) { return 0, false }

//go:build !linux

package commit

import "os"

// startWriteback has no portable equivalent of sync_file_range; the
// per-file flush at Stage does the work instead.
func startWriteback(f *os.File) {}

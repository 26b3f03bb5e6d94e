//go:build !linux

package copier

import (
	"errors"
	"io/fs"
	"os"

	"github.com/sure-tools/sure/internal/beneath"
)

// openJournalFile: the journal is kept on Linux only, where change times
// are read the same way on every file system; elsewhere an existing file
// is replaced unless a check (--quick-check, --checksum) says otherwise.
func openJournalFile(root *beneath.Root, path string, create bool) (*os.File, error) {
	return nil, errors.ErrUnsupported
}

func stampOf(fi fs.FileInfo) (fileStamp, bool) { return fileStamp{}, false }

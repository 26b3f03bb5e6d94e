package durable

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Temporary files are hidden, recognizable, and unique: a later run can find
// and remove the ones an interrupted run left behind, and no user file ever
// matches by accident.
const (
	TempPrefix = ".sure-"
	TempSuffix = ".tmp"
)

// IsTemp reports whether a base name is one of sure's temporary files.
func IsTemp(base string) bool {
	return strings.HasPrefix(base, TempPrefix) && strings.HasSuffix(base, TempSuffix) &&
		len(base) == len(TempPrefix)+16+len(TempSuffix)
}

// CreateTemp creates a new temporary file in dir with O_EXCL. perm is
// applied as the final mode, after the umask, as os.OpenFile would.
func CreateTemp(dir string, perm fs.FileMode) (*os.File, error) {
	for range 10000 {
		name := filepath.Join(dir, NewTempName())
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, &os.PathError{Op: "createtemp", Path: dir, Err: fs.ErrExist}
}

// NewTempName returns a fresh random temporary file name (a base name),
// for callers that create it themselves, relative to a directory handle.
func NewTempName() string {
	var b [8]byte
	rand.Read(b[:])
	return TempPrefix + hex.EncodeToString(b[:]) + TempSuffix
}

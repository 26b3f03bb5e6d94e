package commit

import (
	"os"
	"path/filepath"
	"strings"
)

type devID string

// deviceOf names the volume; Windows has no st_dev, and a volume is the
// unit a flush concerns.
func deviceOf(d *os.File) (devID, error) {
	dir := d.Name()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", &os.PathError{Op: "abs", Path: dir, Err: err}
	}
	return devID(strings.ToUpper(filepath.VolumeName(abs))), nil
}

// syncOpenFlag opens a file in place to flush it: FlushFileBuffers needs a
// handle with write access.
const syncOpenFlag = os.O_RDWR

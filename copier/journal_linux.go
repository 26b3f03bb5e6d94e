package copier

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/beneath"
)

// openJournalFile opens (with create, creating it) the journal at path
// beneath root, for reading and appending; a link there is not followed.
func openJournalFile(root *beneath.Root, path string, create bool) (*os.File, error) {
	d, name, err := root.Parent(path)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	flag := unix.O_RDWR | unix.O_APPEND | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if create {
		flag |= unix.O_CREAT
	}
	fd, err := unix.Openat(int(d.File().Fd()), name, flag, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(d.Path(), name), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(d.Path(), name)), nil
}

// stampOf reads what identifies a file's version: device, inode, size,
// modification and change times.
func stampOf(fi fs.FileInfo) (fileStamp, bool) {
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t:
		return fileStamp{dev: uint64(st.Dev), ino: uint64(st.Ino), size: uint64(st.Size),
			mtimeNs: timespecNs(st.Mtim.Unix()), ctimeNs: timespecNs(st.Ctim.Unix())}, true
	case *unix.Stat_t:
		return fileStamp{dev: uint64(st.Dev), ino: uint64(st.Ino), size: uint64(st.Size),
			mtimeNs: timespecNs(st.Mtim.Unix()), ctimeNs: timespecNs(st.Ctim.Unix())}, true
	}
	return fileStamp{}, false
}

func timespecNs(sec, nsec int64) int64 { return sec*1e9 + nsec }

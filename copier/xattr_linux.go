package copier

import (
	"bytes"
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// copyXattrs copies the source's extended attributes of the user and
// security namespaces to out. notKept is true when the destination cannot
// hold one (no xattrs on FAT, security.* refused to a normal user).
func copyXattrs(in, out *os.File) (notKept bool, err error) {
	names, err := listXattrs(int(in.Fd()))
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return false, nil
		}
		return false, &os.PathError{Op: "flistxattr", Path: in.Name(), Err: err}
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "user.") && !strings.HasPrefix(n, "security.") {
			continue
		}
		v, err := getXattr(int(in.Fd()), n)
		if err != nil {
			return notKept, &os.PathError{Op: "fgetxattr", Path: in.Name(), Err: err}
		}
		if err := unix.Fsetxattr(int(out.Fd()), n, v, 0); err != nil {
			if unsupported(err) || errors.Is(err, unix.EACCES) {
				notKept = true
				continue
			}
			return notKept, &os.PathError{Op: "fsetxattr", Path: out.Name(), Err: err}
		}
	}
	return notKept, nil
}

func listXattrs(fd int) ([]string, error) {
	for {
		n, err := unix.Flistxattr(fd, nil)
		if err != nil || n == 0 {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Flistxattr(fd, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew in between
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

func getXattr(fd int, name string) ([]byte, error) {
	for {
		n, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Fgetxattr(fd, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		return buf[:n], err
	}
}

//go:build linux || darwin || freebsd || netbsd || openbsd

package copier

import (
	"io/fs"
	"syscall"
	"time"
)

func atime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(statAtime(st).Unix())
	}
	return fi.ModTime()
}

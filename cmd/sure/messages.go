package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/quote"
)

// coreutilsText words err as coreutils' cp and mv do ("cannot stat 'x':
// No such file or directory") when err is a system call's failure on a
// file (an errno) and nothing more; "" when it says more than that (an error wrapped with
// what it means for durability keeps its words). A temporary file of
// sure's is named by the destination the user typed.
func coreutilsText(src, dst string, err error) string {
	var pe *os.PathError
	var le *os.LinkError
	var errno syscall.Errno
	switch {
	case errors.As(err, &le) && errors.As(le.Err, &errno) && (le.Error() == err.Error() || isTemp(le.Old) || isTemp(le.New)):
		return linkText(src, dst, le)
	case errors.As(err, &pe) && errors.As(pe.Err, &errno) && (pe.Error() == err.Error() || isTemp(pe.Path)):
		// A temporary file's failure is all there is to tell: the
		// destination's final name was never touched.
		return pathText(src, dst, pe)
	}
	return ""
}

func isTemp(path string) bool { return durable.IsTemp(filepath.Base(path)) }

// userName is the name to show for path: the destination for sure's own
// temporary files.
func userName(path, dst string) string {
	if durable.IsTemp(filepath.Base(path)) {
		return dst
	}
	return path
}

func pathText(src, dst string, pe *os.PathError) string {
	name := userName(pe.Path, dst)
	q := quote.Name(name)
	var what string
	switch strings.Fields(pe.Op + " x")[0] {
	case "stat", "lstat", "fstatat", "statx":
		what = "cannot stat " + q
	case "open", "openat", "createtemp":
		switch {
		case name == dst || durable.IsTemp(filepath.Base(pe.Path)):
			what = "cannot create regular file " + q
		case name == src:
			what = "cannot open " + q + " for reading"
		default:
			what = "cannot open " + q
		}
	case "mkdir", "mkdirat":
		what = "cannot create directory " + q
	case "read", "pread", "readat":
		what = "error reading " + q
	case "write", "pwrite", "copy_file_range", "sendfile", "fallocate", "truncate", "ftruncate":
		what = "error writing " + q
	case "fsync", "fdatasync", "sync_file_range", "syncdir", "syncfs", "sync":
		what = "cannot flush " + q + " to the device"
	case "remove", "unlink", "unlinkat", "rmdir":
		what = "cannot remove " + q
	case "chmod", "fchmod", "fchmodat":
		what = "preserving permissions for " + q
	case "chown", "fchown", "lchown", "fchownat":
		what = "failed to preserve ownership for " + q
	case "utimes", "utimensat", "futimes", "chtimes":
		what = "preserving times for " + q
	case "readlink", "readlinkat":
		what = "cannot read symbolic link " + q
	case "readdirent", "readdir", "getdents", "fdopendir":
		what = "cannot access " + q
	default:
		what = fmt.Sprintf("cannot %s %s", pe.Op, q)
	}
	return what + ": " + errnoText(pe.Err)
}

func linkText(src, dst string, le *os.LinkError) string {
	oldq, newq := quote.Name(userName(le.Old, dst)), quote.Name(userName(le.New, dst))
	var what string
	switch le.Op {
	case "symlink", "symlinkat":
		what = "cannot create symbolic link " + newq
	case "link", "linkat":
		what = fmt.Sprintf("cannot create hard link %s to %s", newq, oldq)
	case "rename", "renameat", "renameat2":
		// A rename from a temporary name publishes the destination.
		if durable.IsTemp(filepath.Base(le.Old)) {
			what = "cannot create regular file " + newq
		} else {
			what = fmt.Sprintf("cannot move %s to %s", oldq, newq)
		}
	default:
		what = fmt.Sprintf("cannot %s %s to %s", le.Op, oldq, newq)
	}
	return what + ": " + errnoText(le.Err)
}

// capitalErrno capitalises the system's message at the end of msg, as
// strerror words it, where msg ends with err's errno text.
func capitalErrno(msg string, err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return msg
	}
	e := errno.Error()
	if rest, ok := strings.CutSuffix(msg, ": "+e); ok {
		return rest + ": " + errnoText(errno)
	}
	return msg
}

// errorText is a command's error as its last line says it: a plain
// system call's failure in coreutils' words, any other with the system's
// message capitalised.
func errorText(err error) string {
	if t := coreutilsText("", "", err); t != "" {
		return t
	}
	return capitalErrno(err.Error(), err)
}

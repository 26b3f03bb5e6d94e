package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/quote"
)

// splitLeft separates the temporary files a failure left behind from its
// cause, so that each is told in its own words.
func splitLeft(err error) ([]*commit.TempLeftError, error) {
	var left []*commit.TempLeftError
	var rest []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var t *commit.TempLeftError
		if errors.As(e, &t) {
			left = append(left, t)
			return
		}
		rest = append(rest, e)
	}
	if err != nil {
		walk(err)
	}
	switch len(rest) {
	case 0:
		return left, nil
	case 1:
		return left, rest[0]
	}
	return left, errors.Join(rest...)
}

// leftText says where a temporary file was left and why: never claim a
// removal that did not happen. It holds no final name, and a later run
// into the same directory removes it.
func leftText(left []*commit.TempLeftError) string {
	s := ""
	for _, t := range left {
		s += fmt.Sprintf("; temporary file %s could not be removed: %v (it holds no final name; remove it, or run sure again, once the destination is writable)", quote.Name(t.Temp), t.Err)
	}
	return s
}

// tooLongText explains ENAMETOOLONG, whose own words ("file name too
// long") blame a name when it is the whole path that is too long: names
// over the destination's limit are refused before the copy (package
// preflight), so here it is the path, over PATH_MAX.
func tooLongText(err error) string {
	var pe *os.PathError
	if err == nil || !errors.Is(err, syscall.ENAMETOOLONG) || !errors.As(err, &pe) {
		return ""
	}
	return fmt.Sprintf("; the path is %d bytes long, more than one system call takes (PATH_MAX)", len(pe.Path))
}

// reported: the job got far enough to tell its failures itself, file by
// file or in the summary.
func reported(s copier.Summary) bool {
	return s.Failed > 0 || s.Mismatched > 0 || s.Interrupted || s.DestFailed != nil
}

// jobErrorText tells an error that stopped the job before any file, such
// as a destination whose directory is missing, naming the destination.
func jobErrorText(dest string, err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) && (errors.Is(pe.Err, syscall.ENOENT) || errors.Is(pe.Err, syscall.ENOTDIR)) {
		// The directory DEST would go in is missing or no directory.
		why := pe.Err
		if strings.HasSuffix(dest, "/") && pe.Path == filepath.Clean(dest) {
			why = syscall.ENOTDIR // as creating "new/" fails for cp
		}
		return quote.Line(fmt.Sprintf("cannot create regular file %s: %s", quote.Name(dest), errnoText(why)))
	}
	if t := coreutilsText("", dest, err); t != "" {
		return quote.Line(t)
	}
	return quote.Line(capitalErrno(err.Error(), err))
}

// toldError is err as the user was told it.
type toldError struct {
	msg string
	err error
}

func (e *toldError) Error() string { return e.msg }
func (e *toldError) Unwrap() error { return e.err }

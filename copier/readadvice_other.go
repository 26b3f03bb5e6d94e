//go:build !linux

package copier

import "os"

// readAdvice is Linux only (posix_fadvise, cachestat); elsewhere the
// source is read without advice.
type readAdvice struct{}

func (a *readAdvice) open(in *os.File, size int64) {}
func (a *readAdvice) dropBehind(off int64)         {}

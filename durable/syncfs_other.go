//go:build !linux

package durable

import "os"

func syncFSOf(f *os.File) error { return syncFS(f.Name()) }

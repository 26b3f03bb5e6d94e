// Package flush implements `sure sync`: flush the file systems that hold
// some paths, or all of them, and say exactly what was done and what
// failed. It never falls back silently to something weaker.
package flush

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
)

// Result is the outcome for one file system.
type Result struct {
	Mount   fsinfo.Mount
	Method  string // what was done, in words
	Files   int    // files and directories flushed one by one (FUSE)
	Err     error  // nil only when everything named by Method reached the media
	Skipped bool   // nothing to flush there (a FUSE file system with no device under it)
}

// Paths flushes the file system of each path once, however many of the
// paths it holds. On a FUSE file system syncfs does not reach the server,
// so every file and directory under the path is flushed on its own instead.
func Paths(paths []string) []Result {
	var out []Result
	seen := map[string]bool{}
	for _, p := range paths {
		m, err := fsinfo.ForPath(p)
		if err != nil {
			out = append(out, Result{Mount: fsinfo.Mount{MountPoint: p}, Err: err})
			continue
		}
		if m.IsFUSE() {
			out = append(out, fuseTree(m, p))
			continue
		}
		if seen[m.MountPoint] {
			continue
		}
		seen[m.MountPoint] = true
		out = append(out, Result{Mount: m, Method: syncfsMethod(), Err: durable.SyncFS(p)})
	}
	return out
}

// fuseTree flushes a FUSE file system the only way that reaches its media:
// every file and directory under root, then the block device under it.
func fuseTree(m fsinfo.Mount, root string) Result {
	n, err := tree(root)
	method := fmt.Sprintf("fsync of %d files and directories under %s (syncfs does not reach a FUSE server)", n, root)
	if dev, ok := fsinfo.BackingDevice(m); ok {
		method += ", then of the device " + dev
		if err == nil {
			err = durable.SyncPath(dev)
		}
	} else {
		method += "; no block device found under it, so this rests on the server implementing fsync"
	}
	return Result{Mount: m, Files: n, Err: err, Method: method}
}

// tree flushes every file and directory under root, children before their
// directory.
func tree(root string) (int, error) {
	n := 0
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = durable.SyncFile(f)
		f.Close()
		n++
		return err
	})
	if err != nil {
		return n, err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := durable.SyncDir(dirs[i]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Package durable makes writes survive a power cut or a pulled USB stick.
//
// A write travels from the page cache through the block layer into the
// drive's volatile cache before it reaches the media. The functions here
// return only after the data has passed all of these (level L2 "durable"
// in sure's guarantee ladder), or they return an error and claim nothing.
//
// Contracts shared by every function in this package:
//
//   - Errors name the file: they are *os.PathError or *os.LinkError, or wrap
//     one with %w.
//   - A failed flush is final. After a flush of a file or file system fails,
//     the data written since the last successful flush must be taken as lost:
//     Linux marks the pages clean after a writeback error, so a second fsync
//     would succeed without writing them. This package remembers every failed
//     flush for the life of the process and returns the original error from
//     any later flush of the same file or file system.
//   - A flush that the kernel answers with success counts only if the file
//     system could still take a new change right after it. On Linux, once
//     an error aborts ext4's journal, fsync and syncfs return 0 for changes
//     the journal dropped; a new change is refused from the abort on.
//   - Where a platform or file system cannot flush something (a directory on
//     some Windows file systems, for instance), the error is
//     ErrDirSyncUnsupported or ErrFSSyncUnsupported, never a silent success.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// ErrDirSyncUnsupported reports that the platform or file system offers no
// way to make a directory entry durable. The entry may still be lost at a
// power cut; callers that need the guarantee must treat it as a failure.
var ErrDirSyncUnsupported = errors.New("directory cannot be flushed on this platform or file system")

// ErrFSSyncUnsupported reports that a whole file system cannot be flushed
// from here (no syncfs, or the caller lacks the right to open the volume).
var ErrFSSyncUnsupported = errors.New("file system cannot be flushed on this platform")

// failures remembers failed flushes, keyed by an identity of the file or
// file system, so that a later successful flush cannot hide lost data.
var failures sync.Map

func rememberFailure(key any, err error) error {
	if key != nil {
		actual, _ := failures.LoadOrStore(key, err)
		return actual.(error)
	}
	return err
}

func earlierFailure(key any) error {
	if key == nil {
		return nil
	}
	if v, ok := failures.Load(key); ok {
		return v.(error)
	}
	return nil
}

// flushOnce runs flush unless an earlier flush of key failed, and keeps
// its failure for key: data written before a failed flush is lost even
// when the next flush succeeds.
func flushOnce(key any, op, path string, flush func() error) error {
	if err := earlierFailure(key); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return rememberFailure(key, &os.PathError{Op: op, Path: path, Err: err})
	}
	return nil
}

// SyncFile flushes the data and metadata of f to the media, through the
// drive's volatile write cache: fsync on Linux, F_FULLFSYNC on macOS (fsync
// where the file system refuses it), FlushFileBuffers on Windows.
func SyncFile(f *os.File) error {
	return flushOnce(fileKey(f), "sync", f.Name(), func() error { return syncFile(f) })
}

// SyncPath opens path, a file or a block device, and flushes it as
// SyncFile does. For a block device that is its page cache and then the
// drive's cache: what a FUSE file system needs when its server does not
// pass fsync on.
func SyncPath(path string) error {
	return withFile(path, SyncFile)
}

// withFile opens path for reading and runs do with it.
func withFile(path string, do func(*os.File) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return do(f)
}

// SyncDir makes the entries of directory dir durable: a file created,
// renamed or removed in dir survives a power cut only after this returns nil.
func SyncDir(dir string) error {
	return syncDir(dir)
}

// SyncFS flushes the whole file system that holds path: every dirty page of
// every file on it, its metadata and the drive's cache. On Linux it is
// syncfs(2), which reports writeback errors since Linux 5.8.
func SyncFS(path string) error {
	return syncFS(path)
}

// SyncDirOf is SyncDir for an open directory: a caller holding it flushes
// that very directory, whatever its path names now.
func SyncDirOf(d *os.File) error {
	return syncDirOf(d)
}

// SyncFSOf is SyncFS for the file system of an open file or directory.
func SyncFSOf(f *os.File) error {
	return syncFSOf(f)
}

// SyncFSFlush is SyncFS for a file system whose syncfs writes everything
// and reports the errors but does not flush the drive's cache (vfat,
// ntfs3; exfat only as a side effect): once syncfs has returned, every
// write is complete, and an fsync of path (a directory or file on that
// file system) sends the flush that covers them. Neither step needs access
// to the block device, so it holds for a normal user too.
func SyncFSFlush(path string) error {
	if err := SyncFS(path); err != nil {
		return err
	}
	return SyncPath(path)
}

// SyncFSFlushOf is SyncFSFlush for an open directory or file: the fsync
// goes to that very one.
func SyncFSFlushOf(f *os.File) error {
	if err := SyncFSOf(f); err != nil {
		return err
	}
	return syncDirOf(f)
}

// WriteFile writes data to name atomically and durably: at every instant
// name holds either its old complete content or data, never a mix; when it
// returns nil, data and the directory entry are on the media.
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	p, err := Create(name, perm)
	if err != nil {
		return err
	}
	defer p.Cleanup()
	if _, err := p.Write(data); err != nil {
		return err
	}
	return p.Commit()
}

// Rename renames oldpath to newpath and makes the change durable by
// flushing the directories of both (one, when they are the same). newpath is
// replaced atomically if it exists; on Windows the rename is write-through.
func Rename(oldpath, newpath string) error {
	if err := rename(oldpath, newpath); err != nil {
		return err
	}
	return syncParents(oldpath, newpath)
}

// RenameNoReplace is Rename that fails with an error matching fs.ErrExist
// when newpath exists, decided atomically by the kernel where it can.
func RenameNoReplace(oldpath, newpath string) error {
	if err := renameNoReplace(oldpath, newpath); err != nil {
		return err
	}
	return syncParents(oldpath, newpath)
}

// RenameUnflushed renames like Rename (or RenameNoReplace) but leaves the
// directory flush to the caller, who publishes many files under one barrier
// (SyncFS, or SyncDir of each directory). Until that barrier the rename may
// be undone by a power cut; on Windows it is write-through all the same.
func RenameUnflushed(oldpath, newpath string, noReplace bool) error {
	if noReplace {
		return renameNoReplace(oldpath, newpath)
	}
	return rename(oldpath, newpath)
}

func syncParents(oldpath, newpath string) error {
	od, nd := filepath.Dir(oldpath), filepath.Dir(newpath)
	if err := SyncDir(nd); err != nil {
		return err
	}
	if od != nd {
		return SyncDir(od)
	}
	return nil
}

// Pending is a file being written under a temporary name in the directory
// of its final name. Commit makes it durable and moves it into place;
// Cleanup removes it if Commit was never reached or failed.
type Pending struct {
	*os.File
	final     string
	noReplace bool
	done      bool
}

// Create starts an atomic write of name. The temporary file is created with
// O_EXCL in name's directory, so it is on the same file system and the final
// rename cannot cross devices.
func Create(name string, perm fs.FileMode) (*Pending, error) {
	f, err := CreateTemp(filepath.Dir(name), perm)
	if err != nil {
		return nil, err
	}
	return &Pending{File: f, final: name}, nil
}

// CreateNoReplace is Create whose Commit fails with fs.ErrExist instead of
// replacing an existing file.
func CreateNoReplace(name string, perm fs.FileMode) (*Pending, error) {
	p, err := Create(name, perm)
	if p != nil {
		p.noReplace = true
	}
	return p, err
}

// Commit flushes the file, renames it onto its final name and flushes the
// directory. On error the temporary file is removed and the final name holds
// what it held before.
func (p *Pending) Commit() error {
	if p.done {
		return &os.PathError{Op: "commit", Path: p.final, Err: os.ErrClosed}
	}
	p.done = true
	tmp := p.Name()
	err := SyncFile(p.File)
	if cerr := p.File.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		if p.noReplace {
			err = renameNoReplace(tmp, p.final)
		} else {
			err = rename(tmp, p.final)
		}
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := SyncDir(filepath.Dir(p.final)); err != nil {
		return fmt.Errorf("%s is in place but its directory entry may not be durable: %w", p.final, err)
	}
	return nil
}

// Cleanup closes and removes the temporary file unless Commit succeeded in
// renaming it. It is safe to call after Commit, and meant for defer.
func (p *Pending) Cleanup() error {
	if p.done {
		return nil
	}
	p.done = true
	p.File.Close()
	return os.Remove(p.Name())
}

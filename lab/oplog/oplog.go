//go:build linux

// Package oplog is a FUSE passthrough file system that records, in order,
// every operation the kernel sends it: the data writes, flushes, renames and
// directory flushes a program really made, as the file system saw them.
// Tests read the log to check a commit protocol (writes and fsync of a file
// before its rename, fsync of the directory after) against the real kernel,
// and switch faults on to make fsync fail for real.
//
// The kernel's writeback cache and FUSE passthrough are off, so every
// write(2) reaches the server as a WRITE before the call returns. FSYNC and
// FSYNCDIR are always answered with the backing file system's result (or an
// injected EIO), never ENOSYS: the kernel would take ENOSYS as "fsync is not
// needed here" and stop sending them for the rest of the mount.
//
// The server must run in a process of its own (see Start): a process that
// both serves a FUSE mount and does I/O on it can deadlock with itself.
package oplog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Operation names, as the log records them. They follow the FUSE opcodes.
const (
	OpCreate        = "CREATE"
	OpOpen          = "OPEN"
	OpWrite         = "WRITE"
	OpCopyFileRange = "COPY_FILE_RANGE" // Ino is the destination
	OpFallocate     = "FALLOCATE"
	OpSetattr       = "SETATTR"
	OpFlush         = "FLUSH"
	OpRelease       = "RELEASE"
	OpFsync         = "FSYNC"
	OpFsyncdir      = "FSYNCDIR"
	OpMkdir         = "MKDIR"
	OpMknod         = "MKNOD"
	OpSymlink       = "SYMLINK"
	OpLink          = "LINK"
	OpRename        = "RENAME"
	OpUnlink        = "UNLINK"
	OpRmdir         = "RMDIR"
	OpSetxattr      = "SETXATTR"
	OpRemovexattr   = "REMOVEXATTR"
)

// Op is one operation the server answered. Paths are relative to the root
// of the mount, as the server knew them when it answered; a file keeps its
// Ino across renames, so Ino is what ties a temporary file to its final
// name.
type Op struct {
	Seq  int    `json:"seq"`            // position in the log, from 0
	Op   string `json:"op"`             // one of the Op* names
	Path string `json:"path,omitempty"` // the node operated on; for RENAME the old path
	New  string `json:"new,omitempty"`  // RENAME: the new path; LINK: the new name
	Ino  uint64 `json:"ino,omitempty"`  // the node operated on (the renamed, created, removed one)
	// Dir and NewDir are the directories whose entries the operation
	// changed: the parent for CREATE, MKDIR, UNLINK, ...; for RENAME the
	// old (Dir) and the new (NewDir) parent.
	Dir    uint64 `json:"dir,omitempty"`
	NewDir uint64 `json:"newdir,omitempty"`
	Off    int64  `json:"off,omitempty"`
	Len    int64  `json:"len,omitempty"`   // bytes written; SETATTR: the new size (with Flags&FATTR_SIZE)
	Flags  uint64 `json:"flags,omitempty"` // open flags, rename flags, fsync flags, setattr valid mask
	Errno  int    `json:"errno,omitempty"` // the answer; 0 for success
}

// OK reports whether the operation succeeded.
func (o Op) OK() bool { return o.Errno == 0 }

func (o Op) String() string {
	s := fmt.Sprintf("#%d %s %s", o.Seq, o.Op, o.Path)
	if o.New != "" {
		s += " -> " + o.New
	}
	if o.Op == OpWrite || o.Op == OpCopyFileRange {
		s += fmt.Sprintf(" [%d+%d]", o.Off, o.Len)
	}
	if o.Flags != 0 {
		s += fmt.Sprintf(" flags=%#x", o.Flags)
	}
	s += fmt.Sprintf(" ino=%d", o.Ino)
	if o.Errno != 0 {
		s += " = " + syscall.Errno(o.Errno).Error()
	}
	return s
}

// ReadLog parses a log file. A line cut short at the end (the server is
// still writing) is left out.
func ReadLog(name string) ([]Op, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []Op
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			// No newline: EOF, possibly in the middle of a line.
			break
		}
		var o Op
		if err := json.Unmarshal(line, &o); err != nil {
			return ops, fmt.Errorf("%s: line %d: %w", name, len(ops)+1, err)
		}
		o.Seq = len(ops)
		ops = append(ops, o)
	}
	return ops, nil
}

// Fault names: while a file of that name exists in the fault directory, the
// operation is answered with EIO and not passed to the backing file system.
const (
	FaultFsync    = "fsync"
	FaultFsyncdir = "fsyncdir"
)

// logger appends operations to the log file, one JSON line per write(2), so
// a reader sees every operation the server has answered.
type logger struct {
	mu     sync.Mutex
	f      *os.File
	faults string
	err    error
}

func (l *logger) add(o Op) {
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // Op has no field that can fail to marshal
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(b); err != nil && l.err == nil {
		l.err = err
		fmt.Fprintf(os.Stderr, "oplog: writing the log: %v\n", err)
	}
}

func (l *logger) fault(name string) bool {
	if l.faults == "" {
		return false
	}
	_, err := os.Lstat(filepath.Join(l.faults, name))
	return err == nil
}

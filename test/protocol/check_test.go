//go:build linux

package protocol_test

import (
	"fmt"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sure-tools/sure/lab/oplog"
)

// Rules a finding can break.
const (
	ruleData     = "data"      // the file's bytes did not all reach the server as writes
	ruleAtomic   = "atomic"    // not moved into place by a rename of a complete file
	ruleOrder    = "order"     // written after it was put in place
	ruleFsync    = "fsync"     // no fsync between the last write and the rename
	ruleFsyncdir = "fsyncdir"  // no fsync of the parent directory after the entry appeared
	ruleDir      = "dir"       // a directory that should have been created was not
	ruleDirSelf  = "dir-self"  // a created directory was never flushed itself
	ruleUntouch  = "untouched" // a file that must not change (-n) was changed
)

type finding struct {
	Rule, Path, Detail string
}

func (f finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Rule, f.Path, f.Detail) }

// run is the part of a log written by one command: ops[start:exit], exit
// being the length of the log when the command had exited. Every operation
// the command waited for is in it: the server logs an operation before it
// answers the kernel.
type run struct {
	ops         []oplog.Op
	start, exit int
}

// each calls f for every successful operation of the run on ino.
func (r run) each(ino uint64, f func(o oplog.Op)) {
	for _, o := range r.ops[r.start:r.exit] {
		if o.OK() && o.Ino == ino {
			f(o)
		}
	}
}

// flushed reports whether a successful op of kind on ino lies strictly
// between the log positions lo and hi.
func (r run) flushed(kind string, ino uint64, lo, hi int) bool {
	found := false
	r.each(ino, func(o oplog.Op) {
		if o.Op == kind && o.Seq > lo && o.Seq < hi {
			found = true
		}
	})
	return found
}

// entryDir is the directory whose entries o changed to make its node
// appear under its new name.
func entryDir(o oplog.Op) uint64 {
	if o.Op == oplog.OpRename || o.Op == oplog.OpLink {
		return o.NewDir
	}
	return o.Dir
}

// checkFile checks the commit protocol for one final file (ino, size: as
// it is now, rel: its path in the mount, for the report): every byte
// written and flushed by FSYNC before one RENAME put it in place, and its
// directory flushed after that rename, all before the command exited.
func (r run) checkFile(rel string, ino uint64, size int64) []finding {
	var out []finding
	bad := func(rule, format string, args ...any) {
		out = append(out, finding{rule, rel, fmt.Sprintf(format, args...)})
	}
	var pub *oplog.Op // the last operation that put ino under a name
	lastWrite, wrote := r.start-1, int64(0)
	r.each(ino, func(o oplog.Op) {
		switch o.Op {
		case oplog.OpRename, oplog.OpCreate, oplog.OpLink, oplog.OpMknod:
			pub = &o
		case oplog.OpWrite, oplog.OpCopyFileRange, oplog.OpFallocate:
			lastWrite, wrote = o.Seq, wrote+o.Len
		case oplog.OpSetattr:
			if o.Flags&fuse.FATTR_SIZE != 0 {
				lastWrite = o.Seq
			}
		case oplog.OpOpen:
			if o.Flags&syscall.O_TRUNC != 0 {
				lastWrite = o.Seq
			}
		}
	})
	if wrote < size {
		bad(ruleData, "%d of its %d bytes reached the server as writes", wrote, size)
	}
	hi := r.exit
	switch {
	case pub == nil:
		bad(ruleAtomic, "no operation of the run put it in place: it was overwritten in place")
	case pub.Op != oplog.OpRename:
		bad(ruleAtomic, "put in place by %v, not by renaming a complete file", *pub)
	}
	if pub != nil {
		hi = pub.Seq
		if lastWrite > pub.Seq {
			bad(ruleOrder, "written (#%d) after it was put in place by %v", lastWrite, *pub)
		}
	}
	if !r.flushed(oplog.OpFsync, ino, lastWrite, hi) {
		bad(ruleFsync, "no FSYNC between its last write (#%d) and #%d", lastWrite, hi)
	}
	if pub != nil && !r.flushed(oplog.OpFsyncdir, entryDir(*pub), pub.Seq, r.exit) {
		bad(ruleFsyncdir, "no FSYNCDIR of its directory after %v", *pub)
	}
	return out
}

// checkDir checks a directory the command had to create: its entry
// appeared (MKDIR or RENAME) and then both the directory and its parent
// were flushed before the command exited.
func (r run) checkDir(rel string, ino uint64) []finding {
	var pub *oplog.Op
	r.each(ino, func(o oplog.Op) {
		if o.Op == oplog.OpMkdir || o.Op == oplog.OpRename {
			pub = &o
		}
	})
	if pub == nil {
		return []finding{{ruleDir, rel, "not created by the run"}}
	}
	var out []finding
	if !r.flushed(oplog.OpFsyncdir, ino, pub.Seq, r.exit) {
		out = append(out, finding{ruleDirSelf, rel, fmt.Sprintf("no FSYNCDIR of it after %v", *pub)})
	}
	if !r.flushed(oplog.OpFsyncdir, entryDir(*pub), pub.Seq, r.exit) {
		out = append(out, finding{ruleFsyncdir, rel, fmt.Sprintf("no FSYNCDIR of its parent after %v", *pub)})
	}
	return out
}

// checkUntouched checks a file the command must leave alone: no write to
// it, no rename onto it.
func (r run) checkUntouched(rel string, ino uint64) []finding {
	var out []finding
	r.each(ino, func(o oplog.Op) {
		switch o.Op {
		case oplog.OpWrite, oplog.OpCopyFileRange, oplog.OpFallocate, oplog.OpSetattr, oplog.OpUnlink:
			out = append(out, finding{ruleUntouch, rel, o.String()})
		}
	})
	for _, o := range r.ops[r.start:r.exit] {
		if o.OK() && o.Op == oplog.OpRename && o.New == rel {
			out = append(out, finding{ruleUntouch, rel, "replaced by " + o.String()})
		}
	}
	return out
}

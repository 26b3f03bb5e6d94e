//go:build linux

package oplog

import (
	"context"
	"path"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a loopback node that logs what it is asked to do. The data
// operations (WRITE, FSYNC, FLUSH, ...) are answered at the node, not by the
// file handle, because go-fuse asks the node first: the handles stay the
// loopback's own, which its COPY_FILE_RANGE needs.
type node struct {
	*fs.LoopbackNode
	log *logger
}

// The interfaces go-fuse looks for; a missing one would silently fall back
// to the unlogged loopback handle.
var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeWritever       = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
	_ fs.NodeAllocater      = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeFlusher        = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeSetxattrer     = (*node)(nil)
	_ fs.NodeRemovexattrer  = (*node)(nil)

	_ fs.FileFsyncdirer   = (*dirHandle)(nil)
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
	_ fs.FileReleasedirer = (*dirHandle)(nil)
)

// WrapChild makes every node the loopback creates (on LOOKUP, CREATE,
// MKDIR, ...) a logging one too.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), log: n.log}
}

func ino(in *fs.Inode) uint64 {
	if in == nil {
		return 0
	}
	return in.StableAttr().Ino
}

func relPath(in *fs.Inode) string {
	p := in.Path(nil)
	if p == "" {
		return "."
	}
	return p
}

func (n *node) self() *fs.Inode { return n.EmbeddedInode() }

func (n *node) child(name string) string { return path.Join(relPath(n.self()), name) }

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	n.log.add(Op{Op: OpCreate, Path: n.child(name), Ino: ino(ch), Dir: ino(n.self()), Flags: uint64(flags), Errno: int(errno)})
	return ch, fh, fl, errno
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	n.log.add(Op{Op: OpOpen, Path: relPath(n.self()), Ino: ino(n.self()), Flags: uint64(flags), Errno: int(errno)})
	return fh, fl, errno
}

func (n *node) Writev(ctx context.Context, f fs.FileHandle, data [][]byte, off int64) (uint32, syscall.Errno) {
	var written uint32
	var errno syscall.Errno
	switch w := f.(type) {
	case fs.FileWritever:
		written, errno = w.Writev(ctx, data, off)
	case fs.FileWriter:
		var all []byte
		for _, d := range data {
			all = append(all, d...)
		}
		written, errno = w.Write(ctx, all, off)
	default:
		errno = syscall.EBADF
	}
	n.log.add(Op{Op: OpWrite, Path: relPath(n.self()), Ino: ino(n.self()), Off: off, Len: int64(written), Errno: int(errno)})
	return written, errno
}

func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	count, errno := n.LoopbackNode.CopyFileRange(ctx, fhIn, offIn, out, fhOut, offOut, length, flags)
	n.log.add(Op{Op: OpCopyFileRange, Path: relPath(out), Ino: ino(out), Off: int64(offOut), Len: int64(count), Flags: flags, Errno: int(errno)})
	return count, errno
}

func (n *node) Allocate(ctx context.Context, f fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	errno := syscall.Errno(syscall.EBADF)
	if a, ok := f.(fs.FileAllocater); ok {
		errno = a.Allocate(ctx, off, size, mode)
	}
	n.log.add(Op{Op: OpFallocate, Path: relPath(n.self()), Ino: ino(n.self()), Off: int64(off), Len: int64(size), Flags: uint64(mode), Errno: int(errno)})
	return errno
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	errno := n.LoopbackNode.Setattr(ctx, f, in, out)
	size, _ := in.GetSize()
	n.log.add(Op{Op: OpSetattr, Path: relPath(n.self()), Ino: ino(n.self()), Len: int64(size), Flags: uint64(in.Valid), Errno: int(errno)})
	return errno
}

func (n *node) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno {
	var errno syscall.Errno
	if fl, ok := f.(fs.FileFlusher); ok {
		errno = fl.Flush(ctx)
	}
	n.log.add(Op{Op: OpFlush, Path: relPath(n.self()), Ino: ino(n.self()), Errno: int(errno)})
	return errno
}

// Fsync answers FSYNC of files. Directories arrive as FSYNCDIR at their
// handle (dirHandle), which go-fuse asks before the node.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	op, fault := OpFsync, FaultFsync
	if n.self().IsDir() {
		op, fault = OpFsyncdir, FaultFsyncdir
	}
	var errno syscall.Errno
	if n.log.fault(fault) {
		errno = syscall.EIO
	} else if fsy, ok := f.(fs.FileFsyncer); ok {
		errno = fsy.Fsync(ctx, flags)
	} else if fsd, ok := f.(fs.FileFsyncdirer); ok {
		errno = fsd.Fsyncdir(ctx, flags)
	} else {
		// Never ENOSYS: the kernel would stop sending fsyncs for good.
		errno = syscall.EIO
	}
	n.log.add(Op{Op: op, Path: relPath(n.self()), Ino: ino(n.self()), Flags: uint64(flags), Errno: int(errno)})
	return errno
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return fh, fl, errno
	}
	return &dirHandle{fh: fh, n: n}, fl, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	n.log.add(Op{Op: OpMkdir, Path: n.child(name), Ino: ino(ch), Dir: ino(n.self()), Flags: uint64(mode), Errno: int(errno)})
	return ch, errno
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
	n.log.add(Op{Op: OpMknod, Path: n.child(name), Ino: ino(ch), Dir: ino(n.self()), Flags: uint64(mode), Errno: int(errno)})
	return ch, errno
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Symlink(ctx, target, name, out)
	n.log.add(Op{Op: OpSymlink, Path: n.child(name), Ino: ino(ch), Dir: ino(n.self()), Errno: int(errno)})
	return ch, errno
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Link(ctx, target, name, out)
	t := target.EmbeddedInode()
	n.log.add(Op{Op: OpLink, Path: relPath(t), New: n.child(name), Ino: ino(t), NewDir: ino(n.self()), Errno: int(errno)})
	return ch, errno
}

// Rename passes the flags (RENAME_NOREPLACE, RENAME_EXCHANGE) through to
// renameat2 on the backing file system.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	moved := n.self().GetChild(name)
	np := newParent.EmbeddedInode()
	o := Op{Op: OpRename, Path: n.child(name), New: path.Join(relPath(np), newName), Ino: ino(moved),
		Dir: ino(n.self()), NewDir: ino(np), Flags: uint64(flags)}
	errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
	o.Errno = int(errno)
	n.log.add(o)
	return errno
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(OpUnlink, name, func() syscall.Errno { return n.LoopbackNode.Unlink(ctx, name) })
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(OpRmdir, name, func() syscall.Errno { return n.LoopbackNode.Rmdir(ctx, name) })
}

// remove logs the removal of name by do; the child's inode is taken
// before, while it is still there to ask.
func (n *node) remove(op string, name string, do func() syscall.Errno) syscall.Errno {
	o := Op{Op: op, Path: n.child(name), Ino: ino(n.self().GetChild(name)), Dir: ino(n.self())}
	errno := do()
	o.Errno = int(errno)
	n.log.add(o)
	return errno
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	errno := n.LoopbackNode.Setxattr(ctx, attr, data, flags)
	n.log.add(Op{Op: OpSetxattr, Path: relPath(n.self()), New: attr, Ino: ino(n.self()), Len: int64(len(data)), Errno: int(errno)})
	return errno
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	errno := n.LoopbackNode.Removexattr(ctx, attr)
	n.log.add(Op{Op: OpRemovexattr, Path: relPath(n.self()), New: attr, Ino: ino(n.self()), Errno: int(errno)})
	return errno
}

// dirHandle is an open directory. go-fuse sends FSYNCDIR to the handle when
// it can take it, so the handle is where directory flushes are logged.
type dirHandle struct {
	fh fs.FileHandle
	n  *node
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if r, ok := d.fh.(fs.FileReaddirenter); ok {
		return r.Readdirent(ctx)
	}
	return nil, 0
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if s, ok := d.fh.(fs.FileSeekdirer); ok {
		return s.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	if r, ok := d.fh.(fs.FileReleasedirer); ok {
		r.Releasedir(ctx, flags)
	}
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	var errno syscall.Errno
	if d.n.log.fault(FaultFsyncdir) {
		errno = syscall.EIO
	} else if f, ok := d.fh.(fs.FileFsyncdirer); ok {
		errno = f.Fsyncdir(ctx, flags)
	} else {
		// Never ENOSYS: the kernel would stop sending FSYNCDIR for good.
		errno = syscall.EIO
	}
	self := d.n.self()
	d.n.log.add(Op{Op: OpFsyncdir, Path: relPath(self), Ino: ino(self), Flags: uint64(flags), Errno: int(errno)})
	return errno
}

//go:build linux

package vdisk

import (
	"context"
	"path"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The source mount is a passthrough view of a directory on another file
// system (Config.Source), served by the disk's own process so that a move
// from it to the stick has its removals in the stick's recording, in order
// with the stick's writes and flushes. A removal is made under the disk's
// lock and recorded if it succeeded, so no write or flush of the stick
// comes between the two: a crash state cut before the event still has the
// file, one cut after it may not.

// RecRemove is a recorded event of the source mount: the entry at the
// path (the payload, relative to the mount) was removed or renamed away.
const RecRemove = 4

// SourceName is the source mount's directory inside the state directory.
const SourceName = "source"

type sourceNode struct {
	*fs.LoopbackNode
	m *model
}

var (
	_ fs.NodeWrapChilder = (*sourceNode)(nil)
	_ fs.NodeUnlinker    = (*sourceNode)(nil)
	_ fs.NodeRmdirer     = (*sourceNode)(nil)
	_ fs.NodeRenamer     = (*sourceNode)(nil)
)

func (n *sourceNode) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &sourceNode{LoopbackNode: ops.(*fs.LoopbackNode), m: n.m}
}

func (n *sourceNode) removal(name string, op func() syscall.Errno) syscall.Errno {
	return n.m.recordRemoval(path.Join(n.EmbeddedInode().Path(nil), name), op)
}

func (n *sourceNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.removal(name, func() syscall.Errno { return n.LoopbackNode.Unlink(ctx, name) })
}

func (n *sourceNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.removal(name, func() syscall.Errno { return n.LoopbackNode.Rmdir(ctx, name) })
}

func (n *sourceNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return n.removal(name, func() syscall.Errno { return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags) })
}

// recordRemoval makes a removal on the source mount and records it, if
// recording and it succeeded.
func (m *model) recordRemoval(p string, op func() syscall.Errno) syscall.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	errno := op()
	if errno != 0 || m.rec == nil {
		return errno
	}
	m.rec.add(RecEntry{Kind: RecRemove, N: int64(len(p))}, []byte(p))
	m.stats.Seq = m.rec.seq
	return 0
}

// mountSource serves backing on mnt.
func mountSource(m *model, backing, mnt string) (*fuse.Server, error) {
	lb, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, err
	}
	root := &sourceNode{LoopbackNode: lb.(*fs.LoopbackNode), m: m}
	root.RootData.RootNode = root
	return fs.Mount(mnt, root, &fs.Options{MountOptions: fuse.MountOptions{
		FsName:      "sure-vdisk-source",
		Name:        "surevdisksrc",
		DirectMount: true,
	}})
}

// Path returns the path of a RecRemove event, relative to the source
// mount.
func (r *Recording) Path(e RecEntry) (string, error) {
	b := make([]byte, e.N)
	if _, err := r.data.ReadAt(b, e.Data); err != nil {
		return "", err
	}
	return string(b), nil
}

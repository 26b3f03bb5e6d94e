//go:build linux

package vdisk

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/lab/internal/reexec"
)

// childEnv carries the JSON Config to a re-executed binary; see init.
const childEnv = "SURE_VDISK_SERVE"

// init turns any binary that links this package into a vdisk server when
// started by Start. Doing it here instead of in each main or TestMain means
// no binary can forget it and, re-executed, start its tests over again.
func init() {
	reexec.Serve(childEnv, "vdisk", Serve)
}

// Serve runs a disk until it is unmounted, told to quit, or signalled. It
// mounts the disk on Dir/mnt, creating the state directory if needed, and
// answers the control socket Dir/ctl.sock once the mount is up.
func Serve(cfg Config) error {
	if cfg.Size <= 0 || cfg.Size%512 != 0 {
		return fmt.Errorf("vdisk: size %d is not a positive multiple of 512", cfg.Size)
	}
	// The server sits in the block I/O path of the stick: memory reclaim
	// must not make it wait for that same I/O. It needs CAP_SYS_RESOURCE,
	// which containers often drop; without it the disk still works, only
	// less safely under memory pressure, so say so and go on.
	if err := setIOFlusher(); err != nil {
		log.Printf("vdisk: prctl(PR_SET_IO_FLUSHER): %v (continuing without it)", err)
	}
	mnt := mountDir(cfg.Dir)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return fmt.Errorf("vdisk: %w", err)
	}
	m, err := newModel(cfg.Dir, cfg.Size, cfg.Seed)
	if err != nil {
		return err
	}
	defer m.close()
	m.setFaults(cfg.Faults)

	root := &rootNode{img: &imageNode{m: m, directIO: !cfg.NoDirectIO}}
	zero := time.Duration(0)
	opts := &fs.Options{
		EntryTimeout: &zero,
		AttrTimeout:  &zero,
		MountOptions: fuse.MountOptions{
			FsName:      "sure-vdisk",
			Name:        "surevdisk",
			DirectMount: true,
			MaxWrite:    1 << 20,
			// Passthrough would let the kernel write the backing file
			// itself and the writeback cache would make it acknowledge
			// writes the server never saw; either way the model is blind.
			DisabledCapabilities: fuse.CAP_PASSTHROUGH | fuse.CAP_WRITEBACK_CACHE,
		},
	}
	srv, err := fs.Mount(mnt, root, opts)
	if err != nil {
		return fmt.Errorf("vdisk: mount %s: %w", mnt, err)
	}
	if cfg.Source != "" {
		smnt := filepath.Join(cfg.Dir, SourceName)
		if err := os.MkdirAll(smnt, 0o755); err != nil {
			srv.Unmount()
			return fmt.Errorf("vdisk: %w", err)
		}
		ssrv, err := mountSource(m, cfg.Source, smnt)
		if err != nil {
			srv.Unmount()
			return fmt.Errorf("vdisk: mount %s: %w", smnt, err)
		}
		defer func() {
			if err := ssrv.Unmount(); err != nil {
				unix.Unmount(smnt, unix.MNT_DETACH)
			}
		}()
	}
	sock := sockPath(cfg.Dir)
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		srv.Unmount()
		return fmt.Errorf("vdisk: %w", err)
	}
	defer ln.Close()
	quit := make(chan struct{}, 1)
	go serveControl(ln, m, quit)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-quit:
	case <-sigs:
	}
	// Anything still using disk.img (a loop device left attached) makes a
	// plain unmount fail; detach the mount so the server can exit, and the
	// stale users get ENOTCONN instead of hanging.
	m.yank()
	if err := srv.Unmount(); err != nil {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			log.Printf("vdisk: lazy unmount %s: %v", mnt, err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return nil
}

func setIOFlusher() error {
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_IO_FLUSHER, 1, 0)
	if e == 0 {
		return nil
	}
	if e != syscall.ENOTSUP {
		return e
	}
	// cgo binaries cannot change all threads at once; flag this one, and
	// threads cloned from it inherit the flag.
	return unix.Prctl(unix.PR_SET_IO_FLUSHER, 1, 0, 0, 0)
}

type rootNode struct {
	fs.Inode
	img *imageNode
}

var _ = (fs.NodeOnAdder)((*rootNode)(nil))

func (r *rootNode) OnAdd(ctx context.Context) {
	ch := r.NewPersistentInode(ctx, r.img, fs.StableAttr{Mode: syscall.S_IFREG, Ino: 2})
	r.AddChild(ImageName, ch, false)
}

type imageNode struct {
	fs.Inode
	m        *model
	directIO bool
}

var (
	_ = (fs.NodeGetattrer)((*imageNode)(nil))
	_ = (fs.NodeSetattrer)((*imageNode)(nil))
	_ = (fs.NodeOpener)((*imageNode)(nil))
	_ = (fs.NodeReader)((*imageNode)(nil))
	_ = (fs.NodeWriter)((*imageNode)(nil))
	_ = (fs.NodeFsyncer)((*imageNode)(nil))
	_ = (fs.NodeFlusher)((*imageNode)(nil))
	_ = (fs.NodeAllocater)((*imageNode)(nil))
)

func (n *imageNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o600
	out.Size = uint64(n.m.size)
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 4096
	return 0
}

// Setattr accepts only what does not change the disk: a stick cannot grow.
func (n *imageNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok && int64(sz) != n.m.size {
		return syscall.EPERM
	}
	return n.Getattr(ctx, f, out)
}

func (n *imageNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if n.m.snapshotStats().Yanked {
		return nil, 0, syscall.EIO
	}
	// Without the page cache every read reaches the model, so what the
	// host reads is what the stick holds (bit flips, wrapping included).
	if n.directIO {
		return nil, fuse.FOPEN_DIRECT_IO, 0
	}
	return nil, 0, 0
}

func (n *imageNode) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	k, err := n.m.read(dest, off)
	if err != nil {
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

func (n *imageNode) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	k, err := n.m.write(data, off)
	if err != nil {
		return 0, toErrno(err)
	}
	return uint32(k), 0
}

// Fsync is the barrier. It must never answer ENOSYS: the kernel would then
// stop sending fsync for the whole mount and report success.
func (n *imageNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	return toErrno(n.m.flush())
}

// Flush comes with every close(2), not with fsync; it promises nothing
// about durability, so it is not a barrier.
func (n *imageNode) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno {
	if n.m.snapshotStats().Yanked {
		return syscall.EIO
	}
	return 0
}

// Allocate models the loop driver's discards (punch hole) and write-zeroes
// (zero range); plain preallocation changes no content.
func (n *imageNode) Allocate(ctx context.Context, f fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	if mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) == 0 {
		if n.m.snapshotStats().Yanked {
			return syscall.EIO
		}
		if int64(off+size) > n.m.size {
			return syscall.ENOSPC
		}
		return 0
	}
	return toErrno(n.m.zero(int64(off), int64(size)))
}

func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

// request is one line of the control protocol; the reply is one JSON line
// of response.
type request struct {
	Op     string         `json:"op"` // stats, cut, yank, faults, record, unrecord, quit
	Cut    *CutOptions    `json:"cut,omitempty"`
	Faults *Faults        `json:"faults,omitempty"`
	Record *RecordOptions `json:"record,omitempty"`
}

type response struct {
	Error string     `json:"error,omitempty"`
	Stats *Stats     `json:"stats,omitempty"`
	Cut   *CutResult `json:"cut,omitempty"`
}

func serveControl(ln net.Listener, m *model, quit chan<- struct{}) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			enc := json.NewEncoder(c)
			for sc.Scan() {
				var req request
				var resp response
				if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
					resp.Error = err.Error()
				} else {
					resp = handle(m, req, quit)
				}
				if enc.Encode(resp) != nil {
					return
				}
			}
		}()
	}
}

func handle(m *model, req request, quit chan<- struct{}) response {
	var resp response
	switch req.Op {
	case "stats":
	case "cut":
		if req.Cut == nil || req.Cut.Out == "" {
			resp.Error = "cut needs an output file"
			break
		}
		res, err := m.cut(*req.Cut)
		if err != nil {
			resp.Error = err.Error()
		}
		resp.Cut = &res
	case "yank":
		m.yank()
	case "faults":
		var f Faults
		if req.Faults != nil {
			f = *req.Faults
		}
		m.setFaults(f)
	case "record":
		var o RecordOptions
		if req.Record != nil {
			o = *req.Record
		}
		if err := m.record(o); err != nil {
			resp.Error = err.Error()
		}
	case "unrecord":
		if _, err := m.unrecord(); err != nil {
			resp.Error = err.Error()
		}
	case "quit":
		select {
		case quit <- struct{}{}:
		default:
		}
	default:
		resp.Error = fmt.Sprintf("unknown op %q", req.Op)
	}
	st := m.snapshotStats()
	resp.Stats = &st
	return resp
}

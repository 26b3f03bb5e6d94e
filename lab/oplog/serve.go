//go:build linux

package oplog

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Config says what to serve.
type Config struct {
	Backing    string // directory whose tree the mount shows
	Mountpoint string
	Log        string // file the operations are appended to, created if missing
	Faults     string // directory of fault switches (FaultFsync, ...); "" for none
}

// Serve mounts cfg.Backing on cfg.Mountpoint and answers the kernel until
// the file system is unmounted or the process gets SIGINT or SIGTERM. ready
// is called once the mount is usable.
func Serve(cfg Config, ready func()) error {
	logf, err := os.OpenFile(cfg.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// The server is on the I/O path of whoever writes to the mount; without
	// this, memory reclaim in the server could wait on the writes it serves.
	unix.Prctl(unix.PR_SET_IO_FLUSHER, 1, 0, 0, 0)

	lb, err := fs.NewLoopbackRoot(cfg.Backing)
	if err != nil {
		return fmt.Errorf("oplog: %w", err)
	}
	root := &node{LoopbackNode: lb.(*fs.LoopbackNode), log: &logger{f: logf, faults: cfg.Faults}}
	root.RootData.RootNode = root

	opts := &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName:      "oplog",
			Name:        "oplog",
			DirectMount: true,
			// Both would let writes bypass the server: the writeback cache
			// holds them in the kernel until it chooses to write back,
			// passthrough sends them straight to the backing file.
			DisabledCapabilities: fuse.CAP_WRITEBACK_CACHE | fuse.CAP_PASSTHROUGH,
		},
	}
	server, err := fs.Mount(cfg.Mountpoint, root, opts)
	if err != nil {
		return fmt.Errorf("oplog: mounting %s: %w", cfg.Mountpoint, err)
	}
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		return fmt.Errorf("oplog: mounting %s: %w", cfg.Mountpoint, err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		server.Unmount()
	}()
	if ready != nil {
		ready()
	}
	server.Wait()
	return nil
}

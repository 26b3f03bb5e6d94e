package flush

import (
	"os"
	"strings"
	"time"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"golang.org/x/sys/unix"
)

func syncfsMethod() string {
	if fsinfo.KernelAtLeast(5, 8) {
		return "syncfs"
	}
	rel, _, _ := fsinfo.Kernel()
	return "syncfs (kernel " + rel + " is older than 5.8 and does not report write errors)"
}

// All flushes every file system backed by a device. sync(2) first starts
// writeback everywhere at once; then syncfs on each mount waits for it and,
// unlike sync(2), reports errors per file system. A FUSE file system over a
// block device (an exFAT or FAT stick) is flushed file by file and then
// through its device, since syncfs never reaches its server; one with no
// device under it holds nothing a flush could save and is only listed.
func All() []Result {
	return AllWith(Options{})
}

// AllWith is All with progress reports.
func AllWith(o Options) []Result {
	start := time.Now()
	unix.Sync()
	ms, err := fsinfo.Mounts()
	if err != nil {
		return []Result{{Mount: fsinfo.Mount{MountPoint: "/"}, Method: "sync(2)", Err: err}}
	}
	var out []Result
	seen := map[[2]uint32]bool{}
	for _, m := range ms {
		dev := [2]uint32{m.Major, m.Minor}
		if seen[dev] || !onDevice(m) {
			continue
		}
		seen[dev] = true
		if m.MountedReadOnly {
			out = append(out, Result{Mount: m, Skipped: true, Method: mountedReadOnly})
			continue
		}
		if m.ReadOnly {
			// A flush there returns success and writes nothing, whatever
			// was lost when it turned read-only (durable.SyncFS says so
			// with EROFS).
			out = append(out, Result{Mount: m, Skipped: true,
				Method: "not flushed: read-only (if it turned read-only after an error, what was written to it before may be lost)"})
			continue
		}
		if m.IsFUSE() {
			if _, ok := fsinfo.BackingDevice(m); !ok {
				out = append(out, Result{Mount: m, Skipped: true,
					Method: "not flushed: a FUSE file system with no block device under it"})
				continue
			}
			out = append(out, fuseTree(m, m.MountPoint, o))
			continue
		}
		r := Result{Mount: m, Method: syncfsMethod()}
		flushToo := false
		if b, _ := fsinfo.BarrierFor(m); b == fsinfo.BarrierSyncFSFlush {
			flushToo = true
			r.Method += ", then fsync of " + m.MountPoint + " (syncfs on " + m.FSType + " is not trusted to flush the drive's cache)"
		}
		r.Err = o.watch(m, func() error { return syncMount(m.MountPoint, flushToo) })
		if r.Err == nil {
			r.Recorded, r.Err = Record(m, start)
		}
		out = append(out, r)
	}
	return out
}

// syncMount opens the mount point without following a symlink placed
// there and without blocking on an automount; flushToo adds the fsync that
// flushes the drive where syncfs does not.
func syncMount(dir string, flushToo bool) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	unix.Close(fd)
	if flushToo {
		return durable.SyncFSFlush(dir)
	}
	return durable.SyncFS(dir)
}

// onDevice keeps file systems that hold data a flush can save: block
// devices, FUSE file systems over them, and network file systems.
func onDevice(m fsinfo.Mount) bool {
	switch {
	case strings.HasPrefix(m.Source, "/dev/"):
		return true
	case m.IsFUSE():
		return true
	}
	return fsinfo.CapsOf(m).Network
}

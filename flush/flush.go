// Package flush implements `sure sync`: flush the file systems that hold
// some paths, or all of them, and say exactly what was done and what
// failed. It never falls back silently to something weaker.
package flush

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sure-tools/sure/drivecache"
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
	// Recorded is nil when, after the flush, sure recorded that the drive
	// held nothing unflushed (package drivecache, read by sure status);
	// otherwise it says why no record was made.
	Recorded error
}

// Sample is what a flush still has to write, taken while it runs.
type Sample struct {
	Mount     fsinfo.Mount
	Dirty     int64  // bytes changed in RAM, not yet sent to the device
	Writeback int64  // bytes sent, not yet acknowledged
	Scope     string // what Dirty and Writeback count, in words
	// Rate is how fast the drive has been writing, in bytes per second,
	// from its own counters; 0 while unknown.
	Rate    float64
	Elapsed time.Duration
}

// ETA is how long the pending bytes take at the measured rate, 0 when
// the rate is unknown.
func (s Sample) ETA() time.Duration {
	if s.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(s.Dirty+s.Writeback) / s.Rate * float64(time.Second))
}

// Options adds progress reports to a flush.
type Options struct {
	// Progress, if set, is called every Interval while a flush runs.
	Progress func(Sample)
	Interval time.Duration // 0 means one second
}

// watch runs flush, sampling the mount's pending bytes meanwhile.
func (o Options) watch(m fsinfo.Mount, flush func() error) error {
	if o.Progress == nil {
		return flush()
	}
	every := o.Interval
	if every <= 0 {
		every = time.Second
	}
	done := make(chan error, 1)
	go func() { done <- flush() }()
	s := newSampler(m)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			if smp, ok := s.sample(); ok {
				o.Progress(smp)
			}
		}
	}
}

// Record notes, after a successful flush of m that began at start, that
// its drive holds nothing unflushed, for 'sure status'. A failed cache
// flush of the drive is an error of the flush; anything else only means
// no record (recorded says why).
func Record(m fsinfo.Mount, start time.Time) (recorded, err error) {
	d, derr := drivecache.DiskFor(m)
	if derr != nil {
		return derr, nil
	}
	// The flush's last check that the file system still takes changes
	// (durable's unnamed temporary file) leaves a journal transaction
	// behind on ext4: write it back before the drive's flush, so that the
	// record covers it and sure status's own write-back finds nothing.
	if _, err := drivecache.WriteBack(d, m.MountPoint, false); err != nil {
		// The file system failing to write back is the drive failing
		// this flush; not reading its counters only means no record.
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) && pe.Op == "syncfs" {
			return err, err
		}
		return err, nil
	}
	var ferr error
	recorded = drivecache.MarkFlushed(d, start, func() error {
		ferr = durable.SyncPath(d.Path)
		if errors.Is(ferr, fs.ErrPermission) {
			// A desktop user may not open the device, but on the file
			// systems whose fsync always flushes the drive an fsync of
			// the mount point does the same; MarkFlushed's counters
			// prove whether a flush reached the drive and nothing was
			// written meanwhile, so elsewhere it only records nothing.
			ferr = durable.SyncPath(m.MountPoint)
		}
		return ferr
	})
	if ferr != nil && !errors.Is(ferr, fs.ErrPermission) {
		return recorded, ferr
	}
	return recorded, nil
}

// Paths flushes the file system of each path once, however many of the
// paths it holds. On a FUSE file system syncfs does not reach the server,
// so every file and directory under the path is flushed on its own instead.
func Paths(paths []string) []Result {
	return PathsWith(paths, Options{})
}

// PathsWith is Paths with progress reports.
func PathsWith(paths []string, o Options) []Result {
	var out []Result
	seen := map[string]bool{}
	for _, p := range paths {
		m, err := fsinfo.ForPath(p)
		if err != nil {
			out = append(out, Result{Mount: fsinfo.Mount{MountPoint: p}, Err: err})
			continue
		}
		if seen[m.MountPoint] {
			continue
		}
		if m.MountedReadOnly {
			seen[m.MountPoint] = true
			out = append(out, Result{Mount: m, Skipped: true, Method: mountedReadOnly})
			continue
		}
		if m.IsFUSE() {
			out = append(out, fuseTree(m, p, o))
			continue
		}
		seen[m.MountPoint] = true
		start := time.Now()
		r := Result{Mount: m, Method: syncfsMethod()}
		sync := durable.SyncFS
		if b, _ := fsinfo.BarrierFor(m); b == fsinfo.BarrierSyncFSFlush {
			// Its syncfs sends the drive no cache flush; the fsync does.
			sync = durable.SyncFSFlush
			r.Method += ", then fsync of " + p + " (syncfs on " + m.FSType + " is not trusted to flush the drive's cache)"
		}
		r.Err = o.watch(m, func() error { return sync(p) })
		if r.Err == nil {
			r.Recorded, r.Err = Record(m, start)
		}
		out = append(out, r)
	}
	return out
}

// mountedReadOnly is why a mount made read-only is not flushed: a flush
// there returns success and writes nothing, and nothing is written
// through it that a flush could save.
const mountedReadOnly = "not flushed: mounted read-only, so nothing is written through it"

// fuseTree flushes a FUSE file system the only way that reaches its media:
// every file and directory under root, then the block device under it.
func fuseTree(m fsinfo.Mount, root string, o Options) Result {
	start := time.Now()
	var n int
	err := o.watch(m, func() error {
		var err error
		n, err = tree(root)
		return err
	})
	method := fmt.Sprintf("fsync of %d files and directories under %s (syncfs does not reach a FUSE server)", n, root)
	dev, ok := fsinfo.BackingDevice(m)
	if ok && fsinfo.FlushDevice(m) == "" {
		// This user may not open the device, and need not: the server's
		// own fsync flushed it.
		method += fmt.Sprintf("; the server flushes the device %s on each one", dev)
	} else if ok {
		method += ", then of the device " + dev
		if err == nil {
			err = durable.SyncPath(dev)
		}
	} else if fsinfo.CapsOf(m).NoFsync {
		// Every fsync above was answered by the kernel alone.
		if err == nil {
			err = fmt.Errorf("no block device found under the FUSE server, and %s implements no fsync: nothing reached the media", m.FSType)
		}
	} else {
		method += "; no block device found under it, so this rests on the server implementing fsync"
	}
	r := Result{Mount: m, Files: n, Err: err, Method: method}
	switch {
	case !ok:
		r.Recorded = errors.New("no block device under the FUSE server")
	case err == nil && !sameDir(root, m.MountPoint):
		// Files outside root were not flushed through the server.
		r.Recorded = fmt.Errorf("only %s was flushed, not all of %s", root, m.MountPoint)
	case err == nil:
		r.Recorded, r.Err = Record(m, start)
	}
	return r
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

func sameDir(a, b string) bool {
	ra, err1 := filepath.Abs(a)
	rb, err2 := filepath.Abs(b)
	if err1 != nil || err2 != nil {
		return false
	}
	ra, err1 = filepath.EvalSymlinks(ra)
	rb, err2 = filepath.EvalSymlinks(rb)
	return err1 == nil && err2 == nil && ra == rb
}

// Unreachable says, before anything is written under path, why this user
// cannot make writes there durable at all: a FUSE file system reaches the
// drive only through its block device, which must be opened to be
// flushed. nil when a flush can reach the drive, or when path's file
// system cannot be found (the write then reports that itself).
func Unreachable(path string) error {
	dir := path
	var m fsinfo.Mount
	for {
		var err error
		if m, err = fsinfo.ForPath(dir); err == nil {
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			return nil
		}
		dir = up
	}
	if b, _ := fsinfo.BarrierFor(m); b != fsinfo.BarrierPerFile || !m.IsFUSE() {
		return nil
	}
	dev, ok := fsinfo.BackingDevice(m)
	if !ok {
		return nil
	}
	f, err := os.Open(dev)
	if err == nil {
		f.Close()
		return nil
	}
	// exfat-fuse flushes its device on every fsync: the per-file flushes
	// reach the drive without this user opening it.
	if !errors.Is(err, fs.ErrPermission) || fsinfo.CapsOf(m).FsyncReachesDevice {
		return nil
	}
	return fmt.Errorf("%s is a FUSE file system (%s) whose server writes to %s, which this user may not open, so no flush can reach the drive: run sure as root, give this user access to %s, or mount the stick with the kernel's driver (udisksctl mount -b %s): %w",
		m.MountPoint, m.FSType, dev, dev, dev, err)
}

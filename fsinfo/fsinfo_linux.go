package fsinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/proc"
)

// Mounts reads /proc/self/mountinfo.
func Mounts() ([]Mount, error) {
	infos, err := proc.Mounts()
	if err != nil {
		return nil, err
	}
	ms := make([]Mount, len(infos))
	for i, in := range infos {
		ms[i] = mountOf(in)
	}
	return ms, nil
}

// parseMountInfo reads one line of mountinfo.
func parseMountInfo(line string) (Mount, bool) {
	in, ok := proc.ParseMountInfo(line)
	return mountOf(in), ok
}

func mountOf(in proc.MountInfo) Mount {
	m := Mount{MountPoint: in.MountPoint, FSType: in.FSType, Source: in.Source, Options: in.SuperOptions, Major: in.Major, Minor: in.Minor}
	// Read-only either way: the mount (a read-only bind mount) or the file
	// system itself (mounted so, or turned so after an error).
	m.MountedReadOnly = firstOption(in.MountOptions) == "ro"
	m.ReadOnly = m.MountedReadOnly || firstOption(m.Options) == "ro"
	return m
}

func firstOption(opts string) string {
	o, _, _ := strings.Cut(opts, ",")
	return o
}

// ForPath finds the mount that holds path (which must exist): the mount
// with the longest mount point that is a prefix of the resolved path.
func ForPath(path string) (Mount, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Mount{}, &os.PathError{Op: "mountinfo", Path: path, Err: err}
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	} else {
		return Mount{}, &os.PathError{Op: "mountinfo", Path: path, Err: err}
	}
	ms, err := Mounts()
	if err != nil {
		return Mount{}, err
	}
	best := -1
	for i, m := range ms {
		if !within(abs, m.MountPoint) {
			continue
		}
		// A later line for the same mount point is mounted over the
		// earlier one and is what path sees.
		if best < 0 || len(m.MountPoint) >= len(ms[best].MountPoint) {
			best = i
		}
	}
	if best < 0 {
		return Mount{}, &os.PathError{Op: "mountinfo", Path: path, Err: fmt.Errorf("no mount holds it")}
	}
	return ms[best], nil
}

func within(path, dir string) bool {
	if dir == "/" {
		return true
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

var kernel struct {
	once         sync.Once
	major, minor int
	release      string
}

// Kernel returns the running kernel's release string and version.
func Kernel() (release string, major, minor int) {
	kernel.once.Do(func() {
		var u unix.Utsname
		if unix.Uname(&u) != nil {
			return
		}
		kernel.release = unix.ByteSliceToString(u.Release[:])
		fmt.Sscanf(kernel.release, "%d.%d", &kernel.major, &kernel.minor)
	})
	return kernel.release, kernel.major, kernel.minor
}

// KernelAtLeast reports whether the running kernel is major.minor or newer.
func KernelAtLeast(major, minor int) bool {
	_, ma, mi := Kernel()
	return ma > major || ma == major && mi >= minor
}

// BarrierFor decides how writes on m are made durable, with the reason in
// words for users who ask why.
func BarrierFor(m Mount) (Barrier, string) {
	rel, _, _ := Kernel()
	server := ""
	if m.FSType == "fuseblk" {
		server = fuseServer(m) // the server is asked for only where it decides
	}
	fsyncAll := m.IsFUSE() && capsOf(m.FSType, "", server).FsyncFlushesAll
	return barrierFor(m, KernelAtLeast(5, 8), rel, BackingDevice, fsyncAll)
}

// barrierFor is BarrierFor's decision, given what it needs to know about
// the running kernel (syncfs reports writeback errors from 5.8 on), a way
// to find the device under a FUSE file system, and whether its server
// flushes everything on any fsync.
func barrierFor(m Mount, syncfsReports bool, release string, backing func(Mount) (string, bool), fsyncAll bool) (Barrier, string) {
	if m.IsFUSE() && fsyncAll {
		return BarrierServerFsync, fmt.Sprintf("%s is a FUSE file system (%s) whose server writes everything it holds and flushes its device on every fsync: one fsync of a directory there flushes the batch and reports its errors", m.MountPoint, m.FSType)
	}
	if m.IsFUSE() {
		if dev, ok := backing(m); ok {
			return BarrierPerFile, fmt.Sprintf("%s is a FUSE file system (%s): syncfs does not reach its server; every file is flushed, then the device %s", m.MountPoint, m.FSType, dev)
		}
		return BarrierPerFile, fmt.Sprintf("%s is a FUSE file system (%s) with no block device found under it: every file is flushed, and durability rests on its server implementing fsync", m.MountPoint, m.FSType)
	}
	if !syncfsReports {
		return BarrierPerFile, fmt.Sprintf("kernel %s is older than 5.8: syncfs does not report write errors", release)
	}
	if why := capsOf(m.FSType, "", "").SyncFSNoFlush; why != "" {
		return BarrierSyncFSFlush, fmt.Sprintf("%s (%s): one syncfs writes the batch and reports its errors, but %s; an fsync of a directory on it then flushes the drive", m.MountPoint, m.FSType, why)
	}
	return BarrierSyncFS, fmt.Sprintf("%s (%s): one syncfs flushes the batch and reports its errors", m.MountPoint, m.FSType)
}

// DebugfsDir is where debugfs, the kernel's debugging interface (which
// counts each bdi's dirty pages), is mounted; "" when nowhere.
func DebugfsDir() string {
	ms, err := Mounts()
	if err != nil {
		return ""
	}
	for _, m := range ms {
		if m.FSType == "debugfs" {
			return m.MountPoint
		}
	}
	return ""
}

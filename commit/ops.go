package commit

import (
	"io/fs"
	"os"
	"time"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
)

// ops is every operation the protocol performs on the file systems, each
// a step whose failure it must handle. osOps performs them; the tests put
// one that injects errors in its place (errorfs_test.go), so that each
// failure branch runs without root or a faulty device.
type ops interface {
	// describe says how the file system holding where is made durable;
	// the caller fills in dir.
	describe(where string) (*fileSystem, error)

	createTemp(d *beneath.Dir, perm fs.FileMode) (*os.File, error)
	symlink(d *beneath.Dir, target, name string) error
	link(d, from *beneath.Dir, oldname, name string) error
	openInPlace(d *beneath.Dir, name string) (*os.File, error)
	rename(d *beneath.Dir, oldname, name string, noReplace bool) error
	remove(d *beneath.Dir, name string) error
	close(f *os.File) error
	chtimes(d *beneath.Dir, name string, atime, mtime time.Time) error

	// The flushes: of one file, of a directory, of the whole file system
	// (with or without the directory fsync that reaches the drive), and of
	// the block device under a FUSE file system.
	syncFile(f *os.File) error
	syncDir(dir *os.File) error
	syncFS(dir *os.File) error
	syncFSFlush(dir *os.File) error
	syncDevice(path string) error
}

type osOps struct{}

func (osOps) describe(where string) (*fileSystem, error) {
	m, err := fsinfo.ForPath(where)
	if err != nil {
		return nil, err
	}
	b, why := fsinfo.BarrierFor(m)
	f := &fileSystem{mount: m, caps: fsinfo.CapsOf(m), barrier: b, why: why}
	f.landedCovers = b == fsinfo.BarrierSyncFS && f.caps.CommitCoversLanded
	if b == fsinfo.BarrierPerFile {
		f.device = fsinfo.FlushDevice(m)
	}
	return f, nil
}

func (osOps) createTemp(d *beneath.Dir, perm fs.FileMode) (*os.File, error) {
	return d.CreateTemp(perm)
}

func (osOps) symlink(d *beneath.Dir, target, name string) error { return d.Symlink(target, name) }

func (osOps) link(d, from *beneath.Dir, oldname, name string) error {
	return d.Link(from, oldname, name)
}

func (osOps) openInPlace(d *beneath.Dir, name string) (*os.File, error) {
	return d.OpenFile(name, syncOpenFlag)
}

func (osOps) rename(d *beneath.Dir, oldname, name string, noReplace bool) error {
	return d.Rename(oldname, name, noReplace)
}

func (osOps) remove(d *beneath.Dir, name string) error { return d.Remove(name) }
func (osOps) chtimes(d *beneath.Dir, name string, atime, mtime time.Time) error {
	return d.Chtimes(name, atime, mtime)
}
func (osOps) close(f *os.File) error         { return f.Close() }
func (osOps) syncFile(f *os.File) error      { return durable.SyncFile(f) }
func (osOps) syncDir(dir *os.File) error     { return durable.SyncDirOf(dir) }
func (osOps) syncFS(dir *os.File) error      { return durable.SyncFSOf(dir) }
func (osOps) syncFSFlush(dir *os.File) error { return durable.SyncFSFlushOf(dir) }
func (osOps) syncDevice(path string) error   { return durable.SyncPath(path) }

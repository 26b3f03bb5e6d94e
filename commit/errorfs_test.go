package commit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
	"github.com/sure-tools/sure/internal/tempdir"
)

// errorFS is the protocol's ops with one failure injected: the nth call
// of the operation fail returns err. Operations on names (create, link,
// rename, remove) are real, in the host's temporary directory; flushes are
// recorded, not performed, since no device could show here what they
// reached (the vdisk tests do), and syncfs of the host's file system
// would flush everybody's writes. describe claims the barrier under test.
type errorFS struct {
	osOps
	barrier fsinfo.Barrier
	device  string // claimed under a per-file file system; "" for none
	caps    fsinfo.Caps
	// landed claims a commit that covers landed data; the Committer's
	// Landed hook then logs "landed" and answers yes unless it fails.
	landed bool

	fail string
	nth  int
	err  syscall.Errno

	mu    sync.Mutex
	calls map[string]int
	log   []opRecord
}

// opRecord is one operation in the order the protocol ran them.
type opRecord struct {
	op     string
	path   string // what it acted on; a rename's source
	to     string // a rename's target
	failed bool
}

// hit logs op on path and says whether it is the one to fail.
func (e *errorFS) hit(op, path, to string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[op]++
	r := opRecord{op: op, path: path, to: to}
	var err error
	if op == e.fail && e.calls[op] == e.nth {
		r.failed = true
		err = &os.PathError{Op: op, Path: path, Err: e.err}
	}
	e.log = append(e.log, r)
	return err
}

func (e *errorFS) describe(where string) (*fileSystem, error) {
	if err := e.hit("describe", where, ""); err != nil {
		return nil, err
	}
	m, err := fsinfo.ForPath(where)
	if err != nil {
		return nil, err
	}
	return &fileSystem{mount: m, caps: e.caps, barrier: e.barrier, why: "under test", device: e.device, landedCovers: e.landed}, nil
}

func (e *errorFS) createTemp(d *beneath.Dir, perm fs.FileMode) (*os.File, error) {
	f, err := e.osOps.createTemp(d, perm)
	if err != nil {
		return nil, err
	}
	if err := e.hit("createTemp", f.Name(), ""); err != nil {
		// The file was made, as ENOSPC may leave it; the caller hears it
		// was not, so it must not stay either.
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

func (e *errorFS) symlink(d *beneath.Dir, target, name string) error {
	if err := e.hit("symlink", d.Name(name), ""); err != nil {
		return err
	}
	return e.osOps.symlink(d, target, name)
}

func (e *errorFS) link(d, from *beneath.Dir, oldname, name string) error {
	if err := e.hit("link", d.Name(name), ""); err != nil {
		return err
	}
	return e.osOps.link(d, from, oldname, name)
}

func (e *errorFS) openInPlace(d *beneath.Dir, name string) (*os.File, error) {
	if err := e.hit("openInPlace", d.Name(name), ""); err != nil {
		return nil, err
	}
	return e.osOps.openInPlace(d, name)
}

func (e *errorFS) rename(d *beneath.Dir, oldname, name string, noReplace bool) error {
	if err := e.hit("rename", d.Name(oldname), d.Name(name)); err != nil {
		return err
	}
	return e.osOps.rename(d, oldname, name, noReplace)
}

func (e *errorFS) remove(d *beneath.Dir, name string) error {
	if err := e.hit("remove", d.Name(name), ""); err != nil {
		return err
	}
	return e.osOps.remove(d, name)
}

func (e *errorFS) close(f *os.File) error {
	err := e.osOps.close(f)
	if herr := e.hit("close", f.Name(), ""); herr != nil {
		return herr
	}
	return err
}

func (e *errorFS) chtimes(d *beneath.Dir, name string, atime, mtime time.Time) error {
	if err := e.hit("chtimes", d.Name(name), ""); err != nil {
		return err
	}
	return e.osOps.chtimes(d, name, atime, mtime)
}

func (e *errorFS) syncFile(f *os.File) error    { return e.hit("syncFile", f.Name(), "") }
func (e *errorFS) syncDir(dir *os.File) error   { return e.hit("syncDir", dir.Name(), "") }
func (e *errorFS) syncFS(dir *os.File) error    { return e.hit("syncFS", dir.Name(), "") }
func (e *errorFS) syncFSFlush(d *os.File) error { return e.hit("syncFSFlush", d.Name(), "") }
func (e *errorFS) syncDevice(path string) error { return e.hit("syncDevice", path, "") }

// planned is one entry of the conformance job.
type planned struct {
	final   string
	want    string // content (a symlink's target) once durable
	before  string // what the final name held before; "" for nothing
	symlink bool
	inPlace bool
	data    bool // a regular file written through the protocol

	entry  *Entry
	apiErr error // the call that was to stage it failed
	res    *Result
}

// job runs the conformance job through c in dir: a file committed by a
// Step, then a batch of a replacement, a file in a new directory, a
// symlink, a hard link and a file left in place, committed by Flush. It
// returns the plan and every error the calls returned.
func job(t *testing.T, c *Committer, dir string, links, symlinks bool) ([]*planned, []error) {
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "old"), []byte("old"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "kept"), []byte("kept"), 0o644))
	sub := filepath.Join(dir, "sub")
	must(os.Mkdir(sub, 0o755))

	var errs []error
	var plan []*planned
	file := func(p *planned) {
		plan = append(plan, p)
		e, f, err := c.Create(p.final, 0o644, false)
		if err != nil {
			p.apiErr = err
			return
		}
		if _, err := f.WriteString(p.want); err != nil {
			t.Fatal(err)
		}
		e.Size = int64(len(p.want))
		if err := c.Stage(e, f); err != nil {
			p.apiErr = err
			return
		}
		p.entry = e
	}
	var results []Result
	a := &planned{final: filepath.Join(dir, "a"), want: "aaaa", data: true}
	file(a)
	results = append(results, c.Step()...)

	file(&planned{final: filepath.Join(dir, "old"), want: "new!", before: "old", data: true})
	if err := c.DirCreated(sub); err != nil {
		errs = append(errs, err)
	}
	cc := &planned{final: filepath.Join(sub, "c"), want: "cccccc", data: true}
	file(cc)
	if symlinks {
		p := &planned{final: filepath.Join(dir, "s"), want: "a", symlink: true}
		plan = append(plan, p)
		p.apiErr = c.Symlink("a", p.final, false, p)
	}
	if links && cc.entry != nil {
		p := &planned{final: filepath.Join(dir, "l"), want: cc.want}
		plan = append(plan, p)
		p.apiErr = c.Link(cc.entry, p.final, false, p)
	}
	kept := &planned{final: filepath.Join(dir, "kept"), want: "kept", before: "kept", inPlace: true}
	plan = append(plan, kept)
	if e, ok := c.ops.(*errorFS); ok {
		e.hit("mark", kept.final, "")
	}
	kept.apiErr = c.InPlace(kept.final, kept)
	results = append(results, c.Flush()...)
	if err := c.FlushDirs(); err != nil {
		errs = append(errs, err)
	}

	for i := range results {
		r := &results[i]
		var p *planned
		for _, q := range plan {
			if q.entry == r.Entry || r.Entry.Tag == q {
				p = q
			}
		}
		if p == nil {
			t.Fatalf("a result for %s, which was never staged", r.Entry.Final)
		}
		if p.res != nil {
			t.Errorf("%s reported twice: %v, then %v", p.final, p.res.Err, r.Err)
		}
		p.entry, p.res = r.Entry, r
	}
	for _, p := range plan {
		if p.apiErr != nil {
			errs = append(errs, p.apiErr)
		} else if p.res == nil {
			t.Errorf("%s staged but never reported", p.final)
		} else if p.res.Err != nil {
			errs = append(errs, p.res.Err)
		}
	}
	return plan, errs
}

// holds reads what is at name: a file's content, a symlink's target, ""
// for nothing.
func holds(t *testing.T, name string, symlink bool) string {
	if symlink {
		target, err := os.Readlink(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return target
	}
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// TestInjectedFailures runs the commit protocol's job under every barrier
// kind with one operation failing at a time, each call of each operation
// in turn (ENOSPC on names, EIO on flushes), and checks what every
// failure branch must keep: a final name holds its old content or the
// complete new one, nothing else; no temporary file stays unless an error
// names it; and no file is reported durable when a flush it depended on
// failed.
func TestInjectedFailures(t *testing.T) {
	probe := tempdir.ForTest(t)
	// Symlinks where they can be made and renamed (wine makes them, then
	// cannot rename them), hard links where they can be made.
	symlinks := os.Symlink("f", filepath.Join(probe, "s")) == nil && os.Rename(filepath.Join(probe, "s"), filepath.Join(probe, "s2")) == nil
	os.WriteFile(filepath.Join(probe, "f"), nil, 0o644)
	links := os.Link(filepath.Join(probe, "f"), filepath.Join(probe, "l")) == nil

	for _, mode := range []struct {
		name    string
		barrier fsinfo.Barrier
		device  string
	}{
		{"syncfs", fsinfo.BarrierSyncFS, ""},
		{"syncfs+fsync", fsinfo.BarrierSyncFSFlush, ""},
		{"per-file", fsinfo.BarrierPerFile, ""},
		{"per-file+device", fsinfo.BarrierPerFile, "/dev/under-test"},
		{"syncfs+landed", fsinfo.BarrierSyncFS, ""},
	} {
		t.Run(mode.name, func(t *testing.T) {
			run := func(t *testing.T, fail string, nth int, errno syscall.Errno) *errorFS {
				dir := tempdir.ForTest(t)
				efs := &errorFS{barrier: mode.barrier, device: mode.device, fail: fail, nth: nth, err: errno, calls: map[string]int{}, landed: strings.HasSuffix(mode.name, "+landed")}
				c := New()
				c.ops = efs
				c.Landed = efs.landedHook
				plan, errs := job(t, c, dir, links, symlinks)
				check(t, efs, dir, plan, errs)
				return efs
			}
			clean := run(t, "", 0, 0)
			for _, op := range []string{"landed", "describe", "createTemp", "symlink", "link", "openInPlace", "rename", "remove", "close", "syncFile", "syncDir", "syncFS", "syncFSFlush", "syncDevice"} {
				errno := syscall.EIO
				if !strings.HasPrefix(op, "sync") && op != "landed" {
					errno = syscall.ENOSPC
				}
				// A failure adds calls (removals of temporary files), so
				// the clean run's count bounds the calls to fail.
				for n := 1; n <= clean.calls[op]; n++ {
					t.Run(fmt.Sprintf("%s#%d", op, n), func(t *testing.T) {
						efs := run(t, op, n, errno)
						if !failedAny(efs) {
							t.Fatalf("%s call %d was never made", op, n)
						}
					})
				}
			}
		})
	}
}

// landedHook is the Committer's Landed: the data of every file is on the
// device, unless the failure injected says otherwise.
func (e *errorFS) landedHook(en *Entry) bool {
	return e.hit("landed", en.temp, "") == nil
}

func failedAny(e *errorFS) bool {
	for _, r := range e.log {
		if r.failed {
			return true
		}
	}
	return false
}

// check judges one run of the job.
func check(t *testing.T, e *errorFS, dir string, plan []*planned, errs []error) {
	t.Helper()
	var all strings.Builder
	for _, err := range errs {
		fmt.Fprintln(&all, err)
	}
	injected := failedAny(e)
	for _, p := range plan {
		got := holds(t, p.final, p.symlink)
		ok := p.res != nil && p.res.Err == nil
		switch {
		case ok && got != p.want:
			t.Errorf("%s reported durable, holds %q, want %q", p.final, got, p.want)
		case !ok && got != p.before && !(got == p.want && p.res != nil && strings.Contains(p.res.Err.Error(), "in place but not known durable")):
			t.Errorf("%s failed (%v; %v) and holds %q, neither its old %q nor, said to be in place, %q", p.final, p.apiErr, p.res, got, p.before, p.want)
		case !ok && !injected:
			t.Errorf("%s failed with nothing injected: %v %v", p.final, p.apiErr, p.res)
		}
		if ok {
			if why := unproven(e, p); why != "" {
				t.Errorf("%s reported durable, but %s", p.final, why)
			}
		}
	}
	for _, tmp := range temps(t, dir) {
		if !strings.Contains(all.String(), "temporary file '"+tmp+"' could not be removed") {
			t.Errorf("temporary file %s left and named by no error:\n%s", tmp, all.String())
		}
	}
}

// unproven says why the log does not show p made durable, or "": its
// data flushed before its rename, and the rename flushed after, with no
// flush that covered it failing on the way.
func unproven(e *errorFS, p *planned) string {
	log := e.log
	created := -1
	for i, r := range log {
		switch {
		case p.inPlace && r.op == "mark" && r.path == p.final,
			!p.inPlace && p.entry != nil && r.path == p.entry.temp && (r.op == "createTemp" || r.op == "symlink" || r.op == "link"):
			created = i
		}
	}
	if created < 0 {
		return "its creation is not in the log"
	}
	end := len(log) - 1
	renamed := -1
	if !p.inPlace {
		for i := created; i < len(log); i++ {
			if log[i].op == "rename" && log[i].path == p.entry.temp && !log[i].failed {
				renamed = i
				break
			}
		}
		if renamed < 0 {
			return "it was never renamed onto its final name"
		}
		end = cover(e, renamed)
		if end < 0 {
			return "no flush followed its rename"
		}
	}
	// Before the rename: the file's own flush where each file is flushed
	// (a symlink's and a link's entries are their directory's), the
	// barrier of the whole file system elsewhere, and the device's.
	fileFlushed := e.barrier != fsinfo.BarrierPerFile || !p.data && !p.inPlace
	fsFlushed := e.barrier == fsinfo.BarrierPerFile && e.device == ""
	for i := created; i <= end; i++ {
		r := log[i]
		concerns := false
		switch r.op {
		case "syncFS", "syncFSFlush", "syncDevice":
			concerns = true
			fsFlushed = fsFlushed || i < renamed && !r.failed
		case "landed":
			// Data on the device before the rename, where the commit
			// after the rename covers it, needs no flush of its own.
			fsFlushed = fsFlushed || e.landed && p.entry != nil && r.path == p.entry.temp && i < renamed && !r.failed
		case "syncDir":
			d := filepath.Dir(p.final)
			concerns = r.path == d || strings.HasPrefix(d, r.path+string(filepath.Separator))
		case "syncFile":
			concerns = p.entry != nil && r.path == p.entry.temp || p.inPlace && r.path == p.final
			fileFlushed = fileFlushed || concerns && (i < renamed || p.inPlace) && !r.failed
		}
		if concerns && r.failed {
			return fmt.Sprintf("%s of %s failed in between", r.op, r.path)
		}
	}
	switch {
	case p.inPlace && e.barrier == fsinfo.BarrierPerFile && !fileFlushed:
		return "it was never flushed in place"
	case !p.inPlace && !(fileFlushed && fsFlushed):
		return "its data was not flushed before its rename"
	}
	return ""
}

// cover is the last operation of the flush that makes the rename at
// index renamed durable: the next syncfs where one covers the file
// system, else the directory and device flushes that follow the batch's
// renames (and the removals of failed entries). -1 when there is none.
func cover(e *errorFS, renamed int) int {
	log := e.log
	for i := renamed + 1; i < len(log); i++ {
		op := log[i].op
		if e.barrier != fsinfo.BarrierPerFile {
			if op == "syncFS" || op == "syncFSFlush" {
				return i
			}
			continue
		}
		if op == "rename" || op == "remove" || op == "chtimes" {
			continue
		}
		end := -1
		for ; i < len(log) && (log[i].op == "syncDir" || log[i].op == "syncDevice"); i++ {
			end = i
		}
		return end
	}
	return -1
}

// TestLandedOneBarrier: where the commit covers landed data, a small job
// whose files all landed pays one barrier, after its renames; a file that
// did not land keeps the data barrier before its rename, and a second one.
func TestLandedOneBarrier(t *testing.T) {
	for _, tc := range []struct {
		name       string
		landed     bool
		fail       string
		wantSyncFS int
	}{
		{"landed", true, "", 1},
		{"one not landed", true, "landed", 2},
		{"commit does not cover", false, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempdir.ForTest(t)
			efs := &errorFS{barrier: fsinfo.BarrierSyncFS, landed: tc.landed, fail: tc.fail, nth: 2, err: syscall.EIO, calls: map[string]int{}}
			c := New()
			c.ops = efs
			c.Landed = efs.landedHook
			for _, name := range []string{"a", "b", "c"} {
				e, f, err := c.Create(filepath.Join(dir, name), 0o644, true)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString(name); err != nil {
					t.Fatal(err)
				}
				if err := c.Stage(e, f); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range c.Flush() {
				if r.Err != nil {
					t.Errorf("%s: %v", r.Entry.Final, r.Err)
				}
			}
			if got := efs.calls["syncFS"]; got != tc.wantSyncFS {
				t.Errorf("%d syncfs, want %d", got, tc.wantSyncFS)
			}
			last := -1
			for i, r := range efs.log {
				if r.op == "syncFS" {
					last = i
				}
			}
			for i, r := range efs.log {
				if r.op == "rename" && i > last {
					t.Errorf("rename of %s after the last barrier", r.path)
				}
			}
		})
	}
}

// TestLandedBarrierFails: where files were renamed before their only
// barrier and it fails, each is reported in place but not known durable,
// naming the temporary name its copy may be under on the media, where
// the rename may not have reached.
func TestLandedBarrierFails(t *testing.T) {
	dir := tempdir.ForTest(t)
	efs := &errorFS{barrier: fsinfo.BarrierSyncFS, landed: true, fail: "syncFS", nth: 1, err: syscall.EROFS, calls: map[string]int{}}
	c := New()
	c.ops = efs
	c.Landed = efs.landedHook
	temps := map[string]string{}
	for _, name := range []string{"a", "b"} {
		e, f, err := c.Create(filepath.Join(dir, name), 0o644, true)
		if err != nil {
			t.Fatal(err)
		}
		temps[e.Final] = e.temp
		if _, err := f.WriteString(name); err != nil {
			t.Fatal(err)
		}
		if err := c.Stage(e, f); err != nil {
			t.Fatal(err)
		}
	}
	res := c.Flush()
	if len(res) != 2 {
		t.Fatalf("%d results, want 2: %v", len(res), res)
	}
	for _, r := range res {
		if r.Err == nil || !strings.Contains(r.Err.Error(), "in place but not known durable") || !strings.Contains(r.Err.Error(), "'"+temps[r.Entry.Final]+"'") {
			t.Errorf("%s: %v; want in place, not known durable, naming its temporary name %s", r.Entry.Final, r.Err, temps[r.Entry.Final])
		}
	}
}

// TestFlushFinishingOneBarrier: where the commit covers landed data, the
// caller's last changes run after the last renames and before the one
// barrier, which covers the directories they record; a failed barrier
// fails those directories too. Elsewhere they do not run, and the caller
// makes them and flushes them after Flush, as before.
func TestFlushFinishingOneBarrier(t *testing.T) {
	for _, tc := range []struct {
		name         string
		landed       bool
		fail         string
		wantFinished bool
		wantSyncFS   int
	}{
		{"landed", true, "", true, 1},
		{"one not landed", true, "landed", true, 2},
		{"barrier fails", true, "syncFS", true, 1},
		{"commit does not cover", false, "", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempdir.ForTest(t)
			efs := &errorFS{barrier: fsinfo.BarrierSyncFS, landed: tc.landed, fail: tc.fail, nth: 2, err: syscall.EIO, calls: map[string]int{}}
			if tc.fail == "syncFS" {
				efs.nth = 1
			}
			c := New()
			c.ops = efs
			c.Landed = efs.landedHook
			sub := filepath.Join(dir, "sub")
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"a", "b", "c"} {
				stage(t, c, filepath.Join(sub, name), name, true)
			}
			finishedAt, lastRename := -1, -1
			res, finished, dirErr := c.FlushFinishing(func(renamed bool) {
				if !renamed {
					t.Error("finish heard that an entry was not renamed")
				}
				finishedAt = len(efs.log)
				if err := c.DirChanged(sub); err != nil {
					t.Error(err)
				}
			})
			if finished != tc.wantFinished {
				t.Fatalf("finished %v, want %v", finished, tc.wantFinished)
			}
			for _, r := range res {
				if (r.Err != nil) != (tc.fail == "syncFS") {
					t.Errorf("%s: %v", r.Entry.Final, r.Err)
				}
			}
			if (dirErr != nil) != (tc.fail == "syncFS") {
				t.Errorf("directories: %v", dirErr)
			}
			if !finished {
				if err := c.FlushDirs(); err != nil {
					t.Error(err)
				}
			}
			if got := efs.calls["syncFS"]; got != tc.wantSyncFS {
				t.Errorf("%d syncfs, want %d", got, tc.wantSyncFS)
			}
			if !finished {
				return
			}
			lastSync := -1
			for i, r := range efs.log {
				switch r.op {
				case "rename":
					lastRename = i
				case "syncFS":
					lastSync = i
				}
			}
			if finishedAt <= lastRename || finishedAt > lastSync {
				t.Errorf("finish ran at %d, the last rename at %d, the last barrier at %d: want it between them", finishedAt, lastRename, lastSync)
			}
		})
	}
}

package copier

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
)

// JournalName is the hidden file a copy keeps in its destination
// directory while it runs: one line per file it made durable, with what
// identifies the source it copied and the copy it left. A rerun after an
// interruption keeps exactly those files, where both are unchanged, and
// replaces every other existing file, as cp does. A job that ends with
// every file durable removes it.
const JournalName = ".sure-journal"

// journal is the open journal of a job; a nil one records and proves
// nothing (a move, a destination where it cannot be created).
type journal struct {
	mu      sync.Mutex
	f       *os.File
	entries map[string]journalEntry // by path relative to the destination directory
	buf     []byte
	used    bool                     // a line was written
	create  func() (*os.File, error) // makes f on the first write
}

// journalEntry identifies a source file and its durable copy. Any change
// to either moves their change times, which are part of it.
type journalEntry struct {
	src  string
	s, d fileStamp
}

type fileStamp struct {
	dev, ino, size   uint64
	mtimeNs, ctimeNs int64
}

func (r *run) openJournal() {
	path := filepath.Join(r.destDir, JournalName)
	f, err := openJournalFile(r.root, path, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return
	}
	j := &journal{f: f, entries: map[string]journalEntry{}}
	// Created with its first line: a job that makes nothing durable
	// leaves its destination as it was.
	j.create = func() (*os.File, error) {
		f, err := openJournalFile(r.root, path, true)
		if err == nil {
			// Its directory entry reaches the media with the barrier
			// that reports the files of its first lines.
			r.c.DirChanged(r.destDir)
		}
		return f, err
	}
	r.journal = j
	if f == nil {
		r.startJournal(j)
		return
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rel string
		var e journalEntry
		// A line torn by a power cut, or not ours, proves nothing.
		_, err := fmt.Sscanf(sc.Text(), "%q %q %d %d %d %d %d %d %d %d %d", &rel, &e.src,
			&e.s.dev, &e.s.ino, &e.s.size, &e.s.mtimeNs, &e.s.ctimeNs,
			&e.d.ino, &e.d.size, &e.d.mtimeNs, &e.d.ctimeNs)
		if err == nil {
			j.entries[rel] = e
		}
	}
	r.startJournal(j)
}

// startJournal records each file as soon as it is renamed into place.
func (r *run) startJournal(j *journal) {
	perFile := r.sum.Barrier == fsinfo.BarrierPerFile
	r.c.AfterRenames = func(entries []*commit.Entry) {
		if r.vr != nil {
			return // recorded once read back (settleBatch)
		}
		for _, e := range entries {
			if jb := e.Tag.(*job); !jb.upToDate {
				j.record(r.root, jb)
			}
		}
		// Written after the data barrier and the renames, before the
		// barrier that reports the files: the lines are durable when
		// their files are said to be, so that a rerun after a pulled
		// stick keeps what was reported.
		j.flush(perFile)
	}
}

func (r *run) closeJournal() {
	if r.journal != nil && r.journal.f != nil {
		r.journal.f.Close()
	}
}

// removeJournal removes the journal of a job that completed (nothing is
// left to resume), or of one that proves nothing (all failed or skipped).
func (r *run) removeJournal(completed bool) {
	if r.journal == nil || r.journal.f == nil || !completed && (r.journal.used || len(r.journal.entries) > 0) {
		return
	}
	d, name, err := r.root.Parent(filepath.Join(r.destDir, JournalName))
	if err != nil {
		return
	}
	defer d.Release()
	if d.Remove(name) == nil {
		r.journal.f.Close()
		r.journal = nil
		r.c.DirChanged(r.destDir)
	}
}

// rel is dst's path relative to the destination directory.
func (r *run) rel(dst string) string {
	rel, err := filepath.Rel(r.destDir, dst)
	if err != nil {
		return dst
	}
	return rel
}

// record notes that j's copy is durable; flush writes what was noted.
func (jl *journal) record(root *beneath.Root, j *job) {
	if jl == nil || !j.info.Mode().IsRegular() {
		return
	}
	src, err := filepath.Abs(j.src)
	if err != nil {
		return
	}
	s, ok := stampOf(j.info)
	if !ok {
		return
	}
	di, err := root.Lstat(j.dst)
	if err != nil {
		return
	}
	d, ok := stampOf(di)
	if !ok {
		return
	}
	d.dev, d.ino = 0, 0 // see done
	rel, err := filepath.Rel(root.Path(), j.dst)
	if err != nil {
		return
	}
	jl.mu.Lock()
	defer jl.mu.Unlock()
	jl.buf = fmt.Appendf(jl.buf, "%q %q %d %d %d %d %d %d %d %d %d\n", rel, src,
		s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs, d.ino, d.size, d.mtimeNs, d.ctimeNs)
}

// flush appends the recorded lines, and with sync flushes them (where
// the barrier is not one syncfs). A line lost only means that its file
// is copied again.
func (jl *journal) flush(sync bool) {
	if jl == nil {
		return
	}
	jl.mu.Lock()
	defer jl.mu.Unlock()
	if len(jl.buf) > 0 && jl.f == nil {
		f, err := jl.create()
		if err != nil {
			jl.buf = jl.buf[:0]
			return
		}
		jl.f = f
	}
	if len(jl.buf) > 0 {
		jl.used = true
		jl.f.Write(jl.buf)
		jl.buf = jl.buf[:0]
		if sync {
			durable.SyncFile(jl.f)
		}
	}
}

// done reports whether the existing file at rel is the durable copy an
// earlier run made of src, neither having changed since.
func (jl *journal) done(src string, info, existing fs.FileInfo, rel string) bool {
	if jl == nil || !info.Mode().IsRegular() || !existing.Mode().IsRegular() {
		return false
	}
	e, ok := jl.entries[rel]
	if !ok {
		return false
	}
	abs, err := filepath.Abs(src)
	if err != nil || abs != e.src {
		return false
	}
	s, ok1 := stampOf(info)
	d, ok2 := stampOf(existing)
	// Not compared: device numbers change between mounts, and a FUSE
	// server numbers inodes anew at each mount. The change time moves
	// with any write to the copy.
	d.dev, d.ino = 0, 0
	return ok1 && ok2 && s == e.s && d == e.d
}

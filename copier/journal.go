package copier

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sure-tools/sure/commit"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/beneath"
	"github.com/zeebo/xxh3"
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
	// hashed: the destination keeps no change time that a write moves
	// (FAT, exFAT, FUSE servers), so a line also holds the hash of the
	// source, and a copy is read back and compared before it is kept.
	hashed bool
	root   *beneath.Root
	cwd    string // where relative sources are, looked up once
	// partials are the durable steps of files an earlier run did not
	// finish (resume.go), by path relative to the destination directory.
	partials map[string]partialEntry
	syncDir  func() error // flushes the journal's directory
	// writing is held around each write to the stick (commit.Committer.Writing).
	writing func() (done func())
}

// journalEntry identifies a source file and its durable copy. Any change
// to either moves their change times, which are part of it.
type journalEntry struct {
	src    string
	s, d   fileStamp
	hashed int // 1: hash holds the source's xxh3
	hash   xxh3.Uint128
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
	j := &journal{f: f, entries: map[string]journalEntry{}, partials: map[string]partialEntry{}, root: r.root, hashed: r.hashJournal, writing: r.c.Writing}
	j.syncDir = func() error {
		d, err := r.root.Dir(r.destDir)
		if err != nil {
			return err
		}
		defer d.Release()
		return durable.SyncDirOf(d.File())
	}
	j.cwd, _ = os.Getwd()
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
		if rel, p, ok := parsePartial(sc.Text()); ok {
			j.partials[rel] = p
			continue
		}
		var rel string
		var e journalEntry
		// A line torn by a power cut, or not ours, proves nothing.
		_, err := fmt.Sscanf(sc.Text(), journalLine, &rel, &e.src,
			&e.s.dev, &e.s.ino, &e.s.size, &e.s.mtimeNs, &e.s.ctimeNs,
			&e.d.ino, &e.d.size, &e.d.mtimeNs, &e.d.ctimeNs, &e.hashed, &e.hash.Hi, &e.hash.Lo)
		if err == nil {
			j.entries[rel] = e
			delete(j.partials, rel)
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
	if r.journal == nil || r.opt.DryRun || r.journal.f == nil || !completed && (r.journal.used || len(r.journal.entries) > 0 || len(r.journal.partials) > 0) {
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
	src, ok := jl.abs(j.src)
	if !ok {
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
	var hashed int
	var hash xxh3.Uint128
	if j.sums != nil {
		hashed, hash = 1, j.sums.xxh
	}
	if jl.hashed && hashed == 0 {
		return // nothing would prove it unchanged
	}
	jl.buf = fmt.Appendf(jl.buf, journalLine+"\n", rel, src,
		s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs, d.ino, d.size, d.mtimeNs, d.ctimeNs, hashed, hash.Hi, hash.Lo)
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
		done := jl.writing()
		f, err := jl.create()
		done()
		if err != nil {
			jl.buf = jl.buf[:0]
			return
		}
		jl.f = f
	}
	if len(jl.buf) > 0 {
		jl.used = true
		done := jl.writing()
		jl.f.Write(jl.buf)
		done()
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
	if abs, ok := jl.abs(src); !ok || abs != e.src {
		return false
	}
	s, ok1 := stampOf(info)
	d, ok2 := stampOf(existing)
	// Not compared: device numbers change between mounts, and a FUSE
	// server numbers inodes anew at each mount. The change time moves
	// with any write to the copy.
	d.dev, d.ino = 0, 0
	if !ok1 || !ok2 || s != e.s || d != e.d {
		return false
	}
	if !jl.hashed {
		return true
	}
	return e.hashed == 1 && jl.sameHash(filepath.Join(jl.root.Path(), rel), e.hash)
}

// abs is the absolute path of src.
func (jl *journal) abs(src string) (string, bool) {
	if filepath.IsAbs(src) {
		return filepath.Clean(src), true
	}
	if jl.cwd == "" {
		return "", false
	}
	return filepath.Join(jl.cwd, src), true
}

// journalLine is the format of a journal line: destination (relative),
// source (absolute), the source's device, inode, size, modification and
// change times, the copy's inode, size and times, and whether a hash of
// the source follows, and the hash.
const journalLine = "%q %q %d %d %d %d %d %d %d %d %d %d %d %d"

// sameHash reads the copy at dst (a link not followed) and compares it
// with the source's hash.
func (jl *journal) sameHash(dst string, want xxh3.Uint128) bool {
	d, name, err := jl.root.Parent(dst)
	if err != nil {
		return false
	}
	defer d.Release()
	f, err := d.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	h := xxh3.New128()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return h.Sum128() == want
}

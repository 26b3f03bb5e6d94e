// Package preflight judges a planned copy against the destination's file
// system before anything is written: names the file system cannot hold,
// files too large for it, names that collide when case is ignored, and
// too little free space. A job
// that cannot finish is refused whole, with every problem listed, so that
// a stick is never left holding half of a tree.
package preflight

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
)

// Options describe the job as the copier will run it.
type Options struct {
	Recursive bool // directories are copied (cp -r, cp -a, mv)
	Follow    bool // a symlink named as a source is followed (cp without -r or -a)
	NoClobber bool // existing files are kept (-n)
	TimesKept bool // modification times are copied (-a, mv)
	Move      bool // a source on the destination's file system is renamed, not copied

	// SkipInvalid leaves out what the destination cannot hold and copies
	// the rest; the user asked for it, so the job can still succeed.
	SkipInvalid bool
	// RenameInvalid gives invalid or colliding names a valid one instead.
	// Sizes cannot be renamed away: such files are refused (or skipped
	// with SkipInvalid too).
	RenameInvalid bool

	// NoSpaceCheck trusts the free space to suffice; the copy then meets
	// a full file system as it goes (tests of that path need it).
	NoSpaceCheck bool

	// Exclude, when set, names the source entries the job leaves out
	// (its filter): they are not judged, and an excluded directory not
	// entered.
	Exclude func(src string, dir bool) bool
	// Contents: a directory operand written with a trailing slash (SRC/)
	// goes onto DEST itself, its entries merged into it, as rsync does.
	Contents bool
	// KeepsHoles: the copier skips a sparse source's holes, so on a file
	// system that keeps holes a file takes only its data.
	KeepsHoles bool
	// Reused is what the destination already holds for the job: the kept
	// parts of big files an interrupted run will resume, counted as free.
	Reused uint64
}

// IsContents reports whether src names a directory with a trailing
// slash: with Contents, its entries go into DEST.
func IsContents(src string) bool {
	if !strings.HasSuffix(src, "/") && !strings.HasSuffix(src, string(filepath.Separator)) {
		return false
	}
	fi, err := os.Stat(src)
	return err == nil && fi.IsDir()
}

// Reason classifies a problem by what can be done about it.
type Reason int

const (
	BadName   Reason = iota // renamable, skippable
	Collision               // renamable, skippable
	TooLarge                // skippable
	NoSpace                 // the job as a whole does not fit
	NoFlush                 // nothing would make data durable there
)

func (r Reason) renamable() bool { return r == BadName || r == Collision }
func (r Reason) skippable() bool { return r <= TooLarge }

// Problem is one thing that would make the job fail.
type Problem struct {
	Src, Dst string
	Reason   Reason
	Why      string // in plain words
}

func (p Problem) String() string {
	if p.Src == "" {
		return p.Why
	}
	return fmt.Sprintf("%s -> %s: %s", quote.Name(p.Src), quote.Name(p.Dst), p.Why)
}

// Rename is one file given a name the destination can hold.
type Rename struct {
	Src, From, To string // To is the destination path actually written
	Why           string
}

// Refusal is the answer to a job that cannot finish. Nothing was written.
type Refusal struct {
	Dest     string
	Kind     fsinfo.Kind
	Problems []Problem
}

func (e *Refusal) Error() string {
	// One problem of the whole job (space, flushing) is one line.
	if len(e.Problems) == 1 && e.Problems[0].Src == "" {
		return e.Problems[0].Why + "; nothing was written"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "refusing to start: %d %s with the destination %s", len(e.Problems), plural(len(e.Problems), "problem"), quote.Name(e.Dest))
	if e.Kind != "" {
		fmt.Fprintf(&b, " (%s)", e.Kind.Format().Name)
	}
	b.WriteString("; nothing was written:")
	fixable := false
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
		fixable = fixable || p.Reason.skippable()
	}
	if fixable {
		b.WriteString("\n--skip-invalid copies everything else; --rename-invalid gives invalid names a valid one")
	}
	return b.String()
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// Plan is a job that passed the check, with what SkipInvalid and
// RenameInvalid changed in it.
type Plan struct {
	Kind  fsinfo.Kind // the destination's format
	Files int         // regular files the job will write (not renamed, not up to date)
	Bytes int64       // and their total size
	// Renames are the files and symlinks a move within one file system
	// renames instead: they cost no space, but are reported durable.
	Renames int
	// Symlinks are the symlinks the job writes: no bytes, but reported
	// durable like files.
	Symlinks int
	Skipped  []Problem
	Renamed  []Rename

	skip map[string]string // clean source path → why
	dest map[string]string // clean source path → destination, for every operand and every rename
}

// Target says where src goes, given the destination the copier computed
// from cp's rules, and false when src is to be left out. A renamed
// directory moves everything under it.
func (p *Plan) Target(src, dst string) (string, bool) {
	if p == nil || len(p.skip) == 0 && len(p.Renamed) == 0 {
		return dst, true
	}
	key := filepath.Clean(src)
	if _, ok := p.skip[key]; ok {
		return dst, false
	}
	// The nearest entry wins; every operand has one, so the search never
	// climbs above the operand src came from.
	for cur := key; ; cur = filepath.Dir(cur) {
		if d, ok := p.dest[cur]; ok {
			rel, err := filepath.Rel(cur, key)
			if err != nil {
				return dst, true
			}
			return filepath.Join(d, rel), true
		}
		if filepath.Dir(cur) == cur {
			return dst, true
		}
	}
}

// SkipReason is why src is left out, "" when it is not.
func (p *Plan) SkipReason(src string) string {
	if p == nil {
		return ""
	}
	return p.skip[filepath.Clean(src)]
}

type checker struct {
	opt       Options
	caps      fsinfo.Caps // the destination's
	plan      *Plan
	problems  []Problem
	devFree   bool   // Move onto the same file system: renames cost no space
	need      uint64 // bytes the copy will allocate
	files     int
	replacing int // of files, those replacing a file at the destination
	block     uint64
	dstDev    uint64
	nameMax   int // longest name in bytes the destination takes, 0 if unknown
	// dstAbsent: the destination directory being judged does not exist,
	// so no name under it does; its files are not looked up one by one.
	dstAbsent bool
}

// Check walks the sources once and judges the job against the destination.
// It returns the plan, or a *Refusal listing every problem. A source that
// cannot be read is left to the copier, which reports it as cp does.
func Check(srcs []string, dest string, opt Options) (*Plan, error) {
	destInfo, derr := os.Stat(dest)
	destIsDir := derr == nil && destInfo.IsDir()
	destDir := dest
	if !destIsDir {
		destDir = filepath.Dir(dest)
	}
	c := &checker{opt: opt, plan: &Plan{skip: map[string]string{}, dest: map[string]string{}}}
	var mountPoint string
	if m, err := fsinfo.ForPath(destDir); err == nil {
		c.caps = fsinfo.CapsOf(m)
		mountPoint = m.MountPoint
		if why := flushProblem(m, c.caps); why != "" {
			c.problems = append(c.problems, Problem{Reason: NoFlush, Why: why})
		}
	}
	c.plan.Kind = c.caps.Kind
	free, block, ok := freeSpace(destDir)
	free += opt.Reused
	c.block = max(block, 1)
	c.dstDev, _ = device(destDir)
	c.nameMax = nameMax(destDir)

	top := c.existing(destDir)
	var args []*cand
	for _, src := range srcs {
		target := dest
		if destIsDir && !(opt.Contents && IsContents(src)) {
			target = filepath.Join(dest, filepath.Base(filepath.Clean(src)))
		}
		if e := c.checkArg(src, target); e != nil {
			args = append(args, e)
		}
	}
	c.place(destDir, top, args)
	c.processAll(args)
	if ok && !opt.NoSpaceCheck && c.need > free {
		c.problems = append(c.problems, Problem{Reason: NoSpace, Why: c.spaceText(mountPoint, free)})
	}
	if len(c.problems) > 0 {
		return nil, &Refusal{Dest: dest, Kind: c.caps.Kind, Problems: c.problems}
	}
	return c.plan, nil
}

// spaceText says why the job does not fit, with a note only where it
// explains the figure: files being replaced, and rounding up when it adds
// more than a tenth.
func (c *checker) spaceText(mountPoint string, free uint64) string {
	verb := "need"
	if c.files == 1 {
		verb = "needs"
	}
	s := fmt.Sprintf("not enough free space on %s: %d %s %s about %s", mountPoint, c.files, plural(c.files, "file"), verb, units.Bytes(int64(c.need)))
	var notes []string
	if c.replacing > 0 {
		v := "count"
		if c.replacing == 1 {
			v = "counts"
		}
		notes = append(notes, fmt.Sprintf("%d being replaced %s in full, its old content kept until the copy is durable", c.replacing, v))
	}
	if raw := uint64(max(c.plan.Bytes, 0)); c.need > raw+raw/10 {
		notes = append(notes, fmt.Sprintf("rounded up to %s units", units.Bytes(int64(c.block))))
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s + fmt.Sprintf(", and %s is free", units.Bytes(int64(free)))
}

// slot is a name taken in one destination directory.
type slot struct {
	name string // as written
	job  *cand  // the entry of this job that takes it; nil for a file found there
}

// names holds the names taken in one destination directory, folded when
// the file system ignores case. On a case-sensitive file system only the
// job's own names are held; files already there are looked up when a
// rename needs to know (an equal name is an overwrite, which cp does).
type names map[string]slot

func (c *checker) key(name string) string {
	if c.caps.FoldsCase {
		return fold(name)
	}
	return name
}

// existing reads the names already in a destination directory; a missing
// one is empty.
func (c *checker) existing(dir string) names {
	n := names{}
	if !c.caps.FoldsCase {
		return n
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return n
	}
	for _, e := range entries {
		n[fold(e.Name())] = slot{name: e.Name()}
	}
	return n
}

// cand is one source entry bound for a destination directory, judged but
// not yet given its final name.
type cand struct {
	src, dst string
	info     fs.FileInfo
	operand  bool
	devFree  bool
	name     string   // the name cp's rules give it
	final    string   // the name it will be written under
	fixed    []string // why final differs from name
	clash    bool     // name is taken by a different file; it needs another
	skipWhy  string
}

// problem files what is wrong with e: renamed away, skipped, or refused,
// as the options say.
func (c *checker) problem(e *cand, r Reason, why string) {
	switch {
	case c.opt.RenameInvalid && r.renamable():
		e.fixed = append(e.fixed, why)
	case c.opt.SkipInvalid && r.skippable():
		if e.skipWhy == "" {
			e.skipWhy = why
		}
	default:
		c.problems = append(c.problems, Problem{e.src, e.dst, r, why})
	}
}

func (c *checker) checkArg(src, target string) *cand {
	var info fs.FileInfo
	var err error
	if c.opt.Follow {
		info, err = os.Stat(src)
	} else {
		info, err = os.Lstat(src)
	}
	if err != nil || c.opt.Exclude != nil && c.opt.Exclude(src, info.IsDir()) {
		return nil
	}
	// An operand copied onto itself or into itself writes nothing: the
	// copier refuses it with cp's words and goes on with the others, as
	// cp does. Walking it here would count it, or never end.
	tinfo, terr := os.Stat(target)
	if terr == nil && os.SameFile(info, tinfo) {
		return nil
	}
	if info.IsDir() && (!c.opt.Recursive || Inside(target, src)) {
		return nil
	}
	devFree := false
	if c.opt.Move {
		// A filtered directory is copied, not renamed: what it excludes stays.
		if d, ok := device(src); ok && d == c.dstDev && !(info.IsDir() && (terr == nil && tinfo.IsDir() || c.opt.Exclude != nil)) {
			devFree = true // one rename; a merge into an existing directory is a copy
		}
	}
	return c.judge(src, target, info, true, devFree)
}

// judge finds what is wrong with the name and size of one source entry
// bound for dst.
func (c *checker) judge(src, dst string, info fs.FileInfo, operand, devFree bool) *cand {
	name := filepath.Base(dst)
	e := &cand{src: src, dst: dst, info: info, operand: operand, devFree: devFree, name: name, final: name}
	if why := nameProblem(name, c.caps.Format); why != "" {
		c.problem(e, BadName, why)
	} else if why := lengthProblem(name, c.caps.Format, c.nameMax); why != "" {
		c.problem(e, BadName, why)
	}
	if c.opt.RenameInvalid {
		e.final = c.validName(name)
	}
	if max := c.caps.MaxFileSize; info.Mode().IsRegular() && max > 0 && info.Size() > max {
		c.problem(e, TooLarge, fmt.Sprintf("it is %s; %s", units.Bytes(info.Size()), c.caps.TooLarge))
	}
	return e
}

// validName is name as the destination can hold it, before any suffix.
func (c *checker) validName(name string) string {
	if nameProblem(name, c.caps.Format) != "" {
		return fixName(name, c.caps.Format)
	}
	if lengthProblem(name, c.caps.Format, c.nameMax) != "" {
		return shorten(name, c.nameMax)
	}
	return name
}

// place gives the entries bound for the destination directory dir, whose
// names so far are taken, their final names. Names kept as they are go
// first, so that a renamed entry never displaces a file the user named;
// then each renamed or clashing entry gets its new name, with a numbered
// suffix where that is taken by a file there or by another entry.
func (c *checker) place(dir string, taken names, es []*cand) {
	for _, e := range es {
		if e.skipWhy != "" || e.final != e.name {
			continue
		}
		k := c.key(e.final)
		s, ok := taken[k]
		switch {
		case !ok:
			taken[k] = slot{name: e.final, job: e}
		case s.name == e.final && (s.job == nil || s.job.info.IsDir() && e.info.IsDir() || os.SameFile(s.job.info, e.info)):
			// The same name byte for byte: an overwrite of the file there,
			// two directories of one name, merged as cp merges them, or
			// one source named twice.
		case s.name == e.final:
			why := fmt.Sprintf("%s is the name %s is copied to too; one would replace the other", quote.Name(e.final), quote.Name(s.job.src))
			c.problem(e, Collision, why)
			e.clash = c.opt.RenameInvalid
		default:
			why := fmt.Sprintf("%s is the same name as %s to %s, which ignores case", quote.Name(e.final), quote.Name(s.name), c.caps.Name)
			c.problem(e, Collision, why)
			e.clash = c.opt.RenameInvalid
		}
	}
	for _, e := range es {
		if e.skipWhy != "" || e.final == e.name && !e.clash {
			continue
		}
		if !e.clash && !c.takenFor(dir, taken, e, e.final) {
			taken[c.key(e.final)] = slot{name: e.final, job: e}
			continue
		}
		if !e.clash {
			e.fixed = append(e.fixed, fmt.Sprintf("%s is the name of another file there", quote.Name(e.final)))
		}
		for i := 1; ; i++ {
			if n := suffixed(e.final, i, c.caps.Format, c.nameMax); !c.takenFor(dir, taken, e, n) {
				e.final = n
				taken[c.key(n)] = slot{name: n, job: e}
				break
			}
		}
	}
}

// takenFor reports whether the renamed entry e cannot be written under
// name in dir: another entry of the job takes it, or a different file is
// there. A file there that an earlier run of the job could have written
// for e counts as e's own, so that running the job again resumes it.
func (c *checker) takenFor(dir string, taken names, e *cand, name string) bool {
	k := c.key(name)
	s, ok := taken[k]
	if !ok && !c.caps.FoldsCase {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			s, ok = slot{name: name}, true
		}
	}
	if !ok {
		return false
	}
	if s.job != nil || s.name != name {
		return true
	}
	dst := filepath.Join(dir, name)
	there, err := os.Lstat(dst)
	if err != nil {
		return false // gone since it was listed; the copier meets what is there now
	}
	return !c.earlierCopy(e.src, e.info, there, dst)
}

// earlierCopy reports whether there, at dst, can be what an earlier run of
// the job wrote for src: directories holding only names of src's entries
// (onlyNamesOf), or regular files of one size
// and either one modification time (as -a and mv leave it; cut to the
// granularity of FAT and exFAT when times are kept) or the same content.
// A time alone cut that coarsely would also match a file written within
// the same second as the source.
func (c *checker) earlierCopy(src string, info, there fs.FileInfo, dst string) bool {
	if info.IsDir() || there.IsDir() {
		return info.IsDir() && there.IsDir() && c.onlyNamesOf(src, dst)
	}
	if !info.Mode().IsRegular() || !there.Mode().IsRegular() || info.Size() != there.Size() {
		return false
	}
	if there.ModTime().Equal(info.ModTime()) {
		return true
	}
	// Any cut of FAT's, exFAT's or their drivers' on a Windows format: a
	// content check follows when none matches.
	if c.opt.TimesKept && c.caps.WindowsNames {
		for _, g := range []time.Duration{10 * time.Millisecond, time.Second, 2 * time.Second} {
			if there.ModTime().Equal(info.ModTime().Truncate(g)) {
				return true
			}
		}
	}
	return sameContent(src, dst)
}

// onlyNamesOf reports whether the directory dst holds nothing but names
// the entries of the source directory src would be written under (with or
// without a suffix), and sure's temporary files: what an earlier run of
// the job leaves. A directory holding anything else is another one, which
// a merge could overwrite files of.
func (c *checker) onlyNamesOf(src, dst string) bool {
	there, err := os.ReadDir(dst)
	if err != nil {
		return false
	}
	if len(there) == 0 {
		return true
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return false
	}
	ours := map[string]bool{}
	for _, e := range entries {
		ours[c.key(c.validName(e.Name()))] = true
	}
	for _, e := range there {
		if !durable.IsTemp(e.Name()) && !ours[c.key(unsuffixed(e.Name()))] {
			return false
		}
	}
	return true
}

// sameContent reports whether the files a and b hold the same bytes; an
// error reading either means no.
func sameContent(a, b string) bool {
	fa, err := os.Open(a)
	if err != nil {
		return false
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		endA := ea == io.EOF || ea == io.ErrUnexpectedEOF
		endB := eb == io.EOF || eb == io.ErrUnexpectedEOF
		if ea != nil && !endA || eb != nil && !endB {
			return false
		}
		if endA || endB {
			return endA && endB
		}
	}
}

// processAll records where each of es goes in the plan and judges
// everything under its directories. Directories bound for one final name
// (merged, as cp merges them) are judged as one, so that their files meet
// each other's names.
func (c *checker) processAll(es []*cand) {
	var order []string
	dirs := map[string][]*cand{}
	for _, e := range es {
		dst, ok := c.record(e)
		if !ok || !e.info.IsDir() {
			continue
		}
		if _, seen := dirs[dst]; !seen {
			order = append(order, dst)
		}
		dirs[dst] = append(dirs[dst], e)
	}
	for _, dst := range order {
		var srcs []string
		c.devFree = true
		for _, e := range dirs[dst] {
			srcs = append(srcs, e.src)
			c.devFree = c.devFree && e.devFree
		}
		c.walk(srcs, dst)
	}
}

// record adds e to the plan and its size to the space needed, and returns
// where it goes, or false when it is left out.
func (c *checker) record(e *cand) (string, bool) {
	key := filepath.Clean(e.src)
	if e.skipWhy != "" {
		c.plan.skip[key] = e.skipWhy
		c.plan.Skipped = append(c.plan.Skipped, Problem{e.src, e.dst, 0, e.skipWhy})
		return "", false
	}
	finalDst := e.dst
	if e.final != e.name {
		finalDst = filepath.Join(filepath.Dir(e.dst), e.final)
		c.plan.Renamed = append(c.plan.Renamed, Rename{Src: e.src, From: e.dst, To: finalDst, Why: strings.Join(e.fixed, "; ")})
	}
	if e.operand || e.final != e.name {
		c.plan.dest[key] = finalDst
	}
	c.devFree = e.devFree
	switch mode := e.info.Mode(); {
	case mode.IsRegular():
		c.account(e.info, finalDst)
	case !mode.IsDir() && c.devFree:
		c.plan.Renames++ // a symlink a move renames is reported too
	case mode&fs.ModeSymlink != 0:
		if c.dstAbsent || !c.opt.NoClobber {
			c.plan.Symlinks++
		} else if _, err := os.Lstat(finalDst); err != nil {
			c.plan.Symlinks++
		}
	case mode.IsDir():
		if !c.devFree {
			c.need += c.block
		}
	}
	return finalDst, true
}

// account adds what writing src to dst allocates.
func (c *checker) account(info fs.FileInfo, dst string) {
	if c.devFree {
		c.plan.Renames++
		return
	}
	var old fs.FileInfo
	err := fs.ErrNotExist
	if !c.dstAbsent {
		old, err = os.Lstat(dst)
	}
	replacing := err == nil && old.Mode().IsRegular()
	if replacing {
		if c.opt.NoClobber {
			return
		}
		// The copier leaves a file of the same size and time as it is.
		if !c.opt.Move && old.Size() == info.Size() && old.ModTime().Equal(info.ModTime()) {
			return
		}
		c.replacing++
	}
	c.files++
	alloc := info.Size()
	if a, ok := allocated(info); ok && a < alloc && c.opt.KeepsHoles && c.caps.Holes {
		alloc = a
	}
	c.need += roundUp(uint64(alloc), c.block)
	c.plan.Files++
	c.plan.Bytes += info.Size()
}

// walk judges the entries of the source directories srcs, all bound for
// dst. Only this directory's entries are held while its subdirectories
// are walked.
func (c *checker) walk(srcs []string, dst string) {
	var es []*cand
	devFree := c.devFree
	for _, src := range srcs {
		entries, err := os.ReadDir(src)
		if err != nil {
			continue // the copier reports it
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue
			}
			if c.opt.Exclude != nil && c.opt.Exclude(filepath.Join(src, e.Name()), e.IsDir()) {
				continue
			}
			es = append(es, c.judge(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), info, false, devFree))
		}
	}
	was := c.dstAbsent
	absent := was
	if !absent {
		_, err := os.Lstat(dst)
		absent = errors.Is(err, fs.ErrNotExist)
	}
	if absent {
		c.place(dst, names{}, es)
	} else {
		c.place(dst, c.existing(dst), es)
	}
	c.dstAbsent = absent
	c.processAll(es)
	c.dstAbsent = was
}

func roundUp(n, block uint64) uint64 {
	return (n + block - 1) / block * block
}

// Inside reports whether target lies in (or is) the directory src, after
// resolving symlinks of the parts of target that exist.
func Inside(target, src string) bool {
	s, err := filepath.EvalSymlinks(src)
	if err != nil {
		return false
	}
	s, _ = filepath.Abs(s)
	t, _ := filepath.Abs(target)
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(t); err == nil {
			t = filepath.Join(r, rest)
			break
		}
		parent := filepath.Dir(t)
		if parent == t {
			break
		}
		rest = filepath.Join(filepath.Base(t), rest)
		t = parent
	}
	return t == s || strings.HasPrefix(t, s+string(filepath.Separator))
}

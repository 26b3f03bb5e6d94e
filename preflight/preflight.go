// Package preflight judges a planned copy against the destination's file
// system before anything is written: names the file system cannot hold,
// files too large for it, names that collide when case is ignored, and
// too little free space. A job
// that cannot finish is refused whole, with every problem listed, so that
// a stick is never left holding half of a tree.
package preflight

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
)

// Options describe the job as the copier will run it.
type Options struct {
	Recursive bool // directories are copied (cp -r, cp -a, mv)
	Follow    bool // a symlink named as a source is followed (cp without -r or -a)
	NoClobber bool // existing files are kept (-n)
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
}

// Reason classifies a problem by what can be done about it.
type Reason int

const (
	BadName   Reason = iota // renamable, skippable
	Collision               // renamable, skippable
	TooLarge                // skippable
	NoSpace                 // the job as a whole does not fit
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
	Kind     string
	Problems []Problem
}

func (e *Refusal) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refusing to start: %d %s with the destination %s", len(e.Problems), plural(len(e.Problems), "problem"), quote.Name(e.Dest))
	if e.Kind != "" {
		fmt.Fprintf(&b, " (%s)", kindName(e.Kind))
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
	Kind    string // the destination's file system, as fsinfo.Kind names it
	Files   int    // regular files the job will write (not renamed, not up to date)
	Bytes   int64  // and their total size
	Skipped []Problem
	Renamed []Rename

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
	opt      Options
	kind     string
	plan     *Plan
	problems []Problem
	devFree  bool   // Move onto the same file system: renames cost no space
	need     uint64 // bytes the copy will allocate
	files    int
	block    uint64
	dstDev   uint64
	nameMax  int // longest name in bytes the destination takes, 0 if unknown
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
		c.kind = fsinfo.Kind(m)
		mountPoint = m.MountPoint
	}
	c.plan.Kind = c.kind
	free, block, ok := freeSpace(destDir)
	c.block = max(block, 1)
	c.dstDev, _ = device(destDir)
	c.nameMax = nameMax(destDir)

	top := c.existing(destDir)
	for _, src := range srcs {
		target := dest
		if destIsDir {
			target = filepath.Join(dest, filepath.Base(filepath.Clean(src)))
		}
		c.checkArg(src, target, top)
	}
	if ok && !opt.NoSpaceCheck && c.need > free {
		c.problems = append(c.problems, Problem{Reason: NoSpace, Why: fmt.Sprintf(
			"not enough free space on %s: %d %s need about %s (each rounded up to the %s allocation unit; a file being replaced counts in full, because its old content stays until the new copy is durable), and %s is free",
			mountPoint, c.files, plural(c.files, "file"), units.Bytes(int64(c.need)), units.Bytes(int64(c.block)), units.Bytes(int64(free)))})
	}
	if len(c.problems) > 0 {
		return nil, &Refusal{Dest: dest, Kind: c.kind, Problems: c.problems}
	}
	return c.plan, nil
}

// names holds the names in one destination directory, folded when the
// file system ignores case: folded name → the name as written.
type names map[string]string

func (c *checker) key(name string) string {
	if windowsKind(c.kind) {
		return fold(name)
	}
	return name
}

// existing reads the names already in a destination directory; a missing
// one is empty.
func (c *checker) existing(dir string) names {
	n := names{}
	if !windowsKind(c.kind) {
		return n // case-sensitive: only byte-equal names meet, which is an overwrite
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return n
	}
	for _, e := range entries {
		n[fold(e.Name())] = e.Name()
	}
	return n
}

func (c *checker) checkArg(src, target string, dir names) {
	var info fs.FileInfo
	var err error
	if c.opt.Follow {
		info, err = os.Stat(src)
	} else {
		info, err = os.Lstat(src)
	}
	if err != nil {
		return
	}
	// An operand copied onto itself or into itself writes nothing: the
	// copier refuses it with cp's words and goes on with the others, as
	// cp does. Walking it here would count it, or never end.
	tinfo, terr := os.Stat(target)
	if terr == nil && os.SameFile(info, tinfo) {
		return
	}
	if info.IsDir() && (!c.opt.Recursive || Inside(target, src)) {
		return
	}
	c.devFree = false
	if c.opt.Move {
		if d, ok := device(src); ok && d == c.dstDev && !(info.IsDir() && terr == nil && tinfo.IsDir()) {
			c.devFree = true // one rename; a merge into an existing directory is a copy
		}
	}
	c.entry(src, target, info, dir, true)
}

// entry judges one source entry bound for dst and, for a directory,
// everything under it. dir holds the names of dst's directory so far.
func (c *checker) entry(src, dst string, info fs.FileInfo, dir names, operand bool) {
	key := filepath.Clean(src)
	name := filepath.Base(dst)
	final := name
	var fixed []string // why the name was changed
	var skipWhy string
	problem := func(r Reason, why string) {
		switch {
		case c.opt.RenameInvalid && r.renamable():
			fixed = append(fixed, why)
		case c.opt.SkipInvalid && r.skippable():
			if skipWhy == "" {
				skipWhy = why
			}
		default:
			c.problems = append(c.problems, Problem{src, dst, r, why})
		}
	}
	if why := nameProblem(name, c.kind); why != "" {
		problem(BadName, why)
		if c.opt.RenameInvalid {
			final = fixName(name)
		}
	} else if why := lengthProblem(name, c.kind, c.nameMax); why != "" {
		problem(BadName, why)
		if c.opt.RenameInvalid {
			final = shorten(name, c.nameMax)
		}
	}
	if k := c.key(final); windowsKind(c.kind) {
		if other, ok := dir[k]; ok && other != final {
			why := fmt.Sprintf("%s is the same name as %s to %s, which ignores case", quote.Name(final), quote.Name(other), kindName(c.kind))
			problem(Collision, why)
			if c.opt.RenameInvalid {
				final = uncollide(final, func(k string) bool { _, ok := dir[k]; return ok })
			}
		}
	}
	mode := info.Mode()
	if mode.IsRegular() && c.kind == "vfat" && info.Size() > fat32MaxFile {
		problem(TooLarge, fmt.Sprintf("it is %s; FAT32 holds no file of 4 GiB or more", units.Bytes(info.Size())))
	}
	if skipWhy != "" {
		c.plan.skip[key] = skipWhy
		c.plan.Skipped = append(c.plan.Skipped, Problem{src, dst, 0, skipWhy})
		return
	}
	finalDst := dst
	if final != name {
		finalDst = filepath.Join(filepath.Dir(dst), final)
		c.plan.Renamed = append(c.plan.Renamed, Rename{Src: src, From: dst, To: finalDst, Why: strings.Join(fixed, "; ")})
	}
	if operand || final != name {
		c.plan.dest[key] = finalDst
	}
	k := c.key(final)
	if _, ok := dir[k]; !ok {
		dir[k] = final
	}
	switch {
	case mode.IsRegular():
		c.account(info, finalDst)
	case mode.IsDir():
		if !c.devFree {
			c.need += c.block
		}
		c.walk(src, finalDst)
	}
}

// account adds what writing src to dst allocates.
func (c *checker) account(info fs.FileInfo, dst string) {
	if c.devFree {
		return
	}
	if old, err := os.Lstat(dst); err == nil && old.Mode().IsRegular() {
		if c.opt.NoClobber {
			return
		}
		// The copier leaves a file of the same size and time as it is.
		if !c.opt.Move && old.Size() == info.Size() && old.ModTime().Equal(info.ModTime()) {
			return
		}
	}
	c.files++
	c.need += roundUp(uint64(info.Size()), c.block)
	c.plan.Files++
	c.plan.Bytes += info.Size()
}

// walk judges the entries of the source directory src, bound for dst. Only
// this directory's names are held while its subdirectories are walked.
func (c *checker) walk(src, dst string) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return // the copier reports it
	}
	dir := c.existing(dst)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		c.entry(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), info, dir, false)
	}
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

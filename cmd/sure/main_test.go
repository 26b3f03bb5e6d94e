//go:build linux

package main

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/fsimage"
)

// The test binary doubles as the sure command: scripts run it as `sure`.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sure": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the scripts that need no particular destination file
// system (they make one with mkfs when they do).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:       "testdata/script",
		Cmds:      commands(),
		Condition: condition(""),
		Setup:     setup,
	})
}

// TestFS runs the scripts of testdata/fs once per real file system: each
// kind is made in an image, mounted, and every script copies into its own
// directory $D on it. $FS names the kind; [fat] holds on exFAT and FAT32,
// which keep no modes, owners or symlinks.
func TestFS(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			m := fsimage.ForTest(t, kind)
			testscript.Run(t, testscript.Params{
				Dir:       "testdata/fs",
				Cmds:      commands(),
				Condition: condition(kind),
				Setup: func(e *testscript.Env) error {
					if err := setup(e); err != nil {
						return err
					}
					d := filepath.Join(m.Dir, filepath.Base(e.WorkDir))
					if err := os.Mkdir(d, 0o755); err != nil {
						return err
					}
					e.Setenv("D", d)
					e.Setenv("FS", kind)
					return nil
				},
			})
		})
	}
}

func setup(e *testscript.Env) error {
	e.Values["tb"] = e.T().(testing.TB)
	return nil
}

// fsMissing says why kind cannot be made here, or "" when it can. Like
// fsimage.Require: outside CI that skips, under CI (CI set) it fails.
func fsMissing(kind string) (string, error) {
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root for loop devices and mount"
	} else if kind == "exfat" || kind == "vfat" {
		if _, err := os.Stat("/dev/fuse"); err != nil {
			why = "/dev/fuse is missing"
		}
	}
	if why != "" && os.Getenv("CI") != "" {
		return why, fmt.Errorf("%s: %s (CI must provide it)", kind, why)
	}
	return why, nil
}

// condition answers the scripts' conditions:
//
//	[fs:KIND]  a file system of KIND can be made here (an error under CI if not)
//	[on:KIND]  the file system under test ($FS) is KIND
//	[fat]      the file system under test is exFAT or FAT32
//	[root]     running as root
//	[exists:PATH] PATH exists
func condition(kind string) func(string) (bool, error) {
	return func(cond string) (bool, error) {
		switch {
		case strings.HasPrefix(cond, "fs:"):
			why, err := fsMissing(strings.TrimPrefix(cond, "fs:"))
			return why == "", err
		case strings.HasPrefix(cond, "on:"):
			return kind == strings.TrimPrefix(cond, "on:"), nil
		case cond == "fat":
			return kind == "exfat" || kind == "vfat", nil
		case strings.HasPrefix(cond, "exists:"):
			_, err := os.Stat(strings.TrimPrefix(cond, "exists:"))
			return err == nil, nil
		case cond == "root":
			return os.Geteuid() == 0, nil
		}
		return false, fmt.Errorf("unknown condition %q", cond)
	}
}

func commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"mkfs":         cmdMkfs,
		"fill":         cmdFill,
		"notemp":       cmdNotemp,
		"mkfile":       cmdMkfile,
		"mkfiles":      cmdMkfiles,
		"sametree":     cmdSametree,
		"subset":       cmdSubset,
		"manifest":     cmdManifest,
		"mode":         cmdMode,
		"owner":        cmdOwner,
		"mtime-same":   cmdMtimeSame,
		"checkdurable": cmdCheckDurable,
		"mkfifo":       cmdMkfifo,
		"islink":       cmdIslink,
		"status":       cmdStatus,
		// hostile_test.go
		"mkraw":      cmdMkraw,
		"rawexists":  cmdRawexists,
		"mksock":     cmdMksock,
		"mknull":     cmdMknull,
		"hardlinked": cmdHardlinked,
		"nlink":      cmdNlink,
		"mkdeep":     cmdMkdeep,
		"deepcheck":  cmdDeepcheck,
	}
}

func noNeg(ts *testscript.TestScript, neg bool, name string) {
	if neg {
		ts.Fatalf("unsupported: ! %s", name)
	}
}

var imageSeq atomic.Int64

// mkfs KIND DIR: make a fresh file system of KIND in an image under $WORK,
// mount it on DIR (created) and unmount it when the script ends.
func cmdMkfs(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkfs")
	if len(args) != 2 {
		ts.Fatalf("usage: mkfs KIND DIR")
	}
	kind, dir := args[0], ts.MkAbs(args[1])
	needFS(ts, "mkfs", kind)
	mountFresh(ts, kind, ts.MkAbs(fmt.Sprintf("%s-%d.img", kind, imageSeq.Add(1))), dir)
}

// needFS stops the script when file systems of kind cannot be made here,
// naming the command that wanted one.
func needFS(ts *testscript.TestScript, cmd, kind string) {
	if why, err := fsMissing(kind); why != "" {
		ts.Fatalf("%s %s: %s (guard the script with [fs:%s]): %v", cmd, kind, why, kind, err)
	}
}

// mountFresh makes a fresh file system of kind in image, mounts it on dir
// (created) and unmounts it when the script ends.
func mountFresh(ts *testscript.TestScript, kind, image, dir string) *fsimage.Mounted {
	m, err := fsimage.New(kind, image, dir)
	ts.Check(err)
	unmountAtEnd(ts, m, dir)
	return m
}

func unmountAtEnd(ts *testscript.TestScript, m *fsimage.Mounted, dir string) {
	tb := ts.Value("tb").(testing.TB)
	ts.Defer(func() {
		if err := m.Unmount(); err != nil {
			tb.Errorf("unmounting %s: %v", dir, err)
		}
	})
}

// fill DIR KEEP: fill the file system holding DIR until only about KEEP
// bytes are left for other files: one file DIR/filler where statfs tells
// the free space, else (fusefat reports none) 1 MiB files DIR/filler/N up
// to ENOSPC, then KEEP's worth of them removed.
func cmdFill(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "fill")
	if len(args) != 2 {
		ts.Fatalf("usage: fill DIR KEEP")
	}
	dir := ts.MkAbs(args[0])
	keep := parseSize(ts, args[1])
	var st unix.Statfs_t
	ts.Check(unix.Statfs(dir, &st))
	buf := make([]byte, 1<<20)
	if st.Blocks > 0 {
		f, err := os.Create(filepath.Join(dir, "filler"))
		ts.Check(err)
		defer f.Close()
		for {
			ts.Check(unix.Fstatfs(int(f.Fd()), &st))
			avail := int64(st.Bavail) * st.Bsize
			if avail <= keep {
				break
			}
			if _, err := f.Write(buf[:min(avail-keep, int64(len(buf)))]); err != nil {
				if errors.Is(err, syscall.ENOSPC) {
					break
				}
				ts.Fatalf("fill: %v", err)
			}
			ts.Check(f.Sync())
		}
		ts.Check(f.Close())
		return
	}
	fillDir := filepath.Join(dir, "filler")
	ts.Check(os.Mkdir(fillDir, 0o755))
	n := 0
	for ; ; n++ {
		err := os.WriteFile(filepath.Join(fillDir, strconv.Itoa(n)), buf, 0o644)
		// fusefat says EPERM when it is full.
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EPERM) {
			break
		}
		ts.Check(err)
	}
	for i := 0; i <= n && int64(i)*int64(len(buf)) < keep; i++ {
		ts.Check(os.Remove(filepath.Join(fillDir, strconv.Itoa(i))))
	}
}

// notemp DIR: no temporary file of sure's is left anywhere under DIR.
func cmdNotemp(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "notemp")
	if len(args) != 1 {
		ts.Fatalf("usage: notemp DIR")
	}
	if t := findTemps(ts.MkAbs(args[0])); len(t) > 0 {
		ts.Fatalf("temporary files left: %s", strings.Join(t, ", "))
	}
}

func findTemps(root string) []string {
	var found []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && durable.IsTemp(d.Name()) {
			found = append(found, path)
		}
		return nil
	})
	return found
}

func parseSize(ts *testscript.TestScript, s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		ts.Fatalf("bad size %q", s)
	}
	return n * mult
}

// writeRandom writes size pseudo-random bytes to path, the same bytes for
// the same base name and size.
func writeRandom(path string, size int64) error {
	rng := rand.NewChaCha8(sha256.Sum256(fmt.Appendf(nil, "%s/%d", filepath.Base(path), size)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, rng, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkfile PATH SIZE: a file of SIZE (suffix K or M) pseudo-random bytes.
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkfile")
	if len(args) != 2 {
		ts.Fatalf("usage: mkfile PATH SIZE")
	}
	ts.Check(writeRandom(ts.MkAbs(args[0]), parseSize(ts, args[1])))
}

// mkfiles DIR N SIZE: DIR/f000 ... of SIZE pseudo-random bytes each.
func cmdMkfiles(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkfiles")
	if len(args) != 3 {
		ts.Fatalf("usage: mkfiles DIR N SIZE")
	}
	dir := ts.MkAbs(args[0])
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	size := parseSize(ts, args[2])
	ts.Check(os.MkdirAll(dir, 0o755))
	for i := range n {
		ts.Check(writeRandom(filepath.Join(dir, fmt.Sprintf("f%03d", i)), size))
	}
}

// entry describes one file of a tree: type, symlink target, content hash.
func entry(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	switch m := fi.Mode(); {
	case m.IsDir():
		return "dir", nil
	case m&fs.ModeSymlink != 0:
		t, err := os.Readlink(path)
		return "symlink -> " + t, err
	case m.IsRegular():
		data, err := os.ReadFile(path)
		return fmt.Sprintf("file %d %x", len(data), sha256.Sum256(data)), err
	default:
		return "special " + m.Type().String(), nil
	}
}

// tree maps every path under root (relative) to its entry.
func tree(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == copier.JournalName {
			return nil // sure's own, while a job is unfinished
		}
		rel, _ := filepath.Rel(root, path)
		out[rel], err = entry(path)
		return err
	})
	return out, err
}

// sametree A B: the trees hold the same names, types, contents and
// symlink targets.
func cmdSametree(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sametree A B")
	}
	a, err := tree(ts.MkAbs(args[0]))
	ts.Check(err)
	b, err := tree(ts.MkAbs(args[1]))
	ts.Check(err)
	var diffs []string
	for p, ea := range a {
		if eb, ok := b[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: only in %s", p, args[0]))
		} else if ea != eb {
			diffs = append(diffs, fmt.Sprintf("%s: %s vs %s", p, ea, eb))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: only in %s", p, args[1]))
		}
	}
	switch {
	case neg && len(diffs) == 0:
		ts.Fatalf("%s and %s are the same", args[0], args[1])
	case !neg && len(diffs) > 0:
		ts.Fatalf("%s and %s differ:\n%s", args[0], args[1], strings.Join(diffs, "\n"))
	}
}

// subset DST SRC: every file and symlink under DST but DST/filler is
// identical to the one at the same place under SRC: nothing partial or
// foreign sits under a final name.
func cmdSubset(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "subset")
	if len(args) != 2 {
		ts.Fatalf("usage: subset DST SRC")
	}
	dst, src := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	d, err := tree(dst)
	ts.Check(err)
	for p, e := range d {
		if e == "dir" || p == "filler" || strings.HasPrefix(p, "filler/") {
			continue
		}
		se, err := entry(filepath.Join(src, p))
		if err != nil || se != e {
			ts.Fatalf("%s: %s, source %s: %s %v", filepath.Join(dst, p), e, filepath.Join(src, p), se, err)
		}
	}
}

// manifest DIR: print every entry under DIR with mode, size, mtime and
// content, to compare before and after a command (cp stdout / cmp).
func cmdManifest(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "manifest")
	if len(args) != 1 {
		ts.Fatalf("usage: manifest DIR")
	}
	root := ts.MkAbs(args[0])
	ts.Check(filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		e, err := entry(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fmt.Fprintf(ts.Stdout(), "%s %v %d %d %s\n", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), e)
		return nil
	}))
}

// mode PATH PERM: PATH (not followed) has permission bits PERM (octal).
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode PATH PERM")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := uint64(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetuid != 0 {
		got |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		got |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		got |= 0o1000
	}
	if (got == want) == neg {
		ts.Fatalf("%s: mode %04o, want %s%04o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// owner PATH UID: PATH (not followed) belongs to UID.
func cmdOwner(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "owner")
	if len(args) != 2 {
		ts.Fatalf("usage: owner PATH UID")
	}
	fi, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); got != args[1] {
		ts.Fatalf("%s: owner %s, want %s", args[0], got, args[1])
	}
}

// mtime-same A B: A and B (not followed) have the same modification time.
func cmdMtimeSame(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mtime-same A B")
	}
	a, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	b, err := os.Lstat(ts.MkAbs(args[1]))
	ts.Check(err)
	if a.ModTime().Equal(b.ModTime()) == neg {
		ts.Fatalf("mtime %s: %v, %s: %v", args[0], a.ModTime(), args[1], b.ModTime())
	}
}

var durableLine = regexp.MustCompile(`^'(.*)' -> '(.*)'$`)

// checkdurable [MIN]: every "'src' -> 'dst'" line of the last command's
// stdout names a dst identical to its src, and there are at least MIN.
func cmdCheckDurable(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "checkdurable")
	n := 0
	s := bufio.NewScanner(strings.NewReader(ts.ReadFile("stdout")))
	for s.Scan() {
		m := durableLine.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		n++
		a, err := entry(ts.MkAbs(m[1]))
		ts.Check(err)
		b, err := entry(ts.MkAbs(m[2]))
		ts.Check(err)
		if a != b {
			ts.Fatalf("reported durable, but %s is %s and %s is %s", m[2], b, m[1], a)
		}
	}
	if len(args) > 0 {
		want, err := strconv.Atoi(args[0])
		ts.Check(err)
		if n < want {
			ts.Fatalf("%d files reported durable, want at least %d", n, want)
		}
	}
}

// mkfifo PATH: a named pipe.
func cmdMkfifo(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkfifo")
	if len(args) != 1 {
		ts.Fatalf("usage: mkfifo PATH")
	}
	ts.Check(unix.Mkfifo(ts.MkAbs(args[0]), 0o644))
}

// islink PATH TARGET: PATH is a symlink to TARGET.
func cmdIslink(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: islink PATH TARGET")
	}
	got, err := os.Readlink(ts.MkAbs(args[0]))
	if (err == nil && got == args[1]) == neg {
		ts.Fatalf("%s: readlink %q, %v; want %s%q", args[0], got, err, map[bool]string{true: "not ", false: ""}[neg], args[1])
	}
}

// sureBinary finds the sure that testscript.Main put in $PATH.
func sureBinary(t *testing.T) string {
	p, err := exec.LookPath("sure")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// status N PROG ARGS...: run PROG, which must exit with status N; its
// output is kept for stdout and stderr like exec's.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "status")
	if len(args) < 2 {
		ts.Fatalf("usage: status N PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

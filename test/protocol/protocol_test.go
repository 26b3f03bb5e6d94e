//go:build linux

// Package protocol_test checks, ALICE-style, the order of the operations
// sure sends a file system: it copies a tree onto an oplog mount (a FUSE
// passthrough that logs every operation the kernel sends) and asserts from
// the log that every file was written, fsynced and renamed into place, and
// that every directory entry was flushed, before sure exited. Plain cp and
// rsync run through the same checker, which must find their faults.
package protocol_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/lab/oplog"
)

// envMiniCP makes the test binary a minimal copier built on durable (see
// miniCP), run as a child so its I/O is a program's, as sure's is.
const envMiniCP = "SURE_PROTOCOL_MINICP"

func TestMain(m *testing.M) {
	oplog.Main()
	if v := os.Getenv(envMiniCP); v != "" {
		src, dst, _ := strings.Cut(v, "\n")
		if err := miniCP(src, dst); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// miniCP copies the tree src to dst (which must not exist) with the durable
// library alone: directories made and flushed with their parent, files
// written with durable.WriteFile.
func miniCP(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if err := os.Mkdir(target, 0o755); err != nil {
				return err
			}
			if err := durable.SyncDir(target); err != nil {
				return err
			}
			return durable.SyncDir(filepath.Dir(target))
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return durable.WriteFile(target, data, 0o644)
	})
}

// tree is the source: nested directories, an empty one, an empty file,
// about 50 small files and one of several MiB (many WRITEs).
func makeTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	r := rand.New(rand.NewPCG(1, 2))
	dirs := []string{"", "d1", "d1/d2", "d1/d2/d3", "d4", "empty"}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	put := func(name string, size int) {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 48 {
		d := dirs[i%5] // not "empty"
		put(filepath.Join(d, fmt.Sprintf("f%02d", i)), r.IntN(9000))
	}
	put("zero", 0)
	put("d1/big", 5<<20+123)
	return src
}

// walk lists the files and directories under root, relative to it.
func walk(t *testing.T, root string) (files, dirs []string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			dirs = append(dirs, rel)
		} else {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, dirs
}

func stat(t *testing.T, name string) (ino uint64, size int64) {
	t.Helper()
	fi, err := os.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino, fi.Size()
}

// copyRun runs a copier (args, with the mount's paths) and returns the
// part of the log it wrote.
func copyRun(t *testing.T, m *oplog.Mount, cmd *exec.Cmd) run {
	t.Helper()
	before, err := m.Ops()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	// Everything the command waited for is logged by now.
	ops, err := m.Ops()
	if err != nil {
		t.Fatal(err)
	}
	return run{ops: ops, start: len(before), exit: len(ops)}
}

// expect describes what a copy of src to <mount>/dst must have done.
type expect struct {
	src, dst  string // dst relative to the mount
	newDirs   []string
	files     []string // relative to src and dst
	untouched []string // existing files the copy must leave alone (-n)
}

// check returns the findings of the checker for the run, after making
// sure the copy itself is complete and correct.
func (e expect) check(t *testing.T, m *oplog.Mount, r run) []finding {
	t.Helper()
	var out []finding
	skip := map[string]bool{}
	for _, f := range e.untouched {
		skip[f] = true
		ino, _ := stat(t, filepath.Join(m.Backing, e.dst, f))
		out = append(out, r.checkUntouched(filepath.Join(e.dst, f), ino)...)
	}
	for _, f := range e.files {
		if skip[f] {
			continue
		}
		want, err := os.ReadFile(filepath.Join(e.src, f))
		if err != nil {
			t.Fatal(err)
		}
		final := filepath.Join(m.Backing, e.dst, f)
		if got, err := os.ReadFile(final); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (%v), want the %d of the source", final, len(got), err, len(want))
			continue
		}
		ino, size := stat(t, final)
		out = append(out, r.checkFile(filepath.Join(e.dst, f), ino, size)...)
	}
	for _, d := range e.newDirs {
		ino, _ := stat(t, filepath.Join(m.Backing, e.dst, d))
		out = append(out, r.checkDir(filepath.Join(e.dst, d), ino)...)
	}
	for _, d := range append([]string{"."}, e.newDirs...) {
		es, err := os.ReadDir(filepath.Join(m.Backing, e.dst, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range es {
			if durable.IsTemp(x.Name()) {
				t.Errorf("temporary file %s left in %s", x.Name(), filepath.Join(e.dst, d))
			}
		}
	}
	return out
}

func report(fs []finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// buildSure builds ./cmd/sure into a temporary directory.
func buildSure(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("go is not on PATH: %v", err)
		}
		t.Skipf("go is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sure")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/sure-tools/sure/cmd/sure").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/sure: %v\n%s", err, out)
	}
	return bin
}

// setUpDest makes <backing>/name/src with an existing file (to be replaced,
// or kept with -n) in a directory that already exists, straight in the
// backing directory so that the log holds only the copy.
func setUpDest(t *testing.T, m *oplog.Mount, name string, existing ...string) {
	t.Helper()
	for _, f := range existing {
		p := filepath.Join(m.Backing, name, "src", f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("old content"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSureCp copies a tree with sure: every file, directory and the
// replaced file must follow the protocol; with -n, existing files stay.
func TestSureCp(t *testing.T) {
	oplog.Require(t)
	sure := buildSure(t)
	m := oplog.Start(t)
	src := makeTree(t)
	files, dirs := walk(t, src)

	t.Run("replace", func(t *testing.T) {
		// dst/src and dst/src/d1 exist; dst/src/f00 and d1/f01 are replaced.
		setUpDest(t, m, "dst", "f00", "d1/f01")
		r := copyRun(t, m, exec.Command(sure, "cp", "-r", src, filepath.Join(m.Dir, "dst")))
		e := expect{src: src, dst: "dst/src", files: files, newDirs: without(dirs, ".", "d1")}
		if fs := e.check(t, m, r); len(fs) != 0 {
			t.Errorf("sure cp -r broke the protocol:\n%s", report(fs))
		}
	})
	t.Run("noclobber", func(t *testing.T) {
		setUpDest(t, m, "keep", "f00", "d1/f01")
		r := copyRun(t, m, exec.Command(sure, "cp", "-r", "-n", src, filepath.Join(m.Dir, "keep")))
		e := expect{src: src, dst: "keep/src", files: files, newDirs: without(dirs, ".", "d1"), untouched: []string{"f00", "d1/f01"}}
		if fs := e.check(t, m, r); len(fs) != 0 {
			t.Errorf("sure cp -r -n broke the protocol:\n%s", report(fs))
		}
		for _, f := range e.untouched {
			if got, _ := os.ReadFile(filepath.Join(m.Backing, e.dst, f)); string(got) != "old content" {
				t.Errorf("sure cp -n replaced %s: it holds %d bytes", f, len(got))
			}
		}
	})
}

func without(list []string, drop ...string) []string {
	var out []string
	for _, s := range list {
		keep := true
		for _, d := range drop {
			keep = keep && s != d
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

// TestDurableLibrary copies the tree with miniCP: durable.WriteFile and
// SyncDir alone must satisfy the checker.
func TestDurableLibrary(t *testing.T) {
	m := oplog.Start(t)
	src := makeTree(t)
	files, dirs := walk(t, src)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envMiniCP+"="+src+"\n"+filepath.Join(m.Dir, "dst"))
	r := copyRun(t, m, cmd)
	e := expect{src: src, dst: "dst", files: files, newDirs: dirs}
	if fs := e.check(t, m, r); len(fs) != 0 {
		t.Errorf("durable broke the protocol:\n%s", report(fs))
	}
}

// TestCheckerFindsFaults runs copiers known to break the protocol through
// the same checker: it must name their faults, or it could not catch
// sure's.
func TestCheckerFindsFaults(t *testing.T) {
	m := oplog.Start(t)
	src := makeTree(t)
	files, dirs := walk(t, src)

	t.Run("cp", func(t *testing.T) {
		// cp writes in place, never fsyncs, never flushes a directory.
		setUpDest(t, m, "cp", "f00")
		r := copyRun(t, m, exec.Command("cp", "-r", src, filepath.Join(m.Dir, "cp")))
		e := expect{src: src, dst: "cp/src", files: files, newDirs: without(dirs, ".")}
		fs := e.check(t, m, r)
		byPath := map[string]map[string]bool{}
		for _, f := range fs {
			if byPath[f.Path] == nil {
				byPath[f.Path] = map[string]bool{}
			}
			byPath[f.Path][f.Rule] = true
		}
		for _, f := range files {
			p := filepath.Join(e.dst, f)
			if !byPath[p][ruleAtomic] || !byPath[p][ruleFsync] {
				t.Errorf("cp -r: the checker did not find that %s was written in place without fsync; it found %v", p, byPath[p])
			}
		}
		for _, d := range e.newDirs {
			p := filepath.Join(e.dst, d)
			if !byPath[p][ruleDirSelf] || !byPath[p][ruleFsyncdir] {
				t.Errorf("cp -r: the checker did not find that directory %s was never flushed; it found %v", p, byPath[p])
			}
		}
		if !byPath["cp/src/f00"][ruleAtomic] {
			t.Errorf("cp -r: the checker missed the overwrite in place of cp/src/f00")
		}
	})
	t.Run("rsync", func(t *testing.T) {
		// rsync --fsync renames a flushed temporary file into place, but
		// never flushes the directory after the rename.
		if _, err := exec.LookPath("rsync"); err != nil {
			t.Skip("rsync is not installed")
		}
		r := copyRun(t, m, exec.Command("rsync", "-r", "--fsync", src, filepath.Join(m.Dir, "rsync")))
		e := expect{src: src, dst: "rsync/src", files: files, newDirs: without(dirs, ".")}
		fs := e.check(t, m, r)
		rules := map[string]int{}
		for _, f := range fs {
			rules[f.Rule]++
		}
		if rules[ruleFsyncdir] == 0 {
			t.Errorf("rsync --fsync: the checker found no missing directory flush; findings:\n%s", report(fs))
		}
		if rules[ruleFsync] != 0 || rules[ruleAtomic] != 0 {
			t.Errorf("rsync --fsync does fsync and rename its files, but the checker says otherwise:\n%s", report(fs))
		}
		t.Logf("rsync --fsync: %v", rules)
	})
}

package conformance

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
)

// The cases of the durable library.

// pending creates a pending file for name with create and writes content
// to it; it is cleaned up when t ends.
func pending(t *testing.T, create func(string, fs.FileMode) (*durable.Pending, error), name, content string) *durable.Pending {
	t.Helper()
	p, err := create(name, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cleanup() })
	if _, err := p.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return p
}

func testWriteFileCreates(t *testing.T, dir string, caps fsinfo.Caps) {
	name := filepath.Join(dir, "f")
	data := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // over a MiB
	if err := durable.WriteFile(name, data, 0o640); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, name, data)
	WantNames(t, dir, "f")
	wantPerm(t, name, 0o640, caps)
}

// testWriteFileReplaces checks that the old content is replaced by a new
// file, not overwritten in place: a reader that opened the old file keeps
// reading the complete old content.
func testWriteFileReplaces(t *testing.T, dir string, _ fsinfo.Caps) {
	name := filepath.Join(dir, "f")
	Write(t, name, "old content")
	old, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	err = durable.WriteFile(name, []byte("new"), 0o644)
	if runtime.GOOS == "windows" {
		// Windows refuses to replace a file open without FILE_SHARE_DELETE,
		// as os.Open opens it: the write must fail cleanly instead.
		var le *os.LinkError
		if !errors.As(err, &le) || le.New != name {
			t.Errorf("WriteFile over an open file: %#v, want an *os.LinkError naming %s", err, name)
		}
		WantContent(t, name, "old content")
		WantNames(t, dir, "f")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	WantContent(t, name, "new")
	WantNames(t, dir, "f")
	got := make([]byte, 64)
	n, err := old.ReadAt(got, 0)
	if n != len("old content") || string(got[:n]) != "old content" {
		t.Errorf("the file opened before WriteFile reads %q (%v), want the old content", got[:n], err)
	}
}

func testCreateCommit(t *testing.T, dir string, _ fsinfo.Caps) {
	name := filepath.Join(dir, "f")
	p, err := durable.Create(name, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cleanup()
	if filepath.Dir(p.Name()) != dir || !durable.IsTemp(filepath.Base(p.Name())) {
		t.Errorf("Create(%s) writes to %s, want a temporary file in %s", name, p.Name(), dir)
	}
	for _, s := range []string{"one ", "two ", "three"} {
		if _, err := p.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists before Commit: %v", name, err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	WantContent(t, name, "one two three")
	WantNames(t, dir, "f")
	if err := p.Cleanup(); err != nil {
		t.Errorf("Cleanup after Commit: %v", err)
	}
	WantContent(t, name, "one two three")
	if err := p.Commit(); err == nil {
		t.Errorf("a second Commit succeeded")
	}
}

func testCreateNoReplace(t *testing.T, dir string, _ fsinfo.Caps) {
	name := filepath.Join(dir, "f")
	Write(t, name, "old")
	p := pending(t, durable.CreateNoReplace, name, "new")
	err := p.Commit()
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Commit onto an existing file: %v, want fs.ErrExist", err)
	}
	var le *os.LinkError
	if !errors.As(err, &le) || le.New != name {
		t.Errorf("Commit onto an existing file: %#v, want an *os.LinkError naming %s", err, name)
	}
	WantContent(t, name, "old")
	WantNames(t, dir, "f")

	free := filepath.Join(dir, "g")
	p = pending(t, durable.CreateNoReplace, free, "new")
	if err := p.Commit(); err != nil {
		t.Fatalf("CreateNoReplace onto a free name: %v", err)
	}
	WantContent(t, free, "new")
	WantNames(t, dir, "f", "g")
}

func testCleanup(t *testing.T, dir string, _ fsinfo.Caps) {
	name := filepath.Join(dir, "f")
	p := pending(t, durable.Create, name, "abandoned")
	if err := p.Cleanup(); err != nil {
		t.Fatal(err)
	}
	WantNames(t, dir)
	if err := p.Cleanup(); err != nil {
		t.Errorf("a second Cleanup: %v", err)
	}
	if err := p.Commit(); err == nil {
		t.Errorf("Commit after Cleanup succeeded")
	}
	WantNames(t, dir)
}

// testCommitOntoDirectory makes the rename of a Commit fail: the final name
// is a non-empty directory. The directory must survive and the temporary
// file must go.
func testCommitOntoDirectory(t *testing.T, dir string, _ fsinfo.Caps) {
	name := filepath.Join(dir, "f")
	if err := os.Mkdir(name, 0o755); err != nil {
		t.Fatal(err)
	}
	Write(t, filepath.Join(name, "child"), "keep")
	p := pending(t, durable.Create, name, "new")
	err := p.Commit()
	var le *os.LinkError
	if !errors.As(err, &le) || le.New != name {
		t.Errorf("Commit onto a directory: %#v, want an *os.LinkError naming %s", err, name)
	}
	WantNames(t, dir, "f")
	WantContent(t, filepath.Join(name, "child"), "keep")
}

func testRename(t *testing.T, dir string, _ fsinfo.Caps) {
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "sub", "c")
	if err := os.Mkdir(filepath.Dir(c), 0o755); err != nil {
		t.Fatal(err)
	}
	Write(t, a, "a")
	Write(t, b, "b")
	err := durable.RenameNoReplace(a, b)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("RenameNoReplace onto an existing file: %v, want fs.ErrExist", err)
	}
	var le *os.LinkError
	if !errors.As(err, &le) || le.Old != a || le.New != b {
		t.Errorf("RenameNoReplace: %#v, want an *os.LinkError naming %s and %s", err, a, b)
	}
	WantContent(t, a, "a")
	WantContent(t, b, "b")
	if err := durable.RenameNoReplace(a, c); err != nil {
		t.Fatalf("RenameNoReplace to a free name in another directory: %v", err)
	}
	WantContent(t, c, "a")
	if err := durable.Rename(c, b); err != nil {
		t.Fatalf("Rename onto an existing file: %v", err)
	}
	WantContent(t, b, "a")
	WantNames(t, dir, "b", "sub")
	WantNames(t, filepath.Dir(c))
}

func testErrorsNamePaths(t *testing.T, dir string, _ fsinfo.Caps) {
	missing := filepath.Join(dir, "missing")
	var pe *os.PathError
	err := durable.WriteFile(filepath.Join(missing, "f"), []byte("x"), 0o644)
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Path, missing+string(filepath.Separator)) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile into a missing directory: %#v, want an *os.PathError in %s", err, missing)
	}
	for op, f := range map[string]func(string) error{"SyncDir": durable.SyncDir, "SyncFS": durable.SyncFS} {
		err := f(missing)
		if !errors.As(err, &pe) || pe.Path != missing || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s(%s): %#v, want an *os.PathError naming it", op, missing, err)
		}
	}
	WantNames(t, dir)
}

func testSync(t *testing.T, dir string, caps fsinfo.Caps) {
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("x"); err != nil {
		t.Fatal(err)
	}
	if err := durable.SyncFile(f); err != nil {
		t.Errorf("SyncFile: %v", err)
	}
	if err := durable.SyncDir(dir); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	err = durable.SyncFS(dir)
	if runtime.GOOS == "windows" && errors.Is(err, durable.ErrFSSyncUnsupported) {
		t.Logf("SyncFS: %v (no volume flush here: wine, or not an administrator)", err)
	} else if caps.FUSE {
		if !errors.Is(err, durable.ErrFSSyncUnsupported) {
			t.Errorf("SyncFS on %s (FUSE): %v, want ErrFSSyncUnsupported", caps.Kind, err)
		}
	} else if err != nil {
		t.Errorf("SyncFS: %v", err)
	}
}

// testEmptyFile: an empty file is created and replaced like any other,
// by WriteFile and by a Create that writes nothing.
func testEmptyFile(t *testing.T, dir string, caps fsinfo.Caps) {
	name := filepath.Join(dir, "empty")
	if err := durable.WriteFile(name, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	WantContent(t, name, "")
	wantPerm(t, name, 0o640, caps)
	other := filepath.Join(dir, "other")
	Write(t, other, "old")
	p := pending(t, durable.Create, other, "")
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	WantContent(t, other, "")
	WantNames(t, dir, "empty", "other")
}

// largeSize spans many extents and clusters, and an old and a new copy
// fit on the smallest image the suite runs on (btrfs: 128 MiB, its
// metadata kept twice).
const largeSize = 8 << 20

// testLargeFile writes a file in many pieces, replacing one of the same
// size: the new content comes back whole, block for block.
func testLargeFile(t *testing.T, dir string, _ fsinfo.Caps) {
	name := filepath.Join(dir, "large")
	data := pattern(largeSize)
	if err := durable.WriteFile(name, bytes.Repeat([]byte{'o'}, largeSize), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := durable.Create(name, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cleanup()
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := p.Write(data[off : off+1<<20]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, name, data)
	WantNames(t, dir, "large")
	if err := os.Remove(name); err != nil {
		t.Error(err)
	}
}

// testNewDirectory: a file written in a directory made just before is
// there with its content, and the new directory's own entry can be
// flushed in its parent.
func testNewDirectory(t *testing.T, dir string, _ fsinfo.Caps) {
	sub := filepath.Join(dir, "new", "deeper")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(sub, "f")
	if err := durable.WriteFile(name, []byte("in a new directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dir, "new"), dir} {
		if err := durable.SyncDir(d); err != nil {
			t.Errorf("SyncDir(%s): %v", d, err)
		}
	}
	WantContent(t, name, "in a new directory")
	WantNames(t, sub, "f")
}

// testRefusedNames: a name the file system refuses fails with an error
// naming it and leaves no temporary file; a name it takes, it keeps.
func testRefusedNames(t *testing.T, dir string, caps fsinfo.Caps) {
	for _, base := range refusedNames(caps) {
		name := filepath.Join(dir, base)
		err := durable.WriteFile(name, []byte("x"), 0o644)
		if err != nil {
			if !namesPath(err, name) {
				t.Errorf("WriteFile(%q): %#v, want an error naming it", base, err)
			}
			WantNames(t, dir)
			continue
		}
		t.Logf("%s takes the name %q", caps.Kind, base)
		WantContent(t, name, "x")
		WantNames(t, dir, base)
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
}

// testCaseFolding: where the format folds case (Caps.FoldsCase), a
// no-replace commit onto a name differing only in case never overwrites
// the file that holds it, and a replacing one leaves one file, not two.
// A driver that keeps both names apart (ntfs3 without nocase) must keep
// both files whole.
func testCaseFolding(t *testing.T, dir string, caps fsinfo.Caps) {
	if !caps.FoldsCase {
		t.Skipf("%s keeps names differing in case apart", caps.Kind)
	}
	lower, upper := filepath.Join(dir, "f"), filepath.Join(dir, "F")
	Write(t, lower, "lower")
	err := pending(t, durable.CreateNoReplace, upper, "upper").Commit()
	folds := errors.Is(err, fs.ErrExist)
	switch {
	case folds:
		WantContent(t, lower, "lower")
		WantNames(t, dir, "f")
	case err != nil:
		t.Fatalf("Commit of F no-replace beside f: %v", err)
	default:
		t.Logf("%s keeps f and F apart", caps.Kind)
		WantContent(t, lower, "lower")
		WantContent(t, upper, "upper")
		WantNames(t, dir, "F", "f")
		return
	}
	if err := durable.WriteFile(upper, []byte("replaced"), 0o644); err != nil {
		t.Fatal(err)
	}
	WantContent(t, lower, "replaced")
	if got := names(t, dir); len(got) != 1 || !strings.EqualFold(got[0], "f") {
		t.Errorf("%s holds %q after replacing f by F, want one of them", dir, got)
	}
}

package preflight_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/preflight"
)

// A renamed name must not land on a name another source keeps, another
// renamed source takes, or a file already at the destination holds
// (compared without case on exFAT): each of those would overwrite a file
// the job reports durable or one it never touched. The loser gets a
// numbered suffix, listed among the renames, before anything is written.
func TestRenamesNeverCollide(t *testing.T) {
	m := fsimage.ForTest(t, "exfat")
	ctx := context.Background()
	write := func(dir string, names ...string) {
		t.Helper()
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("content of "+n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// check says whether every source's content is in dir under exactly
	// one name and every file that was there before is untouched.
	check := func(dir string, srcs, theirs []string, renamed int, got []copierRename) {
		t.Helper()
		seen := map[string]string{}
		for _, n := range names(t, dir) {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			if prev, ok := seen[string(b)]; ok {
				t.Errorf("%q and %q both hold %q", prev, n, b)
			}
			seen[string(b)] = n
		}
		for _, n := range append(slices.Clone(srcs), theirs...) {
			if _, ok := seen["content of "+n]; !ok {
				t.Errorf("the content of %q is nowhere in %s (holds %q)", n, dir, names(t, dir))
			}
		}
		if n := len(names(t, dir)); n != len(srcs)+len(theirs) {
			t.Errorf("%s holds %d names, want %d: %q", dir, n, len(srcs)+len(theirs), names(t, dir))
		}
		if len(got) != renamed {
			t.Errorf("%d renames listed, want %d: %+v", len(got), renamed, got)
		}
		for _, r := range got {
			b, err := os.ReadFile(r.To)
			if err != nil || string(b) != "content of "+filepath.Base(r.Src) {
				t.Errorf("renamed %s -> %s holds %q, %v", r.Src, r.To, b, err)
			}
		}
	}
	srcs := []string{"a:b", "a_b", "x.", "x", "e:f", "q:r.txt", "Case.txt", "case.txt"}
	theirs := []string{"e_f", "Q_R.txt"}

	t.Run("tree", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "tree")
		os.Mkdir(src, 0o755)
		write(src, srcs...)
		dst := filepath.Join(m.Dir, "tree")
		os.Mkdir(dst, 0o755)
		write(dst, theirs...)
		sum, err := copier.Copy(ctx, []string{src}, m.Dir, copier.Options{Recursive: true, RenameInvalid: true})
		if err != nil {
			t.Fatal(err)
		}
		check(dst, srcs, theirs, 5, renames(sum))
		// Running the job again finds its own renamed copies: it resumes
		// instead of writing every one again under a new suffix.
		again, err := copier.Copy(ctx, []string{src}, m.Dir, copier.Options{Recursive: true, RenameInvalid: true})
		if err != nil {
			t.Fatal(err)
		}
		check(dst, srcs, theirs, 5, renames(again))
		if !slices.Equal(renames(sum), renames(again)) {
			t.Errorf("the second run renamed %+v, the first %+v", renames(again), renames(sum))
		}
	})

	t.Run("operands", func(t *testing.T) {
		dir := t.TempDir()
		var args []string
		for i, n := range srcs {
			d := filepath.Join(dir, string(rune('0'+i)))
			os.Mkdir(d, 0o755)
			write(d, n)
			args = append(args, filepath.Join(d, n))
		}
		dst := filepath.Join(m.Dir, "operands")
		os.Mkdir(dst, 0o755)
		write(dst, theirs...)
		sum, err := copier.Copy(ctx, args, dst, copier.Options{RenameInvalid: true})
		if err != nil {
			t.Fatal(err)
		}
		check(dst, srcs, theirs, 5, renames(sum))
	})
}

type copierRename struct{ Src, To string }

func renames(sum copier.Summary) []copierRename {
	var out []copierRename
	if sum.Preflight == nil {
		return nil
	}
	for _, r := range sum.Preflight.Renamed {
		out = append(out, copierRename{r.Src, r.To})
	}
	return out
}

// Names shortened to fit ext4's 255 bytes can meet each other and a file
// already there; ext4 tells case apart, so only equal bytes collide.
func TestShortenedNamesNeverCollide(t *testing.T) {
	src := fsimage.ForTest(t, "exfat")
	dst := fsimage.ForTest(t, "ext4")
	long := []string{strings.Repeat("日", 100) + "1.txt", strings.Repeat("日", 100) + "2.txt"}
	from := filepath.Join(src.Dir, "d")
	os.Mkdir(from, 0o755)
	for _, n := range long {
		if err := os.WriteFile(filepath.Join(from, n), []byte("content of "+n[len(n)-5:]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	short := strings.Repeat("日", 83) + ".txt" // what either shortens to
	tree := filepath.Join(dst.Dir, "d")
	os.Mkdir(tree, 0o755)
	if err := os.WriteFile(filepath.Join(tree, short), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := copier.Copy(context.Background(), []string{from}, dst.Dir, copier.Options{Recursive: true, RenameInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(tree, short)); string(b) != "theirs" {
		t.Errorf("the file already there now holds %q", b)
	}
	got := map[string]bool{}
	for _, r := range sum.Preflight.Renamed {
		b, err := os.ReadFile(r.To)
		if err != nil || len(filepath.Base(r.To)) > 255 {
			t.Errorf("renamed to %s: %v", r.To, err)
		}
		got[string(b)] = true
	}
	if len(sum.Preflight.Renamed) != 2 || !got["content of 1.txt"] || !got["content of 2.txt"] {
		t.Errorf("renames %+v hold %v, want both sources", sum.Preflight.Renamed, got)
	}
	if n := names(t, tree); len(n) != 3 {
		t.Errorf("%s holds %q, want 3 names", tree, n)
	}
}

// A renamed directory meets a directory already there under its new name:
// an unrelated one is not merged into (its files could be overwritten);
// the job's own from an earlier run is, so that running it again resumes.
func TestRenamedDirectoryCollides(t *testing.T) {
	m := fsimage.ForTest(t, "exfat")
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "d:x")
	os.Mkdir(src, 0o755)
	for _, n := range []string{"mine.txt", "b:c.txt"} {
		if err := os.WriteFile(filepath.Join(src, n), []byte("content of "+n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	theirs := filepath.Join(m.Dir, "d_x")
	os.Mkdir(theirs, 0o755)
	if err := os.WriteFile(filepath.Join(theirs, "theirs.txt"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := copier.Options{Recursive: true, RenameInvalid: true}
	sum, err := copier.Copy(ctx, []string{src}, m.Dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, theirs); !slices.Equal(got, []string{"theirs.txt"}) {
		t.Errorf("the directory already there now holds %q", got)
	}
	mine := filepath.Join(m.Dir, "d_x~1")
	if got := names(t, mine); !slices.Equal(got, []string{"b_c.txt", "mine.txt"}) {
		t.Errorf("%s holds %q", mine, got)
	}
	again, err := copier.Copy(ctx, []string{src}, m.Dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, m.Dir); !slices.Equal(got, []string{"d_x", "d_x~1"}) {
		t.Errorf("after a second run the destination holds %q", got)
	}
	if !slices.Equal(renames(sum), renames(again)) {
		t.Errorf("the second run renamed %+v, the first %+v", renames(again), renames(sum))
	}
}

// Two operands of one name, not both directories, would land on one file:
// the second would replace the first, both reported durable. cp refuses
// the second; sure refuses the job before writing, or renames one on
// request. Two directories of one name merge, as with cp, and one source
// named twice is no collision.
func TestOperandsOfOneName(t *testing.T) {
	dir := t.TempDir()
	var files, dirs []string
	for _, d := range []string{"d1", "d2"} {
		os.MkdirAll(filepath.Join(dir, d, "sub"), 0o755)
		if err := os.WriteFile(filepath.Join(dir, d, "x"), []byte("content of "+d), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "sub", d), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.Join(dir, d, "x"))
		dirs = append(dirs, filepath.Join(dir, d, "sub"))
	}
	ctx := context.Background()
	for _, kind := range []string{"ext4", "exfat"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			_, err := copier.Copy(ctx, files, m.Dir, copier.Options{})
			if r := refusal(t, err); !slices.Equal(reasons(r), []preflight.Reason{preflight.Collision}) {
				t.Errorf("want one collision, got %v", r)
			}
			if n := names(t, m.Dir); slices.Contains(n, "x") {
				t.Errorf("a refused job wrote %q", n)
			}
			sum, err := copier.Copy(ctx, files, m.Dir, copier.Options{RenameInvalid: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range map[string]string{"x": "content of d1", "x~1": "content of d2"} {
				if b, err := os.ReadFile(filepath.Join(m.Dir, i)); err != nil || string(b) != want {
					t.Errorf("%s holds %q, %v; want %q", i, b, err, want)
				}
			}
			if len(sum.Preflight.Renamed) != 1 {
				t.Errorf("renames %+v, want 1", sum.Preflight.Renamed)
			}
			// Two directories of one name pass the check (merging them
			// is the copier's business).
			if _, err := preflight.Check(dirs, m.Dir, preflight.Options{Recursive: true}); err != nil {
				t.Errorf("two directories of one name: %v", err)
			}
			// One source named twice is copied once, as cp does.
			if _, err := preflight.Check([]string{files[0], files[0]}, m.Dir, preflight.Options{}); err != nil {
				t.Errorf("one source named twice: %v", err)
			}
		})
	}
}

// Two directories of one name merge, and a file of one name in both would
// land on one file of the merged directory: refused as a collision, as
// cp refuses to overwrite a file it just created.
func TestMergedDirectoriesCollide(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	dir := t.TempDir()
	var srcs []string
	for _, d := range []string{"d1", "d2"} {
		sub := filepath.Join(dir, d, "sub", "deeper")
		os.MkdirAll(sub, 0o755)
		for _, f := range []string{filepath.Join(sub, "x"), filepath.Join(dir, d, "sub", d)} {
			if err := os.WriteFile(f, []byte("content of "+d), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		srcs = append(srcs, filepath.Join(dir, d, "sub"))
	}
	_, err := copier.Copy(context.Background(), srcs, m.Dir, copier.Options{Recursive: true})
	r := refusal(t, err)
	if !slices.Equal(reasons(r), []preflight.Reason{preflight.Collision}) || !strings.Contains(r.Error(), filepath.Join("d2", "sub", "deeper", "x")) {
		t.Errorf("want one collision of deeper/x, got %v", r)
	}
	if n := names(t, m.Dir); slices.Contains(n, "sub") {
		t.Errorf("a refused job wrote %q", n)
	}
}

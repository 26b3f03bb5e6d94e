package preflight_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/preflight"
)

// mountSized mounts a fresh file system of kind and size (a sparse image).
func mountSized(t *testing.T, kind string, size int64) string {
	t.Helper()
	fsimage.Require(t, kind)
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := fsimage.Create(kind, img, size); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := fsimage.MountImage(kind, img, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return mnt
}

func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// names lists dir, sorted; hidden temporary files count too.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

func refusal(t *testing.T, err error) *preflight.Refusal {
	t.Helper()
	var r *preflight.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a pre-flight refusal, got %v", err)
	}
	if !strings.Contains(r.Error(), "nothing was written") {
		t.Errorf("the refusal does not tell the state of the destination:\n%v", r)
	}
	return r
}

func reasons(r *preflight.Refusal) []preflight.Reason {
	var rs []preflight.Reason
	for _, p := range r.Problems {
		rs = append(rs, p.Reason)
	}
	return rs
}

func TestFAT32RefusesFileOver4GiB(t *testing.T) {
	m := fsimage.ForTest(t, "vfat")
	src := filepath.Join(t.TempDir(), "big.bin")
	sparse(t, src, 5<<30)
	_, err := copier.Copy(context.Background(), []string{src}, m.Dir, copier.Options{})
	r := refusal(t, err)
	msg := r.Error()
	if !strings.Contains(msg, src) || !strings.Contains(msg, "4 GiB") {
		t.Errorf("the refusal does not name the file and the 4 GiB limit:\n%s", msg)
	}
	if !slices.Contains(reasons(r), preflight.TooLarge) {
		t.Errorf("no TooLarge problem in %v", r.Problems)
	}
	if n := names(t, m.Dir); len(n) != 0 {
		t.Errorf("the destination holds %q after a refusal", n)
	}
	// --skip-invalid cannot make it fit, but may leave it out.
	sum, err := copier.Copy(context.Background(), []string{src}, m.Dir, copier.Options{RenameInvalid: true})
	if refusal(t, err); sum.Files != 0 {
		t.Errorf("--rename-invalid copied %d files", sum.Files)
	}
	sum, err = copier.Copy(context.Background(), []string{src}, m.Dir, copier.Options{SkipInvalid: true})
	if err != nil || sum.Skipped != 1 || sum.Files != 0 {
		t.Errorf("--skip-invalid: %+v, %v; want the file skipped and no error", sum, err)
	}
	if n := names(t, m.Dir); len(n) != 0 {
		t.Errorf("the destination holds %q after skipping its only file", n)
	}
}

// Files of 4 GiB and more are fine where the size is kept in 64 bits.
func TestLargeFilePassesOnExfatAndExt4(t *testing.T) {
	src := filepath.Join(t.TempDir(), "big.bin")
	sparse(t, src, 5<<30)
	for _, kind := range []string{"exfat", "ext4"} {
		t.Run(kind, func(t *testing.T) {
			mnt := mountSized(t, kind, 6<<30)
			if _, err := preflight.Check([]string{src}, mnt, preflight.Options{}); err != nil {
				t.Errorf("a 5 GiB file onto a 6 GiB %s is refused: %v", kind, err)
			}
		})
	}
}

// tree makes the mixed tree of the issue: one good name, three invalid on
// Windows file systems, and a pair that differs only in case.
func tree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a:b.txt", "CON.txt", "trailing.", "ok.txt", "Case.txt", "case.txt"} {
		if err := os.WriteFile(filepath.Join(root, n), []byte("content of "+n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestInvalidNamesOnExfat(t *testing.T) {
	m := fsimage.ForTest(t, "exfat")
	src := tree(t)
	ctx := context.Background()

	_, err := copier.Copy(ctx, []string{src}, m.Dir, copier.Options{Recursive: true})
	r := refusal(t, err)
	for _, bad := range []string{"a:b.txt", "CON.txt", "trailing.", "case.txt"} {
		if !strings.Contains(r.Error(), filepath.Join(src, bad)) {
			t.Errorf("the refusal does not list %q:\n%v", bad, r)
		}
	}
	if len(r.Problems) != 4 {
		t.Errorf("want 4 problems, got %d:\n%v", len(r.Problems), r)
	}
	if n := names(t, m.Dir); len(n) != 0 {
		t.Fatalf("the destination holds %q after a refusal", n)
	}

	t.Run("skip", func(t *testing.T) {
		dst := filepath.Join(m.Dir, "skip")
		os.Mkdir(dst, 0o755)
		sum, err := copier.Copy(ctx, []string{src}, dst, copier.Options{Recursive: true, SkipInvalid: true})
		if err != nil {
			t.Fatal(err)
		}
		// The first of a case pair (in byte order) lands; the other is
		// left out and listed.
		if got, want := names(t, filepath.Join(dst, "tree")), []string{"Case.txt", "ok.txt"}; !slices.Equal(got, want) {
			t.Errorf("with --skip-invalid the destination holds %q, want %q", got, want)
		}
		if sum.Skipped != 4 || len(sum.Preflight.Skipped) != 4 {
			t.Errorf("skipped %d (%d listed), want 4", sum.Skipped, len(sum.Preflight.Skipped))
		}
	})

	t.Run("rename", func(t *testing.T) {
		dst := filepath.Join(m.Dir, "rename")
		os.Mkdir(dst, 0o755)
		sum, err := copier.Copy(ctx, []string{src}, dst, copier.Options{Recursive: true, RenameInvalid: true})
		if err != nil {
			t.Fatal(err)
		}
		from := map[string]string{
			"a_b.txt": "a:b.txt", "CON_.txt": "CON.txt", "trailing": "trailing.",
			"ok.txt": "ok.txt", "Case.txt": "Case.txt", "case~1.txt": "case.txt",
		}
		got := names(t, filepath.Join(dst, "tree"))
		if len(got) != len(from) {
			t.Errorf("with --rename-invalid the destination holds %q", got)
		}
		for n, orig := range from {
			b, err := os.ReadFile(filepath.Join(dst, "tree", n))
			if err != nil || string(b) != "content of "+orig {
				t.Errorf("%s: %q, %v; want the content of %s", n, b, err, orig)
			}
		}
		if len(sum.Preflight.Renamed) != 4 {
			t.Errorf("%d renames reported, want 4: %+v", len(sum.Preflight.Renamed), sum.Preflight.Renamed)
		}
	})
}

// An existing file differing only in case is a different file the copy
// would silently replace: a collision, not an overwrite.
func TestCaseCollisionWithExistingFile(t *testing.T) {
	m := fsimage.ForTest(t, "exfat")
	if err := os.WriteFile(filepath.Join(m.Dir, "README.md"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "readme.md")
	if err := os.WriteFile(src, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := copier.Copy(context.Background(), []string{src}, m.Dir, copier.Options{})
	if r := refusal(t, err); !slices.Equal(reasons(r), []preflight.Reason{preflight.Collision}) {
		t.Errorf("want one collision, got %v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(m.Dir, "README.md")); string(b) != "theirs" {
		t.Errorf("README.md holds %q after a refusal", b)
	}
	// The same name, byte for byte, is an ordinary overwrite.
	same := filepath.Join(filepath.Dir(src), "README.md")
	if err := os.Rename(src, same); err != nil {
		t.Fatal(err)
	}
	if _, err := copier.Copy(context.Background(), []string{same}, m.Dir, copier.Options{}); err != nil {
		t.Errorf("overwriting README.md: %v", err)
	}
}

func TestSameTreeOntoExt4(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	src := tree(t)
	sum, err := copier.Copy(context.Background(), []string{src}, m.Dir, copier.Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 6 {
		t.Errorf("copied %d files onto ext4, want all 6", sum.Files)
	}
}

func TestNotEnoughSpace(t *testing.T) {
	m := fsimage.ForTest(t, "exfat") // 64 MiB; fusefat does not report its free space
	src := filepath.Join(t.TempDir(), "src")
	os.Mkdir(src, 0o755)
	for _, n := range []string{"one", "two", "three"} {
		sparse(t, filepath.Join(src, n), 30<<20)
	}
	_, err := copier.Copy(context.Background(), []string{src}, m.Dir, copier.Options{Recursive: true})
	r := refusal(t, err)
	if !slices.Equal(reasons(r), []preflight.Reason{preflight.NoSpace}) {
		t.Errorf("want only NoSpace, got %v", r)
	}
	if !strings.Contains(r.Error(), "free") {
		t.Errorf("the refusal does not say what is free:\n%v", r)
	}
	if n := names(t, m.Dir); len(n) != 0 {
		t.Errorf("the destination holds %q after a refusal", n)
	}
}

// A copy onto or into itself is the copier's to refuse, per operand and in
// cp's words; the check must neither refuse the job for it nor walk a
// directory into itself.
func TestSelfCopiesLeftToCopier(t *testing.T) {
	d := filepath.Join(t.TempDir(), "d")
	os.Mkdir(d, 0o755)
	f := filepath.Join(d, "f")
	os.WriteFile(f, []byte("x"), 0o644)
	if _, err := preflight.Check([]string{d, f}, d, preflight.Options{Recursive: true}); err != nil {
		t.Fatalf("Check refused: %v", err)
	}
	sum, err := copier.Copy(context.Background(), []string{d, f}, d, copier.Options{Recursive: true})
	if err == nil || sum.Failed != 2 {
		t.Errorf("copier: %+v, %v; want both operands failed", sum, err)
	}
	if n := names(t, d); !slices.Equal(n, []string{"f"}) {
		t.Errorf("the destination holds %q", n)
	}
}

// A sparse source takes only its data on a file system that keeps holes,
// so its size alone must not refuse it; written in full (--sparse=never)
// or onto exFAT it takes its whole size.
func TestSparseSourceFitsWhereHolesKept(t *testing.T) {
	src := filepath.Join(t.TempDir(), "disk.img")
	sparse(t, src, 1<<30)
	f, err := os.OpenFile(src, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 1<<20), 512<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, kind := range []string{"ext4", "xfs", "btrfs"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind) // far smaller than 1 GiB
			dst := filepath.Join(m.Dir, "disk.img")
			_, err := copier.Copy(context.Background(), []string{src}, dst, copier.Options{Sparse: copier.Never})
			if r := refusal(t, err); !slices.Equal(reasons(r), []preflight.Reason{preflight.NoSpace}) {
				t.Errorf("--sparse=never: want only NoSpace, got %v", r)
			}
			sum, err := copier.Copy(context.Background(), []string{src}, dst, copier.Options{})
			if err != nil || sum.Files != 1 {
				t.Fatalf("copy of a 1 GiB file holding 1 MiB onto %s: %+v, %v", kind, sum, err)
			}
			if fi, err := os.Stat(dst); err != nil || fi.Size() != 1<<30 {
				t.Errorf("copy: %v, %v; want 1 GiB", fi, err)
			}
		})
	}
}

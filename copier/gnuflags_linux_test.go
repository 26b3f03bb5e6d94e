package copier

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
)

// TestArchiveKeepsXattrsAndLinkAttrs copies with -a onto ext4: the user.*
// xattrs of files and directories come along (and security.* as root), and a symlink keeps its own
// times and (as root) owner, not its target's. -r keeps no xattrs, as GNU
// cp -r keeps none.
func TestArchiveKeepsXattrsAndLinkAttrs(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	src := filepath.Join(m.Dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(src, "f"), 1000, 1)
	for _, p := range []string{"f", "d"} {
		if err := unix.Setxattr(filepath.Join(src, p), "user.sure.test", []byte("v-"+p), 0); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(src, "l")
	if err := os.Symlink("f", link); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	ts := []unix.Timespec{unix.NsecToTimespec(when.UnixNano()), unix.NsecToTimespec(when.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, link, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	if root {
		if err := os.Lchown(link, 1234, 1234); err != nil {
			t.Fatal(err)
		}
		// Only root may set security.* (the copy too).
		if err := unix.Setxattr(filepath.Join(src, "f"), "security.sure", []byte("s"), 0); err != nil {
			t.Fatal(err)
		}
	}

	dst := filepath.Join(m.Dir, "a")
	if _, err := Copy(context.Background(), []string{src}, dst, Options{Archive: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"f", "d"} {
		buf := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(dst, p), "user.sure.test", buf)
		if err != nil || string(buf[:n]) != "v-"+p {
			t.Errorf("%s: user.sure.test %q, %v; want %q", p, buf[:max(n, 0)], err, "v-"+p)
		}
	}
	if root {
		buf := make([]byte, 8)
		if n, err := unix.Getxattr(filepath.Join(dst, "f"), "security.sure", buf); err != nil || string(buf[:n]) != "s" {
			t.Errorf("f: security.sure %q, %v; want \"s\"", buf[:max(n, 0)], err)
		}
	}
	fi, err := os.Lstat(filepath.Join(dst, "l"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(when) {
		t.Errorf("symlink mtime %v, want %v", fi.ModTime(), when)
	}
	if st := fi.Sys().(*syscall.Stat_t); root && st.Uid != 1234 {
		t.Errorf("symlink owner %d, want 1234", st.Uid)
	}

	plain := filepath.Join(m.Dir, "r")
	if _, err := Copy(context.Background(), []string{src}, plain, Options{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Getxattr(filepath.Join(plain, "f"), "user.sure.test", make([]byte, 64)); err == nil {
		t.Errorf("cp -r copied an xattr")
	}
}

// TestSparseChoices: --sparse=always leaves runs of zeros of a dense
// source as holes, --sparse=never writes the holes of a sparse one; the
// content is the same either way.
func TestSparseChoices(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	dense := filepath.Join(m.Dir, "dense")
	data := make([]byte, 8<<20)
	data[len(data)-1] = 1
	if err := os.WriteFile(dense, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(m.Dir, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{1}, 8<<20-1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, c := range []struct {
		src, dst string
		mode     Tristate
		holes    bool
	}{
		{dense, "always", Always, true},
		{dense, "auto", Auto, false},
		{sparse, "never", Never, false},
		{sparse, "auto2", Auto, true},
	} {
		dst := filepath.Join(m.Dir, c.dst)
		if _, err := Copy(context.Background(), []string{c.src}, dst, Options{Sparse: c.mode}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || string(got) != string(data) {
			t.Fatalf("%s: content differs (%v)", c.dst, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(dst, &st); err != nil {
			t.Fatal(err)
		}
		if holes := st.Blocks*512 < st.Size/2; holes != c.holes {
			t.Errorf("--sparse=%s from %s: %d blocks of 512 for %d bytes, holes %v, want %v", c.dst, filepath.Base(c.src), st.Blocks, st.Size, holes, c.holes)
		}
	}
}

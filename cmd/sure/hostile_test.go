//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/durable"
)

// Commands of the scripts about hostile and broken input, which plain
// shell commands cannot make: names that are not UTF-8, sockets, device
// nodes, hard links and trees deeper than PATH_MAX.

// unquote reads a path argument written with Go's escapes ('caf\xe9'),
// so that scripts can name files whose bytes are not UTF-8.
func unquote(ts *testscript.TestScript, s string) string {
	u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
	if err != nil {
		ts.Fatalf("bad escaped path %q: %v", s, err)
	}
	return ts.MkAbs(u)
}

// mkraw PATH [CONTENT]: a file whose path is written with Go escapes
// (\xNN, \uNNNN), holding CONTENT and a newline (default "raw").
func cmdMkraw(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkraw")
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: mkraw PATH [CONTENT]")
	}
	content := "raw"
	if len(args) == 2 {
		content = args[1]
	}
	p := unquote(ts, args[0])
	ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
	ts.Check(os.WriteFile(p, []byte(content+"\n"), 0o644))
}

// rawexists PATH: PATH (Go escapes) exists; with !, it does not.
func cmdRawexists(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: rawexists PATH")
	}
	_, err := os.Lstat(unquote(ts, args[0]))
	if (err == nil) == neg {
		ts.Fatalf("%s: %v", args[0], err)
	}
}

// mksock PATH: a Unix domain socket left in the file system (its server is
// gone, as after a crashed daemon).
func cmdMksock(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mksock")
	if len(args) != 1 {
		ts.Fatalf("usage: mksock PATH")
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	ts.Check(err)
	defer unix.Close(fd)
	ts.Check(unix.Bind(fd, &unix.SockaddrUnix{Name: ts.MkAbs(args[0])}))
}

// mknull PATH: a character device like /dev/null (1, 3); needs root.
func cmdMknull(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mknull")
	if len(args) != 1 {
		ts.Fatalf("usage: mknull PATH")
	}
	ts.Check(unix.Mknod(ts.MkAbs(args[0]), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
}

// hardlinked A B: A and B are one file (same device and inode); with !,
// two different files.
func cmdHardlinked(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: hardlinked A B")
	}
	var a, b unix.Stat_t
	ts.Check(unix.Lstat(ts.MkAbs(args[0]), &a))
	ts.Check(unix.Lstat(ts.MkAbs(args[1]), &b))
	same := a.Dev == b.Dev && a.Ino == b.Ino
	if same == neg {
		ts.Fatalf("%s (inode %d, %d links) and %s (inode %d, %d links): same file %v, want %v",
			args[0], a.Ino, a.Nlink, args[1], b.Ino, b.Nlink, same, !neg)
	}
}

// nlink PATH N: PATH has N names.
func cmdNlink(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "nlink")
	if len(args) != 2 {
		ts.Fatalf("usage: nlink PATH N")
	}
	var st unix.Stat_t
	ts.Check(unix.Lstat(ts.MkAbs(args[0]), &st))
	if strconv.FormatUint(uint64(st.Nlink), 10) != args[1] {
		ts.Fatalf("%s has %d links, want %s", args[0], st.Nlink, args[1])
	}
}

// deepName is the name of level i of a deep tree: 200 bytes, so that 21
// levels pass the 4096 bytes of PATH_MAX while each name is valid.
func deepName(i int) string {
	return fmt.Sprintf("%03d", i) + strings.Repeat("d", 197)
}

// mkdeep DIR LEVELS: DIR/L0/L1/... LEVELS directories deep, each holding a
// file f with its level number. Made relative to open directories, since
// the paths outgrow PATH_MAX.
func cmdMkdeep(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkdeep")
	if len(args) != 2 {
		ts.Fatalf("usage: mkdeep DIR LEVELS")
	}
	levels, err := strconv.Atoi(args[1])
	ts.Check(err)
	root := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(root, 0o755))
	fd, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	ts.Check(err)
	for i := range levels {
		name := deepName(i)
		ts.Check(unix.Mkdirat(fd, name, 0o755))
		next, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		ts.Check(err)
		unix.Close(fd)
		fd = next
		f, err := unix.Openat(fd, "f", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
		ts.Check(err)
		_, err = unix.Write(f, []byte(strconv.Itoa(i)+"\n"))
		ts.Check(err)
		unix.Close(f)
	}
	unix.Close(fd)
}

// deepcheck DIR LEVELS: walks a copy of mkdeep's tree down from DIR,
// relative to open directories: every f found is complete, no level holds
// a temporary file or anything else. Prints "copied N of LEVELS levels",
// N counting the levels whose f is there.
func cmdDeepcheck(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "deepcheck")
	if len(args) != 2 {
		ts.Fatalf("usage: deepcheck DIR LEVELS")
	}
	levels, err := strconv.Atoi(args[1])
	ts.Check(err)
	fd, err := unix.Open(ts.MkAbs(args[0]), unix.O_DIRECTORY|unix.O_RDONLY, 0)
	ts.Check(err)
	defer func() { unix.Close(fd) }()
	copied := 0
	for n := 0; n < levels; n++ {
		next, err := unix.Openat(fd, deepName(n), unix.O_DIRECTORY|unix.O_RDONLY, 0)
		if err == unix.ENOENT {
			break
		}
		ts.Check(err)
		unix.Close(fd)
		fd = next
		dup, err := unix.Dup(fd)
		ts.Check(err)
		f := os.NewFile(uintptr(dup), "level")
		names, err := f.Readdirnames(-1)
		f.Close()
		ts.Check(err)
		for _, name := range names {
			switch {
			case durable.IsTemp(name):
				ts.Fatalf("level %d: temporary file %s left", n, name)
			case name == "f":
				buf := make([]byte, 16)
				ff, err := unix.Openat(fd, "f", unix.O_RDONLY, 0)
				ts.Check(err)
				k, err := unix.Read(ff, buf)
				unix.Close(ff)
				ts.Check(err)
				if got := string(buf[:k]); got != strconv.Itoa(n)+"\n" {
					ts.Fatalf("level %d: f holds %q", n, got)
				}
				copied++
			case name != deepName(n+1):
				ts.Fatalf("level %d: unexpected entry %q", n, name)
			}
		}
	}
	fmt.Fprintf(ts.Stdout(), "copied %d of %d levels\n", copied, levels)
}

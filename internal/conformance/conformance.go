// Package conformance is one suite of the behaviours the durable library
// and the commit protocol promise on any file system: tests hand it a
// directory on the file system under test (a loop device, the host's
// temporary directory, a stick in the VM lab) and what fsinfo says that
// file system can hold, and every case runs against the real kernel or
// server there.
package conformance

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sure-tools/sure/fsinfo"
)

// DirEnv names a directory to run the suite in (see TestDir): how the
// VM lab hands a test binary built for the guest the stick it mounted.
const DirEnv = "SURE_CONFORMANCE_DIR"

// CapsAt is what fsinfo says of the file system holding dir.
func CapsAt(t testing.TB, dir string) fsinfo.Caps {
	t.Helper()
	m, err := fsinfo.ForPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fsinfo.CapsOf(m)
}

// Run runs every case in its own new subdirectory of dir, an existing
// directory on the file system under test whose capabilities are caps.
func Run(t *testing.T, dir string, caps fsinfo.Caps) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := filepath.Join(dir, c.name)
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			c.run(t, sub, caps)
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, dir string, caps fsinfo.Caps)
}{
	{"WriteFileCreates", testWriteFileCreates},
	{"WriteFileReplaces", testWriteFileReplaces},
	{"EmptyFile", testEmptyFile},
	{"LargeFile", testLargeFile},
	{"NewDirectory", testNewDirectory},
	{"CreateCommit", testCreateCommit},
	{"CreateNoReplace", testCreateNoReplace},
	{"Cleanup", testCleanup},
	{"CommitOntoDirectory", testCommitOntoDirectory},
	{"Rename", testRename},
	{"RefusedNames", testRefusedNames},
	{"CaseFolding", testCaseFolding},
	{"ErrorsNamePaths", testErrorsNamePaths},
	{"Sync", testSync},
	{"ProtocolBatch", testProtocolBatch},
	{"ProtocolTimes", testProtocolTimes},
	{"ProtocolRefusedName", testProtocolRefusedName},
	{"ProtocolCaseFolding", testProtocolCaseFolding},
	{"ProtocolLargeFile", testProtocolLargeFile},
	{"ProtocolAbort", testProtocolAbort},
}

// keepsPermBits reports whether files there keep Unix permission bits:
// FAT, exFAT and NTFS as Linux mounts them take theirs from the mount
// options, FUSE servers make theirs up, and on Windows Go reports only
// the read-only attribute as a mode.
func keepsPermBits(caps fsinfo.Caps) bool {
	return !caps.FUSE && !caps.WindowsNames && runtime.GOOS != "windows"
}

// names lists dir, failing the test on error.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		// libfuse's name for a file unlinked or renamed over while still
		// open, until its last close reaches the server: not ours.
		if !strings.HasPrefix(e.Name(), ".fuse_hidden") {
			out = append(out, e.Name())
		}
	}
	return out
}

// WantNames fails unless dir holds exactly want: in particular no
// temporary file left behind.
func WantNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := names(t, dir)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

// WantContent fails unless the file name holds want.
func WantContent(t *testing.T, name, want string) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil {
		t.Errorf("reading %s: %v", name, err)
	} else if string(got) != want {
		t.Errorf("%s holds %q, want %q", name, got, want)
	}
}

func wantBytes(t *testing.T, name string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: read %d bytes (%v), want the %d written", name, len(got), err, len(want))
	}
}

func wantPerm(t *testing.T, name string, perm fs.FileMode, caps fsinfo.Caps) {
	t.Helper()
	if !keepsPermBits(caps) {
		return
	}
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := perm &^ umask(); st.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), want)
	}
}

// Write makes the file name hold content, plainly, failing t if it
// cannot.
func Write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pattern is n bytes that differ from one 16-byte block to the next, so
// that a block written at the wrong offset shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i>>4) ^ byte(i)
	}
	return b
}

// namesPath reports whether err is a path error naming path, or a link
// error whose new name is path: a message the user can act on.
func namesPath(err error, path string) bool {
	var pe *os.PathError
	var le *os.LinkError
	return errors.As(err, &pe) && pe.Path == path || errors.As(err, &le) && le.New == path
}

// refusedNames are names some file system may refuse: longer than any
// allows, and characters Windows' rules forbid where they hold. A file
// system that takes one must then keep it.
func refusedNames(caps fsinfo.Caps) []string {
	out := []string{strings.Repeat("n", 300)}
	if caps.WindowsNames {
		out = append(out, "what?", "a:b", `x"y`, "star*")
	}
	return out
}

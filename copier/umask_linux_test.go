//go:build linux

package copier

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forbidUmask makes the kernel kill the process at its next umask(2), in
// every thread: reading the umask means setting it, and a file another
// goroutine creates in between gets the wrong mode.
func forbidUmask(t *testing.T) {
	arch := map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]
	if arch == 0 {
		t.Skipf("no seccomp filter for umask on %s here", runtime.GOARCH)
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: arch},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_UMASK},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_KILL_PROCESS},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_NO_NEW_PRIVS): %v", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog))); e != 0 {
		t.Fatalf("seccomp: %v", e)
	}
}

// TestCopyLeavesUmask: a copy never calls umask(2), and still gives new
// files and directories the source's mode less the umask, as cp does. The
// copy runs in a child process that the kernel kills at any umask call.
func TestCopyLeavesUmask(t *testing.T) {
	if os.Getenv("SURE_TEST_UMASK_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCopyLeavesUmask$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "SURE_TEST_UMASK_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the copy in a process that may not call umask: %v\n%s", err, out)
		}
		return
	}
	unix.Umask(0o027) // before the filter: the last umask call allowed
	forbidUmask(t)
	src := filepath.Join(t.TempDir(), "tree")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o777); err != nil {
		t.Fatal(err)
	}
	for p, m := range map[string]fs.FileMode{src: 0o777, filepath.Join(src, "sub"): 0o775} {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	for name, m := range map[string]fs.FileMode{"a": 0o666, "sub/b": 0o755, "sub/ro": 0o444} {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	// A directory without the owner's bits is made with them, to be
	// filled, and given its own mode at the end.
	ro := filepath.Join(src, "rodir")
	if err := os.Mkdir(ro, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "c"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if _, err := Copy(context.Background(), []string{src}, dst, Options{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		".": fs.ModeDir | 0o750, "sub": fs.ModeDir | 0o750,
		"a": 0o640, "sub/b": 0o750, "sub/ro": 0o440,
		"rodir": fs.ModeDir | 0o550, "rodir/c": 0o640,
	}
	for name, m := range want {
		fi, err := os.Lstat(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != m {
			t.Errorf("%s: mode %v, want %v (source less umask 027)", name, fi.Mode(), m)
		}
	}
}

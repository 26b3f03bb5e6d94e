//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// stagesIn lists the staged trees (.sure-tree-*) in dir.
func stagesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".sure-tree-") {
			s = append(s, e.Name())
		}
	}
	return s
}

func sameTrees(t *testing.T, a, b string) bool {
	t.Helper()
	ta, err := tree(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := tree(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ta) != len(tb) {
		return false
	}
	for k, v := range ta {
		if tb[k] != v {
			return false
		}
	}
	return true
}

// TestAtomicCLI: sure cp -r --atomic replaces a tree on ext4 and says so;
// onto exFAT over FUSE it is refused in one line naming the file system,
// exit 1, nothing written.
func TestAtomicCLI(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	src := makeSource(t, 20)
	target := filepath.Join(m.Dir, "tree")
	old := makeSource(t, 5)
	if out, err := exec.Command("cp", "-r", old, target).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cmd := exec.Command(sureBinary(t), "cp", "-rT", "--atomic", src, target)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sure cp --atomic: %v\n%s", err, out)
	}
	if !sameTrees(t, src, target) {
		t.Errorf("%s is not the source's tree", target)
	}
	if !strings.Contains(string(out), "the tree was put in place at once as '"+target+"'") {
		t.Errorf("summary does not say the tree was put in place: %s", out)
	}
	if s := stagesIn(t, m.Dir); len(s) > 0 {
		t.Errorf("staged trees left: %v", s)
	}

	fat := fsimage.ForTest(t, "exfat")
	cmd = exec.Command(sureBinary(t), "cp", "-r", "--atomic", src, filepath.Join(fat.Dir, "tree"))
	out, err = cmd.CombinedOutput()
	line := strings.TrimSpace(string(out))
	if cmd.ProcessState.ExitCode() != exitFailed || strings.Count(line, "\n") != 0 ||
		!strings.HasPrefix(line, "sure: cp: cannot copy to '") || !strings.Contains(line, "exfat over FUSE") {
		t.Errorf("onto exFAT over FUSE: exit %d (%v), output %q: want exit %d and one line naming it", cmd.ProcessState.ExitCode(), err, out, exitFailed)
	}
	t.Log(line)
	if entries, _ := os.ReadDir(fat.Dir); len(entries) != 0 {
		t.Errorf("the refused copy wrote %d entries", len(entries))
	}
}

// TestAtomicSIGTERM stops an atomic copy over an old tree with SIGTERM
// while it copies (at its fifth file, slowed by the stick): sure exits
// 130, the old tree is whole, the staged tree is gone, and the summary
// says nothing was put in place. A rerun then publishes the new tree.
func TestAtomicSIGTERM(t *testing.T) {
	stick := vstick.New(t, "ext4", 128<<20)
	src := makeSource(t, 200)
	target := filepath.Join(stick.Dir, "tree")
	old := makeSource(t, 7)
	if out, err := exec.Command("cp", "-r", old, target).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	stick.Faults(t, vdisk.Faults{BandwidthMBps: 5})
	cmd := exec.Command(sureBinary(t), "cp", "-rT", "--atomic", "--json", "--workers", "1", "--batch-files", "4", src, target)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copying := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var ev struct{ Event, Dst string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "copying" {
			continue
		}
		if !strings.HasPrefix(ev.Dst, target+"/") {
			t.Errorf("copying event names %s, not a path of %s", ev.Dst, target)
		}
		if copying++; copying == 5 {
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	cmd.Wait()
	stick.Faults(t, vdisk.Faults{})
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d, want %d (files started: %d); stderr:\n%s", code, exitInterrupted, copying, stderr.String())
	}
	t.Logf("stopped after %d files started:\n%s", copying, stderr.String())
	if !sameTrees(t, old, target) {
		t.Error("the old tree changed")
	}
	if s := stagesIn(t, stick.Dir); len(s) > 0 {
		t.Errorf("staged trees left after SIGTERM: %v", s)
	}
	if !strings.Contains(stderr.String(), "nothing was put in place: '"+target+"' is as it was") {
		t.Errorf("the summary does not say nothing was put in place:\n%s", stderr.String())
	}
	if out, err := exec.Command(sureBinary(t), "cp", "-rT", "--atomic", src, target).CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	if !sameTrees(t, src, target) {
		t.Error("after the rerun the target is not the new tree")
	}
}

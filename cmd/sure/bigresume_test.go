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

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/vstick"
)

// TestResumeBigFileCLI stops sure cp of a 160 MiB file with SIGINT once
// its bytes on the device show it is past its first step (64 MiB): sure
// exits 130 and says it kept the file for the rerun, which writes only
// what follows the step.
func TestResumeBigFileCLI(t *testing.T) {
	stick := vstick.New(t, "ext4", 512<<20)
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := writeRandom(src, 160<<20); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(stick.Dir, "big.bin")
	cmd := exec.Command(sureBinary(t), "cp", "--json", src, dst)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	signalled := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var ev struct {
			Event string
			Total int64 `json:"total_on_device"`
		}
		// Two write-behind windows at most are in flight behind the
		// writer, which takes each step before it writes on.
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "on_device" && ev.Total >= copier.DefaultResumeEvery+32<<20 && !signalled {
			cmd.Process.Signal(syscall.SIGINT)
			signalled = true
		}
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "1 partly copied file kept under its temporary name") {
		t.Errorf("the summary does not say the file was kept:\n%s", stderr.String())
	}
	st, err := stick.Disk.Stats()
	if err != nil {
		t.Fatal(err)
	}
	rerun := exec.Command(sureBinary(t), "cp", src, dst)
	if b, err := rerun.CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, b)
	}
	after, err := stick.Disk.Stats()
	if err != nil {
		t.Fatal(err)
	}
	written := after.BytesReceived - st.BytesReceived
	t.Logf("stopped:\n%s\nthe rerun sent the stick %d MiB", stderr.String(), written>>20)
	if written > 160<<20-copier.DefaultResumeEvery+16<<20 {
		t.Errorf("the rerun sent %d bytes: more than what follows the first step", written)
	}
	a, _ := entry(src)
	if b, err := entry(dst); err != nil || a != b {
		t.Errorf("%s is %s (%v), its source %s", dst, b, err, a)
	}
	if _, err := os.Stat(filepath.Join(stick.Dir, copier.JournalName)); err == nil {
		t.Error("the journal is left after the rerun completed")
	}
}

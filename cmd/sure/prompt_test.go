//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// lockedBuffer collects a command's output while the test reads it.
type lockedBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	seen chan struct{}
	want string
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if l.seen != nil && strings.Contains(l.b.String(), l.want) {
		close(l.seen)
		l.seen = nil
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPromptOverBar: -i asks while the bar is drawn on the same
// terminal. The question must stand on a line of its own, untouched
// while it waits (the copy of an earlier file goes on meanwhile), and
// the bar comes back after the answer.
func TestPromptOverBar(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) from util-linux is not installed")
	}
	// 16 MiB at 16 MB/s: the bar is redrawn several times while the
	// question waits for half of it to reach the stick.
	s := vstick.New(t, "ext4", 256<<20)
	if err := s.Disk.SetFaults(vdisk.Faults{BandwidthMBps: 16}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	big, other := filepath.Join(src, "big"), filepath.Join(src, "other")
	if err := writeRandom(big, 16<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(s.Dir, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "other"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	question := fmt.Sprintf("sure: cp: overwrite '%s'? ", filepath.Join(dst, "other"))
	line := fmt.Sprintf("stty cols 100 rows 30; exec %s cp -i %s %s %s", sureBinary(t), big, other, dst)
	cmd := exec.Command("script", "-q", "-e", "-c", line, "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm", "NO_COLOR=1")
	out := &lockedBuffer{seen: make(chan struct{}), want: question}
	seen := out.seen
	cmd.Stdout, cmd.Stderr = out, out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-seen
	for {
		st, err := s.Disk.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.BytesReceived >= 8<<20 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	io.WriteString(in, "y\n")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	got := out.String()
	i := strings.Index(got, question)
	before, after := got[:i], got[i+len(question):]
	// Up to the answer's echo, nothing may be drawn over the question.
	if !strings.HasPrefix(after, "y") {
		t.Errorf("the question was drawn over before the answer: %q", after[:min(len(after), 200)])
	}
	csi := regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	if b := csi.ReplaceAllString(before, ""); b != "" && !strings.HasSuffix(b, "\n") && !strings.HasSuffix(b, "\r") {
		t.Errorf("the question does not start a line: %q", b[max(0, len(b)-120):])
	}
	if !strings.Contains(after, "on device") {
		t.Errorf("the bar did not come back after the answer: %q", after)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "other")); string(b) != "new" {
		t.Errorf("dst/other holds %q after yes, want new", b)
	}
}

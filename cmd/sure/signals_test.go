package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopRequests plays sequences of signals, on a clock of the test's,
// against the rules: the first cancels; repeats within duplicateWindow are
// the same request; later ones kill at once outside a job, and during a
// job only when they are a second Ctrl-C at a terminal.
func TestStopRequests(t *testing.T) {
	type step struct {
		at   time.Duration // after the first signal
		sig  os.Signal
		kill bool
	}
	term, intr := syscall.SIGTERM, os.Interrupt
	for _, tc := range []struct {
		name     string
		job      bool
		terminal bool
		steps    []step
		ctrlC    bool // the job's notice offers a second Ctrl-C
	}{
		{"no job", false, false, []step{{0, term, false}, {0, term, false}, {duplicateWindow, term, true}}, false},
		{"no job, Ctrl-C", false, true, []step{{0, intr, false}, {duplicateWindow - 1, intr, false}, {duplicateWindow, intr, true}}, false},
		{"job, timeout's two and a late one", true, false, []step{{0, term, false}, {0, term, false}, {time.Hour, term, false}}, false},
		{"job, SIGINT from a script", true, false, []step{{0, intr, false}, {time.Hour, intr, false}}, false},
		{"job, SIGTERM at a terminal", true, true, []step{{0, term, false}, {time.Hour, term, false}}, false},
		{"job, double Ctrl-C at once", true, true, []step{{0, intr, false}, {duplicateWindow - 1, intr, false}}, true},
		{"job, second Ctrl-C", true, true, []step{{0, intr, false}, {duplicateWindow, intr, true}}, true},
		{"job, SIGTERM then Ctrl-C", true, true, []step{{0, term, false}, {time.Second, intr, true}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var now time.Time
			cancelled, died := 0, 0
			var stderr strings.Builder
			s := &stopRequests{
				cancel: func() { cancelled++ }, terminal: tc.terminal, stderr: &stderr,
				now: func() time.Time { return now }, die: func(os.Signal) { died++ },
			}
			notices := 0
			var offered bool
			if tc.job {
				s.job = &heldJob{stopping: func(c bool) { notices++; offered = c }, killed: "killed"}
			}
			start := time.Unix(1e9, 0)
			for i, st := range tc.steps {
				now = start.Add(st.at)
				before := died
				s.receive(st.sig)
				if got := died > before; got != st.kill {
					t.Errorf("signal %d (%v at +%v): kill %v, want %v", i+1, st.sig, st.at, got, st.kill)
				}
			}
			if cancelled != 1 {
				t.Errorf("context cancelled %d times, want once", cancelled)
			}
			if tc.job && (notices != 1 || offered != tc.ctrlC) {
				t.Errorf("%d notices, offering a second Ctrl-C %v; want 1, %v", notices, offered, tc.ctrlC)
			}
			if want := tc.job && died > 0; strings.Contains(stderr.String(), "killed") != want {
				t.Errorf("stderr %q; want the job's last words: %v", stderr.String(), want)
			}
		})
	}
}

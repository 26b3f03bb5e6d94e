package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// duplicateWindow is how long after the first SIGINT or SIGTERM further
// ones count as the same request: `timeout` signals sure and then its
// process group, a terminal or a script may reach it twice over.
const duplicateWindow = 500 * time.Millisecond

// stopRequests turns SIGINT and SIGTERM into one request to stop: the
// first cancels the command's context, and the command winds down. While
// a job that must clean up is running (hold), later signals are ignored,
// so that it can remove its temporary files and print its summary; only
// a second Ctrl-C from a person at a terminal stops it at once. Outside
// such a job a later signal kills at once, as if sure did not catch it.
type stopRequests struct {
	cancel   context.CancelFunc
	terminal bool      // SIGINT is the Ctrl-C of a person at a terminal
	stderr   io.Writer // for the last words of a kill at once
	now      func() time.Time
	die      func(os.Signal)

	mu    sync.Mutex
	first time.Time // of the first request; zero before it
	job   *heldJob  // nil until a job holds the signals
}

// heldJob is what a job that cleans up after a stop says about itself.
type heldJob struct {
	// stopping tells, at the first request, that the job winds down;
	// ctrlC says a second Ctrl-C would stop it at once.
	stopping func(ctrlC bool)
	// killed is printed when a second Ctrl-C stops it at once.
	killed string
}

// watchSignals starts delivering SIGINT and SIGTERM to a stopRequests
// that cancels ctx's child, which it returns; stop ends the delivery.
func watchSignals(ctx context.Context, stderr io.Writer, terminal bool) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	s := &stopRequests{cancel: cancel, terminal: terminal, stderr: stderr, now: time.Now, die: dieOf}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sig := range sigs {
			s.receive(sig)
		}
	}()
	return context.WithValue(ctx, stopRequestsKey{}, s), func() {
		signal.Stop(sigs)
		close(sigs)
		<-done
		cancel()
	}
}

type stopRequestsKey struct{}

// holdSignals tells the stop requests of ctx (if any) that a job that
// cleans up after a stop runs from now until the process ends: its
// summary is what tells what is durable, so later signals must not kill
// it before it is printed, and nothing is left to do after.
func holdSignals(ctx context.Context, job *heldJob) {
	s, _ := ctx.Value(stopRequestsKey{}).(*stopRequests)
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.job = job
}

// receive acts on one signal.
func (s *stopRequests) receive(sig os.Signal) {
	job, first, kill := s.decide(sig)
	switch {
	case first && job != nil:
		job.stopping(s.ctrlC(sig))
	case kill:
		if job != nil && job.killed != "" {
			fmt.Fprintln(s.stderr, job.killed)
		}
		s.die(sig)
	}
}

// decide says what sig is: the first request, which cancels the context,
// or one that kills at once; neither is a duplicate or a signal a held
// job ignores. job is the held job, if any.
func (s *stopRequests) decide(sig os.Signal) (job *heldJob, first, kill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch {
	case s.first.IsZero():
		s.first = now
		s.cancel()
		return s.job, true, false
	case now.Sub(s.first) < duplicateWindow:
		return s.job, false, false
	}
	return s.job, false, s.job == nil || s.ctrlC(sig)
}

func (s *stopRequests) ctrlC(sig os.Signal) bool { return sig == os.Interrupt && s.terminal }

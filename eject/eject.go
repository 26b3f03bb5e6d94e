// Package eject makes a drive safe to pull: it flushes and unmounts every
// file system on it (never lazily: when one is busy it names the
// processes that hold it and stops), flushes the block device, asks a SCSI
// drive to write its cache and stop, and cuts the power of its USB port;
// a loop device is detached instead. Without root the same is done
// through UDisks2 over D-Bus.
//
// Every step is reported as it ends. Eject stops at the first step that
// fails and returns its error: the drive is safe to remove only when Eject
// returns nil.
package eject

import (
	"errors"
	"fmt"
	"strings"
)

// NeedsRoot says whether ejecting directly needs root here; without it
// Linux goes through UDisks2.
const NeedsRoot = needsRoot

// ErrUnsupported is returned where this system has no eject yet.
var ErrUnsupported = errors.New("eject is not supported on this system")

// Outcome is how a step ended.
type Outcome int

const (
	Done    Outcome = iota // the step did what it names
	Skipped                // it does not apply here; Detail says why
	Failed                 // Err says what went wrong; nothing further was done
)

// Step is one step of an eject, as it ended.
type Step struct {
	What    string // "unmount /media/stick"
	Outcome Outcome
	Detail  string // for Done: how; for Skipped: why
	Err     error  // for Failed
}

func (s Step) String() string {
	switch s.Outcome {
	case Skipped:
		return s.What + ": skipped: " + s.Detail
	case Failed:
		return s.What + ": failed: " + s.Err.Error()
	}
	if s.Detail == "" {
		return s.What + ": done"
	}
	return s.What + ": " + s.Detail
}

// Options says how to eject.
type Options struct {
	// UDisks goes through UDisks2 over D-Bus instead of doing each step
	// itself, as it must without root.
	UDisks bool
	// Report, if set, is called as each step ends.
	Report func(Step)
}

// Holder is a process that keeps a file system or device busy, as fuser
// finds it.
type Holder struct {
	PID     int
	Command string   // its name (comm)
	Uses    []string // "cwd", "root", "exe", or the open or mapped file
}

// String reads "PID 1234 (bash, cwd)".
func (h Holder) String() string {
	uses := h.Uses
	more := ""
	if len(uses) > 3 {
		more = fmt.Sprintf(", and %d more", len(uses)-3)
		uses = uses[:3]
	}
	return fmt.Sprintf("PID %d (%s, %s%s)", h.PID, h.Command, strings.Join(uses, ", "), more)
}

// BusyError is a file system or device that cannot be let go because
// something uses it.
type BusyError struct {
	Path    string   // the mount point or device
	Holders []Holder // processes using it
	Other   []string // other users: mounts under it, loop devices or swap on it
	Hidden  int      // processes this user may not inspect
}

// maxHolders is how many holders a BusyError names; the rest are counted,
// so that a file system many processes use does not print a page of PIDs.
const maxHolders = 10

func (e *BusyError) Error() string {
	who := holderNames(e.Holders)
	who = append(who, e.Other...)
	msg := "cannot unmount " + e.Path + ": "
	if strings.HasPrefix(e.Path, "/dev/") {
		msg = "cannot release " + e.Path + ": "
	}
	if len(who) > 0 {
		msg += "in use by " + strings.Join(who, ", ")
	} else {
		msg += "in use, but no process visible here holds it (a mount in another mount namespace, or a kernel user)"
	}
	return msg + hiddenNote(e.Hidden)
}

// holderNames names the first maxHolders holders and counts the rest.
func holderNames(hs []Holder) []string {
	var who []string
	for i, h := range hs {
		if i == maxHolders {
			return append(who, fmt.Sprintf("and %d more processes", len(hs)-maxHolders))
		}
		who = append(who, h.String())
	}
	return who
}

// hiddenNote says how many processes could not be looked at, so that a
// list of holders is never taken for the whole truth.
func hiddenNote(n int) string {
	switch {
	case n == 0:
		return ""
	case n == 1:
		return "; 1 process could not be inspected"
	}
	return fmt.Sprintf("; %d processes could not be inspected", n)
}

// reporter collects the steps and passes them on.
type reporter struct {
	report func(Step)
}

func (r reporter) done(what, detail string) {
	r.emit(Step{What: what, Outcome: Done, Detail: detail})
}

func (r reporter) skip(what, why string) {
	r.emit(Step{What: what, Outcome: Skipped, Detail: why})
}

// fail reports the failed step and returns its error for Eject to return.
func (r reporter) fail(what string, err error) error {
	r.emit(Step{What: what, Outcome: Failed, Err: err})
	return err
}

func (r reporter) emit(s Step) {
	if r.report != nil {
		r.report(s)
	}
}

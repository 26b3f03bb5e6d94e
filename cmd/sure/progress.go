package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
)

// ui is the front end of a copy or a move: it hears the copier's events
// and tells people (a bar on a terminal, occasional lines otherwise, -v
// lines on stdout) and scripts (--json on stdout). Every figure it shows
// names its level: bytes "on device" count L1 (writeback finished), files
// "durable" count L2.
type ui struct {
	mu      sync.Mutex
	verb    string
	out     io.Writer
	err     io.Writer
	rep     *cpReporter // prints -v lines and failures, through the view
	json    *jsonStream // nil without --json
	view    progressView
	started bool
	stopped bool // the job ended; its summary follows
	srcs    []string
	dest    string

	st       progressState
	fileOn   map[string]int64 // bytes on device per file being copied
	verified int
	mismatch int
}

// progressState is what a progress view draws.
type progressState struct {
	planned      bool
	files        int   // planned regular files
	bytes        int64 // planned bytes
	onDevice     int64 // L1
	durableFiles int   // L2
	durableBytes int64
	current      string // the file last started
	flushing     bool
	rate         rateMeter
}

// progressView draws progress on stderr.
type progressView interface {
	update(s *progressState)
	// line prints one line (an error) without tearing the drawing.
	line(s string)
	// stop ends the drawing for good; what is printed after it stands
	// on its own lines.
	stop()
}

func newUI(cmd *cobra.Command, verb string, args []string, verbose, quiet bool) *ui {
	u := &ui{verb: verb, out: cmd.OutOrStdout(), err: cmd.ErrOrStderr(),
		srcs: args[:len(args)-1], dest: args[len(args)-1], fileOn: map[string]int64{}}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		u.json = newJSONStream(u.out)
		// stdout carries the events; -v lines would break the stream.
		verbose = false
	}
	switch {
	case quiet || u.json != nil:
		u.view = lineView{w: u.err}
	case canDraw(u.err):
		u.view = newBarView(u.err, os.Getenv("NO_COLOR") == "")
	default:
		u.view = &plainView{w: u.err, verb: verb, every: 10 * time.Second, last: time.Now()}
	}
	u.rep = &cpReporter{out: lineFunc(u.outLine), err: lineFunc(func(s string) { u.view.line(s) }),
		verbose: verbose, verb: verb}
	return u
}

// lineFunc is a writer that hands each line, without its newline, to a
// function: the cpReporter's lines reach the terminal around the bar.
type lineFunc func(string)

func (f lineFunc) Write(p []byte) (int, error) {
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l != "" {
			f(strings.TrimSuffix(l, "\n"))
		}
	}
	return len(p), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// canDraw: w is a terminal wide enough for a bar, one that understands
// cursor movement.
func canDraw(w io.Writer) bool {
	if !isTerminal(w) || os.Getenv("TERM") == "dumb" {
		return false
	}
	width, _, err := term.GetSize(int(w.(*os.File).Fd()))
	return err == nil && width >= 40
}

// start emits the started event once, before any other.
func (u *ui) start() {
	if u.started || u.json == nil {
		u.started = true
		return
	}
	u.started = true
	ev := jsonStarted{Command: u.verb, Sources: u.srcs, SourcesB64: raw64s(u.srcs), Dest: u.dest, DestB64: raw64(u.dest)}
	if u.st.planned {
		files, bytes := u.st.files, u.st.bytes
		ev.Files, ev.Bytes = &files, &bytes
	}
	u.json.emit("started", ev)
}

func (u *ui) Planned(files int, bytes int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.st.planned, u.st.files, u.st.bytes = true, files, bytes
	u.start()
	u.view.update(&u.st)
}

func (u *ui) Copying(src, dst string, size int64) {
	u.event("copying", true, func() {
		u.st.current, u.st.flushing = dst, false
		u.fileOn[dst] = 0
	}, func() any {
		return jsonCopying{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Size: size}
	})
}

func (u *ui) OnDevice(dst string, n int64) {
	u.event("on_device", true, func() {
		u.st.onDevice += n
		u.st.rate.add(u.st.onDevice, time.Now())
		u.fileOn[dst] += n
	}, func() any {
		return jsonOnDevice{Path: dst, PathB64: raw64(dst), Bytes: n, FileOnDevice: u.fileOn[dst], TotalOnDevice: u.st.onDevice}
	})
}

func (u *ui) Flushing(files int, bytes int64) {
	u.event("flushing", true, func() {
		u.st.flushing = true
	}, func() any {
		return jsonFlushing{Files: files, Bytes: bytes}
	})
}

func (u *ui) Durable(src, dst string, size int64) {
	u.event("durable", true, func() {
		delete(u.fileOn, dst)
		u.st.durableFiles++
		u.st.durableBytes += size
		u.rep.Durable(src, dst, size)
	}, func() any {
		return jsonFile{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Bytes: size}
	})
	if testHookDurable != nil {
		testHookDurable()
	}
}

// testHookDurable, when set by a test, runs after each file reported
// durable: the memory test samples the heap there.
var testHookDurable func()

func (u *ui) Skipped(src, dst, why string) {
	u.event("skipped", false, func() {
		u.rep.Skipped(src, dst, why)
	}, func() any {
		return jsonSkipped{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Reason: why}
	})
}

func (u *ui) Failed(src, dst string, err error) {
	u.event("error", false, func() {
		delete(u.fileOn, dst)
		u.rep.Failed(src, dst, err)
	}, func() any {
		return jsonError{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Error: failureText(src, dst, err, true)}
	})
}

func (u *ui) Verified(src, dst string, size int64) {
	u.event("verified", false, func() {
		u.verified++
	}, func() any {
		return jsonFile{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Bytes: size}
	})
}

func (u *ui) Mismatch(src, dst string, err error) {
	u.event("mismatch", false, func() {
		u.mismatch++
		// The error names both files and says how they differ.
		u.view.line(fmt.Sprintf("sure: %s: not verified: %s", u.verb, quote.Text(err.Error())))
	}, func() any {
		return jsonError{Src: src, SrcB64: raw64(src), Dst: dst, DstB64: raw64(dst), Error: err.Error()}
	})
}

// event applies one report under the lock, once the started event is
// out: change updates the state, then the event name is streamed with
// body where JSON was asked for; draw has the view drawn again.
func (u *ui) event(name string, draw bool, change func(), body func() any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.start()
	change()
	if u.json != nil {
		u.json.emit(name, body())
	}
	if draw {
		u.view.update(&u.st)
	}
}

// ask asks a question on the terminal the bar is drawn on (-i): the bar
// is taken off first and drawn again after the answer. Progress goes on
// meanwhile, undrawn.
func (u *ui) ask(question func() bool) bool {
	u.mu.Lock()
	b, ok := u.view.(*barView)
	if ok {
		b.pause()
	}
	u.mu.Unlock()
	answer := question()
	if ok {
		u.mu.Lock()
		b.resume()
		u.mu.Unlock()
	}
	return answer
}

// notice prints a line of sure's own on stderr, around the drawing; none
// once the drawing stopped and the summary is on its way.
func (u *ui) notice(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.stopped {
		u.view.line(s)
	}
}

// outLine prints a line of stdout (-v). When stdout is the terminal the
// bar is drawn on, the line goes above the bar instead of through it.
func (u *ui) outLine(s string) {
	if b, ok := u.view.(*barView); ok && !b.done && isTerminal(u.out) {
		b.line(s)
		return
	}
	fmt.Fprintln(u.out, s)
}

// stop ends the progress drawing; the summary follows on stderr.
func (u *ui) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopped = true
	u.view.stop()
}

// finished emits the last event of the stream, with the exit code sure
// is about to return. cause is the job's error when it never ran
// (refused, usage), so the stream says why.
func (u *ui) finished(s copier.Summary, code int, cause error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.json == nil {
		return
	}
	u.start()
	if cause != nil {
		u.json.emit("error", jsonError{Error: cause.Error()})
	}
	level := "durable"
	switch {
	case code == exitUsage || cause != nil:
		level = "none"
	case s.Files == 0 && s.UpToDate == 0 && (s.Failed > 0 || s.Interrupted || s.DestFailed != nil):
		level = "none"
	case s.Files+s.UpToDate > 0 && u.verified == s.Files+s.UpToDate && u.mismatch == 0:
		// Files complete from an earlier run are read back too.
		level = "verified"
	}
	stopped := ""
	if s.DestFailed != nil {
		stopped = s.DestFailed.Error()
	}
	u.json.emit("finished", jsonFinished{
		Level: level, Files: s.Files, Bytes: s.Bytes, Failed: s.Failed, Skipped: s.Skipped,
		UpToDate: s.UpToDate, Verified: u.verified, Mismatched: u.mismatch, Interrupted: s.Interrupted,
		Stopped: stopped, ExitCode: code, DestMount: s.Dest.MountPoint, DestMountB64: raw64(s.Dest.MountPoint), FSType: s.Dest.FSType, Barrier: barrierName(s),
		Excluded: s.Excluded, Removed: s.Removed,
	})
}

func barrierName(s copier.Summary) string {
	if s.Dest.MountPoint == "" {
		return ""
	}
	return s.Barrier.String()
}

// rateMeter measures bytes per second over the last few seconds, so
// that the rate and the time left follow the device as it is now (a
// stick slows down once its cache is full), not the average since the
// start.
type rateMeter struct {
	samples []rateSample // oldest first, spanning about rateWindow
	rate    float64
}

type rateSample struct {
	t time.Time
	n int64
}

const (
	rateWindow = 3 * time.Second
	rateStep   = 250 * time.Millisecond // at most one sample per step
)

func (r *rateMeter) add(total int64, now time.Time) {
	if k := len(r.samples); k > 0 && now.Sub(r.samples[k-1].t) < rateStep {
		return
	}
	r.samples = append(r.samples, rateSample{now, total})
	// Keep the newest sample at or before the window's start, so the
	// window is always covered.
	drop := 0
	for drop+1 < len(r.samples) && now.Sub(r.samples[drop+1].t) >= rateWindow {
		drop++
	}
	r.samples = r.samples[drop:]
	first := r.samples[0]
	if dt := now.Sub(first.t).Seconds(); dt >= 0.5 {
		r.rate = float64(total-first.n) / dt
	}
}

// eta is the time the rest takes at the measured rate; ok is false while
// no rate is known.
func (s *progressState) eta() (time.Duration, bool) {
	if !s.planned || s.rate.rate <= 0 {
		return 0, false
	}
	left := max(s.bytes-s.onDevice, 0)
	return time.Duration(float64(left) / s.rate.rate * float64(time.Second)).Round(time.Second), true
}

// text is the progress in words, for the plain view and the bar's tail.
func (s *progressState) counts() string {
	on := units.Bytes(s.onDevice)
	if s.planned {
		on += " of " + units.Bytes(s.bytes)
	}
	on += " on device"
	if s.rate.rate > 0 {
		on += fmt.Sprintf(", %s/s", units.Bytes(int64(s.rate.rate)))
	}
	if d, ok := s.eta(); ok {
		on += fmt.Sprintf(", %s left", d)
	}
	files := fmt.Sprintf("%d", s.durableFiles)
	if s.planned {
		files += fmt.Sprintf(" of %d", s.files)
	}
	return on + "; " + files + " files durable"
}

// lineView draws nothing; errors still go out (-q, --json).
type lineView struct{ w io.Writer }

func (v lineView) update(*progressState) {}
func (v lineView) line(s string)         { fmt.Fprintln(v.w, s) }
func (v lineView) stop()                 {}

// plainView prints a line now and then where stderr is not a terminal (a
// log, a pipe): no escapes, no more than one line per interval.
type plainView struct {
	w     io.Writer
	verb  string
	every time.Duration
	last  time.Time
	done  bool
}

func (v *plainView) update(s *progressState) {
	if v.done || time.Since(v.last) < v.every {
		return
	}
	v.last = time.Now()
	if s.flushing {
		fmt.Fprintf(v.w, "sure: %s: %s; flushing the device cache\n", v.verb, s.counts())
		return
	}
	fmt.Fprintf(v.w, "sure: %s: %s; copying %s\n", v.verb, s.counts(), quote.Name(s.current))
}

func (v *plainView) line(s string) { fmt.Fprintln(v.w, s) }

func (v *plainView) stop() { v.done = true }

// barView is the terminal's progress bar (mpb). Its decorators read a
// copy of the state taken under the ui's lock.
type barView struct {
	w     io.Writer
	p     *mpb.Progress
	bar   *mpb.Bar
	color bool
	mu    sync.Mutex
	s     progressState
	total int64
	done  bool

	paused bool     // a question is on the terminal: nothing is drawn
	held   []string // lines that came meanwhile, printed on resume
}

func newBarView(w io.Writer, color bool) *barView {
	v := &barView{w: w, color: color}
	v.draw()
	return v
}

// draw starts drawing the bar, from the state it has.
func (v *barView) draw() {
	v.p = mpb.New(mpb.WithOutput(v.w), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
	v.bar = v.p.New(v.total, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Any(v.phase, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(v.tail)),
	)
	v.bar.SetCurrent(v.s.onDevice)
}

// pause takes the bar off the terminal, for a question: when it returns
// nothing is drawn any more, and the cursor is at the start of a line.
func (v *barView) pause() {
	if v.done || v.paused {
		return
	}
	v.paused = true
	v.bar.Abort(true)
	v.p.Wait()
}

// resume draws the bar again after a question, below its answer.
func (v *barView) resume() {
	if v.done || !v.paused {
		return
	}
	v.paused = false
	for _, l := range v.held {
		fmt.Fprintln(v.w, l)
	}
	v.held = nil
	v.draw()
}

func (v *barView) phase(decor.Statistics) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	p, c := "copying", "\x1b[36m"
	switch {
	case v.done:
		p, c = "finished", "\x1b[32m"
	case v.s.flushing:
		p, c = "flushing", "\x1b[33m"
	}
	if v.color {
		return c + p + "\x1b[0m"
	}
	return p
}

// barMin is the narrowest bar worth drawing; the tail gives up its less
// important parts before the bar goes below it.
const barMin = 10

func (v *barView) tail(st decor.Statistics) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	// One column spare: a line as wide as the terminal wraps on some.
	width := st.AvailableWidth - barMin - 3
	if st.AvailableWidth <= 0 {
		width = 1 << 30
	}
	name := ""
	if v.s.current != "" && !v.s.flushing && !v.done {
		name = quote.Line(filepath.Base(v.s.current))
	}
	return v.s.fit(width, name)
}

// fit is the progress in at most width columns: the bytes on the device
// and the files durable always, then the rate, the time left and the
// file being copied while they fit.
func (s *progressState) fit(width int, name string) string {
	on := units.Bytes(s.onDevice)
	if s.planned {
		on += " of " + units.Bytes(s.bytes)
	}
	on += " on device"
	files := fmt.Sprintf("%d", s.durableFiles)
	if s.planned {
		files += fmt.Sprintf("/%d", s.files)
	}
	files += " durable"
	var extra []string
	if s.rate.rate > 0 {
		extra = append(extra, units.Bytes(int64(s.rate.rate))+"/s")
	}
	if d, ok := s.eta(); ok {
		extra = append(extra, d.String()+" left")
	}
	t := on + ", " + files
	for _, e := range extra {
		if len(t)+2+len(e) > width {
			break
		}
		t += ", " + e
	}
	if name != "" && len(t)+2+utf8.RuneCountInString(name) <= width {
		t += ", " + name
	}
	return t
}

func (v *barView) update(s *progressState) {
	if v.done {
		return
	}
	v.mu.Lock()
	v.s = *s
	v.mu.Unlock()
	if v.paused {
		if s.planned {
			v.total = s.bytes
		}
		return
	}
	if s.planned && s.bytes != v.total {
		v.total = s.bytes
		v.bar.SetTotal(s.bytes, false)
	}
	v.bar.SetCurrent(s.onDevice)
}

func (v *barView) line(s string) {
	if v.done {
		fmt.Fprintln(v.w, s)
		return
	}
	if v.paused {
		v.held = append(v.held, s)
		return
	}
	// Printed above the bar at its next refresh.
	fmt.Fprintln(v.p, s)
}

func (v *barView) stop() {
	if v.done {
		return
	}
	v.resume()
	v.mu.Lock()
	v.done = true
	v.mu.Unlock()
	// The bar ends where the bytes on the device got, never at a total
	// they did not reach.
	v.bar.SetTotal(-1, true)
	v.p.Wait()
}

package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/sure-tools/sure/internal/units"
)

// writePhase is where one drive is in sure write.
type writePhase int

const (
	phaseWriting writePhase = iota
	phaseFlushing
	phaseVerifying
	phaseDone
)

// driveState is what sure write has heard about one drive. onDevice
// counts completed direct writes (L1), verified bytes read back after
// the flush that matched (L3).
type driveState struct {
	target   string
	phase    writePhase
	onDevice int64
	verified int64
	rate     rateMeter
}

// writeUI tells how sure write goes: a bar per drive on a terminal,
// a line per tenth elsewhere, JSON events with --json. It is the
// flash.Events of the write.
type writeUI struct {
	mu     sync.Mutex
	total  int64 // bytes to write per drive; -1 when the stream's end tells
	drives map[string]*driveState
	order  []string
	json   *jsonStream
	view   writeView
}

type writeView interface {
	update(d *driveState, total int64)
	stop()
}

func newWriteUI(stderr io.Writer, js *jsonStream, targets []string, total int64, quiet, verify bool) *writeUI {
	u := &writeUI{total: total, drives: map[string]*driveState{}, order: targets, json: js}
	for _, t := range targets {
		u.drives[t] = &driveState{target: t}
	}
	switch {
	case quiet || js != nil:
		u.view = nopView{}
	case canDraw(stderr):
		u.view = newWriteBars(stderr, targets, total, verify, os.Getenv("NO_COLOR") == "")
	default:
		u.view = &writeLines{w: stderr, next: map[string]int64{}}
	}
	return u
}

func (u *writeUI) OnDevice(target string, n int64) {
	u.event(target, func(d *driveState) (string, any) {
		d.onDevice += n
		d.rate.add(d.onDevice, time.Now())
		return "on_device", jsonDriveBytes{Target: target, Bytes: n, Total: d.onDevice}
	})
}

func (u *writeUI) Flushing(target string) {
	u.event(target, func(d *driveState) (string, any) {
		d.phase = phaseFlushing
		return "flushing", jsonDrive{Target: target, OnDevice: d.onDevice}
	})
}

func (u *writeUI) Verifying(target string) {
	u.event(target, func(d *driveState) (string, any) {
		d.phase = phaseVerifying
		d.rate = rateMeter{}
		return "durable", jsonDrive{Target: target, OnDevice: d.onDevice}
	})
}

func (u *writeUI) Verified(target string, n int64) {
	u.event(target, func(d *driveState) (string, any) {
		d.verified += n
		d.rate.add(d.verified, time.Now())
		return "verified", jsonDriveBytes{Target: target, Bytes: n, Total: d.verified}
	})
}

// event applies one report to target's drive, then passes it on: to the
// JSON stream as the event change names, and to the view.
func (u *writeUI) event(target string, change func(d *driveState) (name string, body any)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	d := u.drives[target]
	name, body := change(d)
	if u.json != nil {
		u.json.emit(name, body)
	}
	u.view.update(d, u.total)
}

// stop ends the drawing; the outcome lines follow.
func (u *writeUI) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, t := range u.order {
		u.drives[t].phase = phaseDone
	}
	u.view.stop()
}

// moving reports whether the drive is in a phase that moves bytes:
// writing the image, or reading it back.
func (d *driveState) moving() bool {
	return d.phase == phaseWriting || d.phase == phaseVerifying
}

// counted is the count a drive's progress shows, with its words: what
// matched once the read-back began, what is on the device before.
func (d *driveState) counted() (int64, string) {
	if d.phase == phaseVerifying || d.verified > 0 {
		return d.verified, "verified"
	}
	return d.onDevice, "on device"
}

// writtenText is how much a drive is to get, in words: the size, or that only
// the end of the stream tells it.
func writtenText(n, total int64, what string) string {
	if total < 0 {
		return fmt.Sprintf("%s %s (size unknown until the image ends)", what, units.Bytes(n))
	}
	pct := int64(100)
	if total > 0 {
		pct = n * 100 / total
	}
	return fmt.Sprintf("%s %s of %s (%d%%)", what, units.Bytes(n), units.Bytes(total), pct)
}

// rateText is the recent rate and, with a known size, the time left.
func rateText(d *driveState, n, total int64) string {
	if d.rate.rate <= 0 {
		return ""
	}
	s := fmt.Sprintf(", %s/s", units.Bytes(int64(d.rate.rate)))
	if total >= 0 {
		left := time.Duration(float64(max(total-n, 0)) / d.rate.rate * float64(time.Second)).Round(time.Second)
		s += fmt.Sprintf(", %s left", left)
	}
	return s
}

type nopView struct{}

func (nopView) update(*driveState, int64) {}
func (nopView) stop()                     {}

// writeLines prints a line per drive every tenth of the image (every
// 256 MiB when its size is unknown), and one when a phase starts.
type writeLines struct {
	w    io.Writer
	next map[string]int64
	seen map[string]writePhase
}

func (v *writeLines) update(d *driveState, total int64) {
	if v.seen == nil {
		v.seen = map[string]writePhase{}
	}
	if p, ok := v.seen[d.target]; !ok || p != d.phase {
		v.seen[d.target] = d.phase
		switch d.phase {
		case phaseFlushing:
			fmt.Fprintf(v.w, "sure: %s: flushing the drive's cache\n", d.target)
		case phaseVerifying:
			fmt.Fprintf(v.w, "sure: %s: durable; reading the image back\n", d.target)
		}
		if d.phase != phaseWriting {
			v.next[d.target] = 0
		}
	}
	if !d.moving() {
		return
	}
	n, what := d.counted()
	step := int64(256 << 20)
	if total > 0 {
		step = max(total/10, 1)
	}
	if v.next[d.target] == 0 {
		v.next[d.target] = step
	}
	if n < v.next[d.target] {
		return
	}
	v.next[d.target] = (n/step + 1) * step
	fmt.Fprintf(v.w, "sure: %s: %s%s\n", d.target, writtenText(n, total, what), rateText(d, n, total))
}

func (v *writeLines) stop() {}

// writeBars draws a bar per drive (mpb) and which phase it is in. With
// the read-back, writing fills the first half of the bar and verifying
// the second; the words say what is on the device or verified.
type writeBars struct {
	p      *mpb.Progress
	bars   map[string]*mpb.Bar
	color  bool
	verify bool
	mu     sync.Mutex
	state  map[string]driveState
	total  int64
	done   bool
}

func newWriteBars(w io.Writer, targets []string, total int64, verify, color bool) *writeBars {
	v := &writeBars{color: color, verify: verify, bars: map[string]*mpb.Bar{}, state: map[string]driveState{}, total: total}
	v.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(24), mpb.WithRefreshRate(200*time.Millisecond))
	for _, t := range targets {
		v.state[t] = driveState{target: t}
		v.bars[t] = v.p.New(v.barTotal(total), mpb.BarStyle(),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return v.head(t) }, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return v.tail(t) })),
		)
	}
	return v
}

func (v *writeBars) head(t string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	p, c := "writing", "\x1b[36m"
	switch v.state[t].phase {
	case phaseFlushing:
		p, c = "flushing", "\x1b[33m"
	case phaseVerifying:
		p, c = "verifying", "\x1b[35m"
	case phaseDone:
		p, c = "finished", "\x1b[32m"
	}
	if v.color {
		p = c + p + "\x1b[0m"
	}
	return t + " " + p
}

func (v *writeBars) tail(t string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	d := v.state[t]
	total := v.total
	if total < 0 && d.phase != phaseWriting {
		total = d.onDevice // the stream has ended
	}
	n, what := d.counted()
	s := writtenText(n, total, what)
	if d.moving() {
		s += rateText(&d, n, total)
	}
	return s
}

// barTotal is the length of a bar: the bytes to write, twice with the
// read-back; 0 (mpb: no length yet) while a stream's size is unknown.
func (v *writeBars) barTotal(total int64) int64 {
	if total < 0 {
		return 0
	}
	if v.verify {
		total *= 2
	}
	return total
}

func (v *writeBars) update(d *driveState, total int64) {
	v.mu.Lock()
	if v.done {
		v.mu.Unlock()
		return
	}
	v.state[d.target] = *d
	v.mu.Unlock()
	b := v.bars[d.target]
	if total < 0 && d.phase != phaseWriting {
		// The stream has ended: its size is what went on the device.
		b.SetTotal(v.barTotal(d.onDevice), false)
	}
	b.SetCurrent(d.onDevice + d.verified)
}

func (v *writeBars) stop() {
	v.mu.Lock()
	if v.done {
		v.mu.Unlock()
		return
	}
	v.done = true
	for t, s := range v.state {
		s.phase = phaseDone
		v.state[t] = s
	}
	v.mu.Unlock()
	// A bar ends where its drive got, never at a total it did not reach.
	for _, b := range v.bars {
		b.SetTotal(-1, true)
	}
	v.p.Wait()
}

// The --json events of sure write (docs/json.md).

type jsonWriteStarted struct {
	Command  string   `json:"command"`
	Image    string   `json:"image"`
	ImageB64 string   `json:"image_b64,omitempty"`
	Format   string   `json:"format"`
	Targets  []string `json:"targets"`
	// Bytes is what each drive is to get, absent when only the end of
	// the stream tells.
	Bytes      *int64 `json:"bytes,omitempty"`
	ImageSize  *int64 `json:"image_size,omitempty"`
	Bmap       string `json:"bmap,omitempty"`
	LeftAsWas  int64  `json:"left_as_was"`
	ZeroedHole int64  `json:"zeroed"`
}

type jsonDriveBytes struct {
	Target string `json:"target"`
	Bytes  int64  `json:"bytes"`
	Total  int64  `json:"total"`
}

type jsonDrive struct {
	Target   string `json:"target"`
	OnDevice int64  `json:"on_device"`
}

type jsonDriveResult struct {
	Target string `json:"target"`
	Level  string `json:"level"`
	Bytes  int64  `json:"bytes"`
	Error  string `json:"error,omitempty"`
}

type jsonWriteFinished struct {
	Level    string `json:"level"`
	ExitCode int    `json:"exit_code"`
}

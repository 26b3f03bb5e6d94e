package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/sure-tools/sure/flush"
	"github.com/sure-tools/sure/internal/quote"
	"github.com/sure-tools/sure/internal/units"
)

// syncView shows a flush draining: on a terminal one bar per file system
// (mpb), elsewhere a line now and then, with -q nothing. The bars are
// removed when the flush ends; the result lines say what was reached.
type syncView struct {
	w        io.Writer
	interval time.Duration
	quiet    bool
	tty      bool
	p        *mpb.Progress
	bars     map[string]*syncBar
	lastLine time.Time
}

type syncBar struct {
	bar  *mpb.Bar
	mu   sync.Mutex
	s    flush.Sample
	peak int64
}

func newSyncView(w io.Writer, quiet bool) *syncView {
	v := &syncView{w: w, quiet: quiet, tty: canDraw(w), bars: map[string]*syncBar{}, lastLine: time.Now()}
	v.interval = time.Second
	if !v.tty {
		v.interval = 10 * time.Second
	}
	return v
}

// drainText says what the sample counts and how fast it goes.
func drainText(s flush.Sample) string {
	t := fmt.Sprintf("flushing %s: %s dirty, %s under writeback (%s)", quote.Line(s.Mount.MountPoint),
		units.Bytes(s.Dirty), units.Bytes(s.Writeback), s.Scope)
	if s.Rate > 0 {
		t += fmt.Sprintf(", drive writing %s/s", units.Bytes(int64(s.Rate)))
		if eta := s.ETA(); eta > 0 {
			t += fmt.Sprintf(", about %s left", eta.Round(time.Second))
		}
	}
	return t
}

func (v *syncView) sample(s flush.Sample) {
	switch {
	case v.quiet:
	case !v.tty:
		if time.Since(v.lastLine) >= v.interval {
			v.lastLine = time.Now()
			fmt.Fprintf(v.w, "sure: %s\n", drainText(s))
		}
	default:
		if v.p == nil {
			v.p = mpb.New(mpb.WithOutput(v.w), mpb.WithWidth(24), mpb.WithRefreshRate(200*time.Millisecond))
		}
		b := v.bars[s.Mount.MountPoint]
		if b == nil {
			b = &syncBar{}
			b.bar = v.p.New(0, mpb.BarStyle(), mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				b.mu.Lock()
				defer b.mu.Unlock()
				return drainText(b.s)
			})))
			v.bars[s.Mount.MountPoint] = b
		}
		b.mu.Lock()
		b.s = s
		pending := s.Dirty + s.Writeback
		b.peak = max(b.peak, pending)
		peak := b.peak
		b.mu.Unlock()
		// The bar fills as the pending bytes drain from their peak.
		b.bar.SetTotal(peak, false)
		b.bar.SetCurrent(peak - pending)
	}
}

func (v *syncView) stop() {
	if v.p == nil {
		return
	}
	for _, b := range v.bars {
		b.bar.Abort(true)
	}
	v.p.Wait()
}

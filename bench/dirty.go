//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/tail"
	"github.com/sure-tools/sure/lab/vdisk"
)

// The dirty-memory and progress-honesty benchmark: one big file
// onto a slow stick, sampling every sampleEvery
//
//   - the dirty and writeback pages of the destination's files (cachestat
//     of every file that appears in the destination directory, temporary
//     files included): what this copy holds in RAM and not yet on the
//     device;
//   - /proc/meminfo Dirty+Writeback, the whole machine's, over its value
//     at the start (noisy when other work runs);
//
// and, for every progress figure a tool reports, whether it ever exceeded
// the bytes the stick had received at that moment.
const sampleEvery = 50 * time.Millisecond

type dirtyRow struct {
	name     string
	took     time.Duration
	filePeak int64 // bytes: dirty + writeback pages of the destination files
	memPeak  int64 // bytes: /proc/meminfo Dirty+Writeback over memBase
	memBase  int64
	honesty  *honesty // nil: the tool reports no progress
	err      string
}

type dirtyResult struct {
	size      int64
	bandwidth float64
	bound     int64
	boundFlag bool // sure has --max-dirty, and was given the bound
	rows      []dirtyRow
}

// honesty compares a tool's progress figure with the stick's count of
// received bytes.
type honesty struct {
	figure   string // what the figure is
	events   int
	reported int64 // the last figure
	maxAhead int64 // largest reported - received, at each report
	maxLag   int64 // largest received - reported, at each report and sample
	overhead int64 // received - file size at the end: metadata, journal
	err      error

	mu   sync.Mutex
	disk *vdisk.Disk
	base int64
}

// report checks a new figure against what the stick has received. It runs
// in the reporting goroutine, so a library caller is held while the
// stick is asked: what arrives meanwhile cannot hide a figure that was
// ahead when it was made.
func (h *honesty) report(total int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events++
	h.reported = total
	h.check()
}

// check must be called with mu held.
func (h *honesty) check() {
	st, err := h.disk.Stats()
	if err != nil {
		if h.err == nil {
			h.err = err
		}
		return
	}
	got := st.BytesReceived - h.base
	h.maxAhead = max(h.maxAhead, h.reported-got)
	if h.events > 0 {
		h.maxLag = max(h.maxLag, got-h.reported)
	}
}

func (h *honesty) sample() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.check()
}

// dirtyTool is one contender; run copies src into the directory dst.
type dirtyTool struct {
	name string
	run  func(ctx context.Context, src, dst string, h *honesty) error
}

func (e *env) dirtyTools() []dirtyTool {
	sureArgs := []string{"cp", "-q"}
	if e.hasMaxDirty {
		sureArgs = append(sureArgs, "--max-dirty", strconv.FormatInt(int64(e.maxDirty), 10))
	}
	return []dirtyTool{
		{name: "sure cp", run: func(ctx context.Context, src, dst string, h *honesty) error {
			if !e.hasJSON {
				return runQuiet(ctx, e.sure, append(sureArgs, src, dst+"/")...)
			}
			h.figure = "`sure cp --json`: `total_on_device` (L1)"
			return runProgress(ctx, h, true, sureJSON, e.sure, append(sureArgs, "--json", src, dst+"/")...)
		}},
		{name: "sure's engine (copier.Copy, in process)", run: func(ctx context.Context, src, dst string, h *honesty) error {
			h.figure = "copier.Progress OnDevice (L1), in process"
			p := &libProgress{h: h}
			_, err := copier.Copy(ctx, []string{src}, dst+"/", copier.Options{Events: p, MaxDirty: int64(e.maxDirty)})
			return err
		}},
		{name: "cp", run: func(ctx context.Context, src, dst string, h *honesty) error {
			return runQuiet(ctx, "cp", src, dst+"/")
		}},
		{name: "rsync -a --info=progress2", run: func(ctx context.Context, src, dst string, h *honesty) error {
			h.figure = "rsync --info=progress2 bytes"
			return runProgress(ctx, h, true, leadingCount, "rsync", "-a", "--info=progress2", src, dst+"/")
		}},
		{name: "dd bs=4M conv=fsync status=progress", run: func(ctx context.Context, src, dst string, h *honesty) error {
			h.figure = "dd status=progress bytes copied"
			return runProgress(ctx, h, false, leadingCount, "dd", "if="+src, "of="+filepath.Join(dst, filepath.Base(src)), "bs=4M", "conv=fsync", "status=progress")
		}},
	}
}

// libProgress hears sure's engine; only OnDevice carries a figure.
type libProgress struct {
	h     *honesty
	total int64
}

func (p *libProgress) Durable(src, dst string, size int64) {}
func (p *libProgress) Skipped(src, dst, why string)        {}
func (p *libProgress) Failed(src, dst string, err error)   {}
func (p *libProgress) Planned(files int, bytes int64)      {}
func (p *libProgress) Copying(src, dst string, size int64) {}
func (p *libProgress) Flushing(files int, bytes int64)     {}
func (p *libProgress) OnDevice(dst string, n int64) {
	p.total += n
	p.h.report(p.total)
}

var _ copier.Progress = (*libProgress)(nil)

func runQuiet(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail.Lines(out.String(), 1))
	}
	return nil
}

// leadingCount reads a progress line of rsync or dd: the byte count
// first, with or without thousands separators.
func leadingCount(line string) (int64, bool) {
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.Fields(line)[0], ",", ""), 10, 64)
	return n, err == nil
}

// sureJSON reads the running total of sure's on_device events (docs/json.md).
func sureJSON(line string) (int64, bool) {
	var ev struct {
		Event string `json:"event"`
		Total *int64 `json:"total_on_device"`
	}
	if json.Unmarshal([]byte(line), &ev) != nil || ev.Event != "on_device" || ev.Total == nil {
		return 0, false
	}
	return *ev.Total, true
}

// runProgress runs a command whose progress lines (separated by \r or
// \n) come on stdout or stderr, and reports each figure parse finds as it
// arrives.
func runProgress(ctx context.Context, h *honesty, stdout bool, parse func(string) (int64, bool), name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	var other bytes.Buffer
	if stdout {
		cmd.Stdout, cmd.Stderr = pw, &other
	} else {
		cmd.Stdout, cmd.Stderr = &other, pw
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return err
	}
	pw.Close()
	var last string
	sc := bufio.NewScanner(pr)
	sc.Split(splitCRLF)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		last = line
		if n, ok := parse(line); ok {
			h.report(n)
		}
	}
	io.Copy(io.Discard, pr)
	pr.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s %s: %w: %s %s", name, strings.Join(args, " "), err, last, tail.Lines(other.String(), 1))
	}
	return nil
}

func splitCRLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func (e *env) dirty(ctx context.Context, r *results) error {
	res := &dirtyResult{size: int64(e.dirtySize), bandwidth: e.dirtyBW, bound: int64(e.maxDirty), boundFlag: e.hasMaxDirty}
	r.dirty = res
	return e.withSource("dirty", func(p string) (tree, error) {
		return bigFile(p, int64(e.dirtySize), 4)
	}, func(src string, t tree) error {
		for _, tool := range e.dirtyTools() {
			row, err := e.dirtyRun(ctx, tool, src, t)
			if err != nil {
				row.err = err.Error()
				e.logf("dirty: %s: %v", tool.name, err)
			} else {
				e.logf("dirty: %s: %.2f s, file dirty peak %s, meminfo peak %s over %s", tool.name, row.took.Seconds(),
					fmtBytes(row.filePeak), fmtBytes(row.memPeak), fmtBytes(row.memBase))
			}
			res.rows = append(res.rows, row)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	})
}

func (e *env) dirtyRun(ctx context.Context, tool dirtyTool, src string, t tree) (row dirtyRow, err error) {
	row.name = tool.name
	// The stick's state lives on tmpfs, whose pages are never counted as
	// Dirty: otherwise the server's own writes to its image would show up
	// in /proc/meminfo as the copy's.
	d, err := newDest(destSpec{kind: onStick, fs: e.fs, size: t.bytes + t.bytes/4 + 256<<20, stateDir: e.shm,
		faults: vdisk.Faults{BandwidthMBps: e.dirtyBW, FlushLatency: e.flushLat}})
	if err != nil {
		return row, err
	}
	defer func() { err = errors.Join(err, d.close()) }()
	if err := dropCaches(); err != nil {
		return row, err
	}
	base, err := d.received()
	if err != nil {
		return row, err
	}
	h := &honesty{disk: d.disk, base: base}
	s := newSampler(d.dir, h)
	row.memBase = s.memBase
	start := time.Now()
	stop := s.start()
	err = tool.run(ctx, src, d.dir, h)
	row.took = time.Since(start)
	stop()
	row.filePeak, row.memPeak = s.filePeak, s.memPeak-s.memBase
	if h.figure != "" {
		if got, serr := d.received(); serr == nil {
			h.overhead = got - base - t.bytes
		}
		row.honesty = h
		if h.err != nil {
			err = errors.Join(err, fmt.Errorf("asking the stick: %w", h.err))
		}
	}
	if err != nil {
		return row, err
	}
	got, err := measure(filepath.Join(d.dir, filepath.Base(src)))
	if err == nil && got != t {
		err = fmt.Errorf("copied %d bytes of %d", got.bytes, t.bytes)
	}
	return row, err
}

// sampler watches dirty memory while a tool runs.
type sampler struct {
	dir      string
	h        *honesty
	names    map[string]bool        // names already looked at
	files    map[[2]uint64]*os.File // by device and inode: a renamed file is counted once
	filePeak int64
	memBase  int64
	memPeak  int64
}

func newSampler(dir string, h *honesty) *sampler {
	s := &sampler{dir: dir, h: h, names: map[string]bool{}, files: map[[2]uint64]*os.File{}}
	s.memBase, _ = meminfoDirty()
	s.memPeak = s.memBase
	return s
}

// start samples until the returned function is called; that function
// takes a last sample and closes the files, which the unmount needs.
func (s *sampler) start() func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-done:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		for _, f := range s.files {
			f.Close()
		}
	}
}

func (s *sampler) sample() {
	if m, err := meminfoDirty(); err == nil {
		s.memPeak = max(s.memPeak, m)
	}
	// Any file that appears is opened once and kept, so it is followed
	// across renames (temporary name to final name).
	if ents, err := os.ReadDir(s.dir); err == nil {
		for _, e := range ents {
			if s.names[e.Name()] || !e.Type().IsRegular() {
				continue
			}
			s.names[e.Name()] = true
			f, err := os.Open(filepath.Join(s.dir, e.Name()))
			if err != nil {
				continue
			}
			var st unix.Stat_t
			if unix.Fstat(int(f.Fd()), &st) != nil || s.files[[2]uint64{st.Dev, st.Ino}] != nil {
				f.Close()
				continue
			}
			s.files[[2]uint64{st.Dev, st.Ino}] = f
		}
	}
	var pages uint64
	for _, f := range s.files {
		var cs unix.Cachestat_t
		if unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &cs, 0) == nil {
			pages += cs.Dirty + cs.Writeback
		}
	}
	s.filePeak = max(s.filePeak, int64(pages)*int64(os.Getpagesize()))
	if s.h != nil {
		s.h.sample()
	}
}

// meminfoDirty is Dirty + Writeback from /proc/meminfo, in bytes.
func meminfoDirty() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "Dirty:" || f[0] == "Writeback:") {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: %q: %w", l, err)
			}
			total += kb << 10
		}
	}
	return total, nil
}

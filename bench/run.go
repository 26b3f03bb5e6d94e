//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/tail"
	"github.com/sure-tools/sure/lab/vdisk"
)

// peer is one command of the comparison. steps run one after the other;
// the run is timed from the first start to the last exit.
type peer struct {
	key     string // for -peers
	name    string // as the table shows it
	flushes bool   // its time includes making the copy durable
	single  bool   // single-file scenarios only
	tree    bool   // tree scenarios only
	steps   func(sure, src, dst string) [][]string
}

// The names of the peers the targets refer to.
const (
	sureName      = "sure cp"
	cpSyncName    = "cp && sync -f"
	rsyncSyncName = "rsync -a --fsync"
)

// peers are sure and the commands people use instead of it. A tree is
// copied with -r (rsync -a recurses anyway); a single file without.
func peers() []peer {
	return []peer{
		{key: "sure", name: sureName, flushes: true, steps: func(sure, src, dst string) [][]string {
			return [][]string{{sure, "cp", "-r", "-q", src, dst}}
		}},
		{key: "cp-sync", name: cpSyncName, flushes: true, steps: func(_, src, dst string) [][]string {
			return [][]string{{"cp", "-r", src, dst}, {"sync", "-f", dst}}
		}},
		{key: "rsync-fsync", name: rsyncSyncName, flushes: true, steps: func(_, src, dst string) [][]string {
			return [][]string{{"rsync", "-a", "--fsync", src, dst + "/"}}
		}},
		{key: "rsync", name: "rsync -a", steps: func(_, src, dst string) [][]string {
			return [][]string{{"rsync", "-a", src, dst + "/"}}
		}},
		{key: "cp", name: "cp -r", steps: func(_, src, dst string) [][]string {
			return [][]string{{"cp", "-r", src, dst}}
		}},
		{key: "dd", name: "dd bs=4M conv=fsync", flushes: true, single: true, steps: func(_, src, dst string) [][]string {
			return [][]string{{"dd", "if=" + src, "of=" + filepath.Join(dst, filepath.Base(src)), "bs=4M", "conv=fsync", "status=none"}}
		}},
	}
}

func peerKeys() []string {
	var keys []string
	for _, p := range peers() {
		keys = append(keys, p.key)
	}
	return keys
}

// wantPeer says whether -peers selected the peer (all by default).
func (c *config) wantPeer(key string) bool {
	return len(c.peers) == 0 || slices.Contains(c.peers, key)
}

// run is one timed run of one peer.
type runResult struct {
	took    time.Duration
	maxRSS  int64 // bytes, largest over the steps (wait4 rusage)
	flushes int64 // cache flushes the stick received during the run; -1 off the stick
	// cpu is the user and system time of the steps and every process
	// they waited for (wait4 rusage), summed over the steps.
	cpu time.Duration
	// kthreads is the kernel threads' CPU over the run, less their load
	// while idle just before (machine.go): the writeback and the loop
	// device's work, which cpu leaves out. 0 without -machine-idle.
	kthreads time.Duration
}

// cell is a peer on one destination: its runs, or why it has none.
type cell struct {
	runs []runResult
	once bool   // run once: its first run took longer than -once-over
	err  string // the command failed or copied the wrong thing
}

func (c cell) median() time.Duration {
	return c.medianOf(func(r runResult) time.Duration { return r.took })
}

// medianOf is the median of one figure of the runs.
func (c cell) medianOf(figure func(runResult) time.Duration) time.Duration {
	if len(c.runs) == 0 {
		return 0
	}
	d := make([]time.Duration, len(c.runs))
	for i, r := range c.runs {
		d[i] = figure(r)
	}
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

// flushes is the median count of cache flushes the device received per
// run, or -1 where the device does not count them.
func (c cell) flushes() int64 {
	if len(c.runs) == 0 {
		return -1
	}
	f := make([]int64, len(c.runs))
	for i, r := range c.runs {
		f[i] = r.flushes
	}
	slices.Sort(f)
	return f[len(f)/2]
}

// cpu is the median CPU time per run.
func (c cell) cpu() time.Duration {
	return c.medianOf(func(r runResult) time.Duration { return r.cpu })
}

// withKthreads is the median of the command's CPU plus the kernel
// threads' over a run.
func (c cell) withKthreads() time.Duration {
	return c.medianOf(func(r runResult) time.Duration { return r.cpu + r.kthreads })
}

func (c cell) maxRSS() int64 {
	var m int64
	for _, r := range c.runs {
		m = max(m, r.maxRSS)
	}
	return m
}

// scenarioResult is one table: peers × destinations.
type scenarioResult struct {
	title  string
	source tree
	single bool
	dests  []string
	peers  []string
	cells  map[string]map[string]*cell // dest → peer → cell
	// ceiling is, per destination, the rate at which the bare block
	// device takes the same number of bytes: what the device allows.
	ceiling map[string]float64 // bytes/s
}

// destFor describes the destination of a scenario's runs.
func (e *env) destFor(kind string, data int64) destSpec {
	s := destSpec{kind: kind, fs: e.fs, size: data + data/4 + 256<<20, stateDir: e.work}
	if kind == onStick {
		s.faults = vdisk.Faults{BandwidthMBps: e.bandwidth, FlushLatency: e.flushLat}
		if stickFitsInRAM(data) {
			s.stateDir = e.shm
		} else {
			e.stickOnDisk = true
		}
	}
	return s
}

// stickFitsInRAM says whether a stick taking data bytes can keep its state
// on the tmpfs: the model stores every byte twice (what the stick reads
// back, what survives a cut), and the source is on a tmpfs too. On the
// host's disk the model's own writes hit the kernel's dirty limit and it
// falls behind the configured bandwidth (measured: 95 MB/s at first,
// under 70 MB/s once the host's writeback throttled it); the stick under
// test would be the host disk. The decision depends only on the size, so
// every run of a scenario gets the same stick.
func stickFitsInRAM(data int64) bool {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return false
	}
	total := int64(si.Totalram) * int64(si.Unit)
	return 3*data+data/2+4<<30 < total
}

// compare runs every peer on every destination: for each run a fresh file
// system, a cold page cache, then the command under the clock.
func (e *env) compare(ctx context.Context, title, src string, t tree, single bool, dests []string) (*scenarioResult, error) {
	sr := &scenarioResult{title: title, source: t, single: single, dests: dests,
		cells: map[string]map[string]*cell{}, ceiling: map[string]float64{}}
	for _, p := range peers() {
		if (p.single && !single) || (p.tree && single) || !e.wantPeer(p.key) {
			continue
		}
		sr.peers = append(sr.peers, p.name)
	}
	for _, kind := range dests {
		sr.cells[kind] = map[string]*cell{}
		if single {
			rate, err := e.ceiling(ctx, e.destFor(kind, t.bytes), t.bytes)
			if err != nil {
				return sr, err
			}
			sr.ceiling[kind] = rate
			e.logf("%s: %s: the bare device takes %s at %.1f MB/s", title, kind, fmtBytes(min(t.bytes, ceilingBytes)), rate/1e6)
		}
		for _, p := range peers() {
			if !slices.Contains(sr.peers, p.name) {
				continue
			}
			c := &cell{}
			sr.cells[kind][p.name] = c
			for i := 0; i < e.runs; i++ {
				r, err := e.timed(ctx, e.destFor(kind, t.bytes), p, src, t)
				if ctx.Err() != nil {
					return sr, ctx.Err()
				}
				if err != nil {
					c.err = err.Error()
					e.logf("%s: %s on %s: %v", title, p.name, kind, err)
					break
				}
				e.logf("%s: %s on %s: %.2f s, CPU %.2f s, kernel threads %.2f s, %s, peak RSS %s", title, p.name, kind, r.took.Seconds(), r.cpu.Seconds(), r.kthreads.Seconds(), fmtFlushes(r.flushes), fmtBytes(r.maxRSS))
				c.runs = append(c.runs, r)
				if i == 0 && e.runs > 1 && e.onceOver > 0 && r.took > e.onceOver {
					c.once = true
					break
				}
			}
		}
	}
	return sr, nil
}

// timed runs p once on a fresh destination and checks what it copied.
func (e *env) timed(ctx context.Context, spec destSpec, p peer, src string, t tree) (res runResult, err error) {
	d, err := newDest(spec)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, d.close()) }()
	if err := dropCaches(); err != nil {
		return res, err
	}
	var out bytes.Buffer
	rssFile := filepath.Join(d.state, "maxrss")
	res.flushes = -1
	var before vdisk.Stats
	if d.disk != nil {
		if before, err = d.disk.Stats(); err != nil {
			return res, err
		}
	}
	meter := kthreadMeter{baseline: e.idle}
	if err := meter.begin(); err != nil {
		return res, err
	}
	start := time.Now()
	for _, argv := range p.steps(e.sure, src, d.dir) {
		run := argv
		if e.gnuTime != "" {
			run = append([]string{e.gnuTime, "-f", "%M", "-o", rssFile}, argv...)
		}
		cmd := exec.CommandContext(ctx, run[0], run[1:]...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err != nil {
			return res, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, tail.Lines(out.String(), 1))
		}
		rss, err := maxRSS(cmd, rssFile)
		if err != nil {
			return res, err
		}
		res.maxRSS = max(res.maxRSS, rss)
		res.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	res.took = time.Since(start)
	if res.kthreads, err = meter.end(); err != nil {
		return res, err
	}
	if d.disk != nil {
		after, err := d.disk.Stats()
		if err != nil {
			return res, err
		}
		res.flushes = after.Flushes - before.Flushes
	}
	got, err := measure(filepath.Join(d.dir, filepath.Base(src)))
	if err != nil {
		return res, fmt.Errorf("checking the copy: %w", err)
	}
	if got != t {
		return res, fmt.Errorf("copied %d files, %d bytes; the source has %d files, %d bytes", got.files, got.bytes, t.files, t.bytes)
	}
	return res, nil
}

// maxRSS is the peak resident memory of a step. Go starts commands with
// vfork, and exec records the parent's peak RSS into the child's
// ru_maxrss (Linux keeps the larger of the old and the new mm's), so
// wait4's figure would never be below the bench's own. GNU time forks from
// a process of about 2 MiB, so its %M is the command's own peak.
func maxRSS(cmd *exec.Cmd, file string) (int64, error) {
	if b, err := os.ReadFile(file); err == nil {
		// time writes "Command exited with non-zero status N" first when
		// the command failed; the figure is on the last line.
		var kib int64
		if _, err := fmt.Sscan(tail.Lines(string(b), 1), &kib); err != nil {
			return 0, fmt.Errorf("reading %s: %q: %w", file, b, err)
		}
		os.Remove(file)
		return kib << 10, nil
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10, nil
	}
	return 0, nil
}

// ceilingBytes caps how much the ceiling measure writes: the rate of a
// bandwidth-limited device does not change with the amount.
const ceilingBytes = 1 << 30

// ceiling measures how fast the destination's bare block device (no file
// system) takes min(n, 1 GiB): direct writes of 4 MiB, then a cache
// flush. No copy through a file system can beat it; on the stick it is
// the real rate, a little under the configured bandwidth because every
// write also pays the FUSE round trip.
func (e *env) ceiling(ctx context.Context, spec destSpec, n int64) (float64, error) {
	spec.raw = true
	d, err := newDest(spec)
	if err != nil {
		return 0, err
	}
	rate, err := rawWrite(ctx, d.dev, min(n, ceilingBytes))
	return rate, errors.Join(err, d.close())
}

func rawWrite(ctx context.Context, dev string, n int64) (float64, error) {
	f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const bs = 4 << 20
	buf, err := unix.Mmap(-1, 0, bs, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return 0, err
	}
	defer unix.Munmap(buf)
	for i := range buf {
		buf[i] = byte(i*7 + i>>12)
	}
	start := time.Now()
	var off int64
	for ; off < n; off += bs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(off) / time.Since(start).Seconds(), nil
}

// dropCaches empties the page cache, so each run starts cold in the same
// way. Only clean pages go: the sources are on tmpfs, and the destination
// was just flushed. A global sync is avoided on purpose: it would flush
// the sticks of whatever else runs on this machine.
func dropCaches() error {
	err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
	if err != nil {
		return fmt.Errorf("dropping caches: %w", err)
	}
	return nil
}

func fmtFlushes(n int64) string {
	if n < 0 {
		return "flushes not counted"
	}
	return fmt.Sprintf("%d flushes", n)
}

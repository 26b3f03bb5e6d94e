//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Targets: what sure must reach against its peers to be worth using, each
// marked met or not met in the report.
const (
	targetVsCpSync   = 1.2  // sure cp at most this × cp && sync -f, small files, stick
	targetVsRsync    = 50.0 // rsync -a --fsync at least this × sure cp, small files, stick
	targetBigRate    = 0.95 // sure cp's rate at least this × the stick's, big file
	targetRSSGrowth  = 2.0  // peak RSS grows less than this while files grow tenfold
	fileCountForRSS  = 10   // the growth the RSS target is stated for
	targetHonestDiff = 0    // bytes progress may run ahead of the device
)

type results struct {
	cfg         *config
	env         *env
	started     time.Time
	took        time.Duration
	machine     string
	sureVersion string
	rssExact    bool // peak RSS measured with GNU time, not wait4 (see maxRSS)

	small, big, photo *scenarioResult
	rss               []rssRow
	dirty             *dirtyResult
	flash             *flashResult
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func (r *results) markdown() string {
	var b strings.Builder
	c := r.cfg
	fmt.Fprintf(&b, "## Benchmark run of %s\n\n", r.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- command: `go run ./bench %s` (took %s)\n", strings.Join(c.args, " "), r.took.Round(time.Second))
	fmt.Fprintf(&b, "- sure: %s; machine: %s\n", r.sureVersion, r.machine)
	state := "on a tmpfs"
	if r.env != nil && r.env.stickOnDisk {
		state = "on a tmpfs where it fits in RAM, else in " + c.dir + " (slower: the host's writeback throttles the model)"
	}
	fmt.Fprintf(&b, "- stick: the lab's virtual USB stick (lab/vdisk, FUSE, state %s), %g MB/s, %v per cache flush, %s\n", state, c.bandwidth, c.flushLat, c.fs)
	fmt.Fprintf(&b, "- plain disk: %s in an image file in %s on a loop device\n", c.fs, c.dir)
	fmt.Fprintf(&b, "- sources on tmpfs; a fresh file system and a dropped page cache before every run; times include the command's own flush\n")
	fmt.Fprintf(&b, "- medians over %d runs", c.runs)
	if c.runs > 1 && c.onceOver > 0 {
		fmt.Fprintf(&b, "; † run once because its first run took over %v", c.onceOver)
	}
	b.WriteString("\n\n")

	for _, sr := range []*scenarioResult{r.small, r.big, r.photo} {
		if sr != nil {
			r.table(&b, sr)
		}
	}
	if len(r.rss) > 0 {
		r.rssTable(&b)
	}
	if r.dirty != nil {
		r.dirtyTable(&b)
	}
	if r.flash != nil {
		r.flashTable(&b)
	}
	return b.String()
}

func seconds(c *cell) string {
	if c == nil {
		return "–"
	}
	if c.err != "" {
		return "failed"
	}
	if len(c.runs) == 0 {
		return "interrupted"
	}
	s := fmt.Sprintf("%.2f", c.median().Seconds())
	if c.once {
		s += " †"
	}
	return s
}

func rate(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds() / 1e6
}

func (r *results) table(b *strings.Builder, sr *scenarioResult) {
	fmt.Fprintf(b, "### %s\n\n", sr.title)
	if sr.source.files == 1 {
		fmt.Fprintf(b, "1 file, %s.\n\n", fmtBytes(sr.source.bytes))
	} else {
		fmt.Fprintf(b, "%d files, %s in all.\n\n", sr.source.files, fmtBytes(sr.source.bytes))
	}
	b.WriteString("| command |")
	cols := 1
	for _, d := range sr.dests {
		fmt.Fprintf(b, " %s: s | MB/s | × sure | CPU s | + kernel threads s |", d)
		cols += 5
		if d == onStick {
			b.WriteString(" flushes |")
			cols++
		}
	}
	b.WriteString(" peak RSS |\n|---|")
	b.WriteString(strings.Repeat("---:|", cols))
	b.WriteString("\n")
	var errs []string
	for _, p := range sr.peers {
		fmt.Fprintf(b, "| `%s` |", p)
		var rss int64
		for _, d := range sr.dests {
			c := sr.cells[d][p]
			sure := sr.cells[d][sureName]
			if c == nil || c.err != "" || len(c.runs) == 0 {
				fmt.Fprintf(b, " %s | | | | |", seconds(c))
				if d == onStick {
					b.WriteString(" |")
				}
				if c != nil && c.err != "" {
					errs = append(errs, fmt.Sprintf("`%s` on the %s: %s", p, d, c.err))
				}
				continue
			}
			ratio := ""
			if sure != nil && len(sure.runs) > 0 {
				ratio = fmt.Sprintf("%.2f×", c.median().Seconds()/sure.median().Seconds())
			}
			fmt.Fprintf(b, " %s | %.1f | %s | %.3f | %s |", seconds(c), rate(sr.source.bytes, c.median()), ratio, c.cpu().Seconds(), r.machineSeconds(c))
			if d == onStick {
				fmt.Fprintf(b, " %d |", c.flushes())
			}
			rss = max(rss, c.maxRSS())
		}
		fmt.Fprintf(b, " %s |\n", fmtBytes(rss))
	}
	b.WriteString("\n")
	var early []string
	for _, p := range peers() {
		if !p.flushes && slices.Contains(sr.peers, p.name) {
			early = append(early, "`"+p.name+"`")
		}
	}
	if len(early) > 0 {
		fmt.Fprintf(b, "%s return with the data still in RAM: their figures measure the page cache, not the destination.\n\n", strings.Join(early, " and "))
	}
	if slices.Contains(sr.dests, onStick) {
		b.WriteString("Flushes: the cache flushes (FUSE_FSYNC) the stick received from the command's start to its exit, median over the runs; the file system's own periodic commits in that time are counted too.\n\n")
	}
	if len(sr.dests) > 0 {
		b.WriteString("CPU: user and system time of the command and the processes it waited for (wait4), median over the runs; the kernel's flusher threads, which write back what the command left dirty, are not in it.\n\n")
		if r.cfg.idle > 0 {
			fmt.Fprintf(b, "+ kernel threads: the CPU above plus the kernel threads' over the run (/proc/PID/schedstat of kthreadd's children), less their rate over %v of idle just before, median over the runs: the writeback `sync -f` leaves to the flusher, the loop device's worker and the journal count for every command. Others' I/O on the machine runs in the same threads and moves it by as much as that changes.\n\n", r.cfg.idle)
		}
	}
	if len(sr.ceiling) > 0 {
		b.WriteString("Bare device (direct 4 MiB writes of up to 1 GiB, then a flush; no file system):")
		for _, d := range sr.dests {
			fmt.Fprintf(b, " %s %.1f MB/s;", d, sr.ceiling[d]/1e6)
		}
		b.WriteString("\n\n")
	}
	for _, e := range errs {
		fmt.Fprintf(b, "- failed: %s\n", e)
	}
	r.targets(b, sr)
	b.WriteString("\n")
}

// targets judges the scenario's targets on the stick.
func (r *results) targets(b *strings.Builder, sr *scenarioResult) {
	cells := sr.cells[onStick]
	if cells == nil {
		return
	}
	sure := cells[sureName]
	if sure == nil || len(sure.runs) == 0 {
		if sr == r.small || sr == r.big {
			b.WriteString("Targets: not judged, sure cp did not complete on the stick.\n")
		}
		return
	}
	st := sure.median().Seconds()
	switch sr {
	case r.small:
		if c := cells[cpSyncName]; c != nil && len(c.runs) > 0 {
			x := st / c.median().Seconds()
			fmt.Fprintf(b, "- Target: sure cp within %.1f× of `cp -r && sync -f` on the stick: %.2f× — %s\n", targetVsCpSync, x, met(x <= targetVsCpSync))
		}
		if c := cells[rsyncSyncName]; c != nil && len(c.runs) > 0 {
			x := c.median().Seconds() / st
			fmt.Fprintf(b, "- Target: sure cp at least %.0f× faster than `rsync -a --fsync` on the stick (%v flush): %.1f× — %s\n", targetVsRsync, r.cfg.flushLat, x, met(x >= targetVsRsync))
		}
	case r.big:
		// What the stick allows is what the bare device took, or what a
		// command that flushed got through it, whichever is more: the
		// configured bandwidth is a cap the FUSE model never quite
		// reaches, since each write also pays its round trip.
		got := rate(sr.source.bytes, sure.median()) * 1e6
		allowed, by := sr.ceiling[onStick], "the bare device"
		for _, p := range peers() {
			c := cells[p.name]
			if !p.flushes || p.name == sureName || c == nil || len(c.runs) == 0 {
				continue
			}
			if pr := rate(sr.source.bytes, c.median()) * 1e6; pr > allowed {
				allowed, by = pr, "`"+p.name+"`"
			}
		}
		fmt.Fprintf(b, "- Target: sure cp at least %.2f× of the throughput the stick allows: %.1f MB/s against %.1f MB/s (%s) = %.2f× — %s (%.2f× of the configured %g MB/s)\n",
			targetBigRate, got/1e6, allowed/1e6, by, got/allowed, met(got >= targetBigRate*allowed), got/1e6/r.cfg.bandwidth, r.cfg.bandwidth)
	}
}

func (r *results) rssTable(b *strings.Builder) {
	b.WriteString("### Memory: peak RSS of `sure cp -r` as the file count grows (plain disk)\n\n")
	b.WriteString("| files | size | s | files/s | peak RSS |\n|---:|---:|---:|---:|---:|\n")
	for _, row := range r.rss {
		if row.cell.err != "" || len(row.cell.runs) == 0 {
			fmt.Fprintf(b, "| %d | %s | failed: %s | | |\n", row.source.files, fmtBytes(row.source.bytes), row.cell.err)
			continue
		}
		m := row.cell.median()
		fmt.Fprintf(b, "| %d | %s | %.2f | %.0f | %s |\n", row.source.files, fmtBytes(row.source.bytes), m.Seconds(),
			float64(row.source.files)/m.Seconds(), fmtBytes(row.cell.maxRSS()))
	}
	if r.rssExact {
		b.WriteString("\nOne run per size; peak RSS from GNU time's %M.\n")
	} else {
		b.WriteString("\nOne run per size; peak RSS from wait4, since GNU time was missing: each figure is at least the bench's own peak RSS.\n")
	}
	first, last := r.rss[0], r.rss[len(r.rss)-1]
	if len(r.rss) > 1 && first.cell.maxRSS() > 0 && last.cell.maxRSS() > 0 && last.source.files > first.source.files {
		growth := float64(last.cell.maxRSS()) / float64(first.cell.maxRSS())
		files := float64(last.source.files) / float64(first.source.files)
		fmt.Fprintf(b, "- Target: memory bounded as the file count grows (peak RSS grows less than %.0f× while the files grow %d×): %.0f× the files, %.2f× the RSS — %s\n",
			targetRSSGrowth, fileCountForRSS, files, growth, met(growth < targetRSSGrowth))
	}
	b.WriteString("\n")
}

func (r *results) dirtyTable(b *strings.Builder) {
	d := r.dirty
	fmt.Fprintf(b, "### Dirty memory and progress honesty: one %s file onto the stick at %g MB/s\n\n", fmtBytes(d.size), d.bandwidth)
	bound := fmt.Sprintf("sure ran with `--max-dirty %d`", d.bound)
	if !d.boundFlag {
		bound = "this sure has no `--max-dirty` yet; the bound judged is the planned default"
	}
	fmt.Fprintf(b, "Bound: %s (%s). Dirty+writeback sampled every %v.\n\n", fmtBytes(d.bound), bound, sampleEvery)
	b.WriteString("| command | s | peak dirty+writeback of the copy (cachestat) | peak /proc/meminfo Dirty+Writeback over start |\n|---|---:|---:|---:|\n")
	var sure, cp *dirtyRow
	for i, row := range d.rows {
		if row.err != "" {
			fmt.Fprintf(b, "| `%s` | failed: %s | | |\n", row.name, row.err)
			continue
		}
		fmt.Fprintf(b, "| `%s` | %.2f | %s | %s |\n", row.name, row.took.Seconds(), fmtBytes(row.filePeak), fmtBytes(row.memPeak))
		switch row.name {
		case "sure cp":
			sure = &d.rows[i]
		case "cp":
			cp = &d.rows[i]
		}
	}
	b.WriteString("\n")
	if sure != nil && cp != nil {
		ok := sure.filePeak <= d.bound && cp.filePeak > d.bound
		fmt.Fprintf(b, "- Target: sure cp's peak dirty memory within its bound (%s) while cp's is not: sure %s, cp %s — %s\n\n",
			fmtBytes(d.bound), fmtBytes(sure.filePeak), fmtBytes(cp.filePeak), met(ok))
	}
	b.WriteString("| progress figure | reports | max ahead of the stick | max behind the stick | stick received beyond the file, at exit |\n|---|---:|---:|---:|---:|\n")
	// sure's figures, from the binary and from the library, are judged
	// together: both must never be ahead.
	var sureEvents int
	var sureAhead int64
	var sureRows bool
	for _, row := range d.rows {
		h := row.honesty
		if h == nil {
			continue
		}
		if strings.HasPrefix(row.name, "sure") {
			sureRows = true
			sureEvents += h.events
			sureAhead = max(sureAhead, h.maxAhead)
		}
		if h.events == 0 {
			fmt.Fprintf(b, "| %s | 0 | | | |\n", h.figure)
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s |\n", h.figure, h.events, fmtSigned(h.maxAhead), fmtSigned(h.maxLag), fmtSigned(h.overhead))
	}
	b.WriteString("\n")
	switch {
	case !sureRows:
	case sureEvents == 0:
		b.WriteString("- Target: sure's progress never ahead of the device — **not judged**: sure reported no bytes on the device\n")
	default:
		fmt.Fprintf(b, "- Target: sure's progress never ahead of the device: at most %s ahead over %d reports — %s\n",
			fmtSigned(sureAhead), sureEvents, met(sureAhead <= targetHonestDiff))
	}
	b.WriteString("\n")
}

// fmtSigned formats a byte difference; 0 or less is exactly "0 B" or
// negative, never rounded up to something positive.
func fmtSigned(n int64) string {
	if n <= 0 {
		if n == 0 {
			return "0 B"
		}
		return "−" + fmtBytes(-n)
	}
	return fmtBytes(n)
}

// machineSeconds is the cell's CPU with the kernel threads', or "–" when
// it was not measured (-machine-idle 0).
func (r *results) machineSeconds(c *cell) string {
	if r.cfg.idle <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", c.withKthreads().Seconds())
}

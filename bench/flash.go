//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/tail"
	"github.com/sure-tools/sure/lab/vdisk"
)

// The flash part: an ext4 image about a quarter full of files, raw, with a
// bmap from bmaptool create, and xz-compressed, written onto a fresh
// virtual stick by sure write and by the tools people use instead. Each
// time includes the tool's own check: sure's read-back, cmp after dd,
// bmaptool's checksums while writing (it has no read-back).

// flashTool is one command of the flash part.
type flashTool struct {
	key, name, note string
	cmd             func(sure, old, img, dev string, size int64) string
}

// A goal of the flash part: sure write's peak RSS.
const targetFlashRSS = 64 << 20

func flashTools() []flashTool {
	readBack := "read-back of the mapped ranges"
	sums := "checksums while writing, no read-back"
	cmpAll := "cmp of the whole image after dropping caches"
	ddCmp := func(img, dev string, size int64) string {
		return "echo 3 > /proc/sys/vm/drop_caches && cmp -n " + strconv.FormatInt(size, 10) + " " + img + " " + dev
	}
	return []flashTool{
		{"sure-xz", "sure write IMAGE.xz (bmap found)", readBack, func(sure, _, img, dev string, _ int64) string {
			return sure + " write -q --yes " + img + ".xz " + dev
		}},
		{"sure", "sure write IMAGE (bmap found)", readBack, func(sure, _, img, dev string, _ int64) string {
			return sure + " write -q --yes " + img + " " + dev
		}},
		{"old-xz", "older sure write IMAGE.xz", "as that sure does", func(_, old, img, dev string, _ int64) string {
			return old + " write -q --yes " + img + ".xz " + dev
		}},
		{"old", "older sure write IMAGE", "as that sure does", func(_, old, img, dev string, _ int64) string {
			return old + " write -q --yes " + img + " " + dev
		}},
		{"bmaptool-xz", "bmaptool copy IMAGE.xz", sums, func(_, _, img, dev string, _ int64) string {
			return "bmaptool -q copy " + img + ".xz " + dev
		}},
		{"bmaptool", "bmaptool copy IMAGE", sums, func(_, _, img, dev string, _ int64) string {
			return "bmaptool -q copy " + img + " " + dev
		}},
		{"dd", "dd bs=4M conv=fsync + cmp", cmpAll, func(_, _, img, dev string, size int64) string {
			return "dd if=" + img + " of=" + dev + " bs=4M conv=fsync status=none && " + ddCmp(img, dev, size)
		}},
		{"xz-dd", "xz -dc \\| dd bs=4M conv=fsync + cmp", cmpAll, func(_, _, img, dev string, size int64) string {
			return "xz -dc -T2 " + img + ".xz | dd of=" + dev + " bs=4M iflag=fullblock conv=fsync status=none && " + ddCmp(img, dev, size)
		}},
	}
}

func flashKeys() []string {
	var keys []string
	for _, t := range flashTools() {
		keys = append(keys, t.key)
	}
	return keys
}

// flashResult is the flash part's table.
type flashResult struct {
	size, files int64 // the image, and the bytes of files in it
	mapped      string
	old         string
	rows        []flashRow
}

type flashRow struct {
	tool     flashTool
	runs     []runResult
	received int64 // bytes the stick received, last run
	err      string
}

// flashImage makes the image, its bmap and its .xz in dir, or uses them
// when an earlier run left them there.
func (e *env) flashImage(ctx context.Context, dir string, size int64) (img string, files int64, err error) {
	img = filepath.Join(dir, "os.img")
	stamp := img + ".files"
	if b, err := os.ReadFile(stamp); err == nil {
		if _, err := fmt.Sscan(string(b), &files); err == nil {
			if fi, err := os.Stat(img); err == nil && fi.Size() == size {
				e.logf("flash: using the image in %s", dir)
				return img, files, nil
			}
		}
	}
	sh := func(name string, args ...string) error {
		if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail.Lines(string(out), 1))
		}
		return nil
	}
	// Files of random data filling a quarter of an ext4: small ones up to
	// an eighth of the image, big ones the rest of the quarter.
	tree := filepath.Join(dir, "tree")
	defer os.RemoveAll(tree)
	nSmall := int(min(size/8/(130<<10), 2000))
	st, err := smallTree(filepath.Join(tree, "small"), nSmall, 4<<10, 256<<10, 31)
	if err != nil {
		return "", 0, err
	}
	for i := 0; st.bytes < size/4-(64<<20); i++ {
		n := min(size/4-(64<<20)-st.bytes, 128<<20)
		if _, err := bigFile(filepath.Join(tree, fmt.Sprintf("big%02d", i)), n, uint64(40+i)); err != nil {
			return "", 0, err
		}
		st.bytes += n
	}
	e.logf("flash: making %s: ext4 of %s with %s of files", img, fmtBytes(size), fmtBytes(st.bytes))
	if err := sh("mkfs.ext4", "-q", "-F", "-d", tree, img, strconv.FormatInt(size>>10, 10)+"K"); err != nil {
		return "", 0, err
	}
	if err := sh("bmaptool", "create", "-o", img+".bmap", img); err != nil {
		return "", 0, err
	}
	if err := sh("sh", "-c", "xz -T2 -1 -k -c "+img+" > "+img+".xz"); err != nil {
		return "", 0, err
	}
	return img, st.bytes, os.WriteFile(stamp, []byte(strconv.FormatInt(st.bytes, 10)), 0o644)
}

func (e *env) flash(ctx context.Context, r *results) error {
	size := int64(e.flashSize)
	dir := e.flashDir
	if dir == "" {
		dir = filepath.Join(e.work, "flash")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	img, files, err := e.flashImage(ctx, dir, size)
	if err != nil {
		return err
	}
	fr := &flashResult{size: size, files: files, old: e.flashOld}
	r.flash = fr
	out, _ := exec.Command(e.sure, "write", "--dry-run", img, "/dev/null").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "bmap ") {
			fr.mapped = l
		}
	}
	e.logf("flash: %s", fr.mapped)
	old := e.flashOld
	if old != "" {
		if old, err = filepath.Abs(old); err != nil {
			return err
		}
	}
	state := e.work
	if stickFitsInRAM(size) {
		state = e.shm
	}
	for _, tl := range flashTools() {
		if !slices.Contains(e.flashKeys, tl.key) || strings.HasPrefix(tl.key, "old") && old == "" {
			continue
		}
		row := flashRow{tool: tl}
		for i := 0; i < e.runs; i++ {
			res, received, err := e.flashRun(ctx, state, tl.cmd(e.sure, old, img, "DEV", size), size)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				row.err = err.Error()
				e.logf("flash: %s: %v", tl.name, err)
				break
			}
			e.logf("flash: %s: %.2f s, %s sent to the stick, %s, peak RSS %s", tl.name, res.took.Seconds(), fmtBytes(received), fmtFlushes(res.flushes), fmtBytes(res.maxRSS))
			row.runs = append(row.runs, res)
			row.received = received
		}
		fr.rows = append(fr.rows, row)
	}
	return nil
}

// flashRun runs command (DEV standing for the stick's loop device) once
// onto a fresh stick.
func (e *env) flashRun(ctx context.Context, stateDir, command string, size int64) (res runResult, received int64, err error) {
	state, err := os.MkdirTemp(stateDir, "flash-")
	if err != nil {
		return res, 0, err
	}
	defer os.RemoveAll(state)
	d, err := vdisk.Start(vdisk.Config{Dir: filepath.Join(state, "stick"), Size: size + 64<<20, Seed: 1})
	if err != nil {
		return res, 0, err
	}
	defer func() { err = errors.Join(err, d.Close()) }()
	dev, err := fsimage.Attach(d.Image)
	if err != nil {
		return res, 0, err
	}
	defer func() {
		d.SetFaults(vdisk.Faults{})
		err = errors.Join(err, fsimage.Detach(dev))
	}()
	if err := d.SetFaults(vdisk.Faults{BandwidthMBps: e.bandwidth, FlushLatency: e.flushLat}); err != nil {
		return res, 0, err
	}
	if err := dropCaches(); err != nil {
		return res, 0, err
	}
	before, err := d.Stats()
	if err != nil {
		return res, 0, err
	}
	command = strings.ReplaceAll(command, "DEV", dev)
	argv := []string{"sh", "-c", command}
	rssFile := filepath.Join(state, "maxrss")
	if e.gnuTime != "" {
		argv = append([]string{e.gnuTime, "-f", "%M", "-o", rssFile}, argv...)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	res.took = time.Since(start)
	if err != nil {
		return res, 0, fmt.Errorf("%s: %w: %s", command, err, tail.Lines(string(out), 1))
	}
	if res.maxRSS, err = maxRSS(cmd, rssFile); err != nil {
		return res, 0, err
	}
	after, err := d.Stats()
	if err != nil {
		return res, 0, err
	}
	res.flushes = after.Flushes - before.Flushes
	return res, after.BytesReceived - before.BytesReceived, nil
}

func (r *results) flashTable(b *strings.Builder) {
	f := r.flash
	fmt.Fprintf(b, "### sure write: an ext4 image of %s with %s of files, raw and xz, onto the stick\n\n", fmtBytes(f.size), fmtBytes(f.files))
	if f.mapped != "" {
		fmt.Fprintf(b, "%s\n\n", strings.TrimSpace(f.mapped))
	}
	if f.old != "" {
		fmt.Fprintf(b, "The older sure is %s.\n\n", f.old)
	}
	b.WriteString("| command | s | MB/s of the image | sent to the stick | flushes | peak RSS | check |\n|---|---:|---:|---:|---:|---:|---|\n")
	times := map[string]time.Duration{}
	rss := map[string]int64{}
	for _, row := range f.rows {
		if row.err != "" || len(row.runs) == 0 {
			fmt.Fprintf(b, "| %s | failed: %s | | | | | |\n", row.tool.name, row.err)
			continue
		}
		c := cell{runs: row.runs}
		m := c.median()
		times[row.tool.key], rss[row.tool.key] = m, c.maxRSS()
		fmt.Fprintf(b, "| %s | %.2f | %.1f | %s | %d | %s | %s |\n", row.tool.name, m.Seconds(), rate(f.size, m),
			fmtBytes(row.received), c.flushes(), fmtBytes(c.maxRSS()), row.tool.note)
	}
	fmt.Fprintf(b, "\nMedians over up to %d runs; peak RSS is the largest over the runs, of the pipeline's largest process (GNU time's %%M).\n\n", r.cfg.runs)
	ratio := func(a, b string) (float64, bool) {
		ta, oka := times[a]
		tb, okb := times[b]
		return tb.Seconds() / ta.Seconds(), oka && okb && ta > 0
	}
	if x, ok := ratio("sure", "dd"); ok {
		y, _ := ratio("sure-xz", "xz-dd")
		fmt.Fprintf(b, "- Target: sure write at least 3× faster than dd: raw %.1f×, xz %.1f× — %s\n", x, y, met(x >= 3 && y >= 3))
	}
	if x, ok := ratio("sure", "bmaptool"); ok {
		y, _ := ratio("sure-xz", "bmaptool-xz")
		fmt.Fprintf(b, "- Target: sure write at least as fast as bmaptool copy: raw %.2f×, xz %.2f× — %s\n", x, y, met(x >= 1 && y >= 1))
	}
	if x, ok := ratio("sure-xz", "old-xz"); ok {
		fmt.Fprintf(b, "- Against the older sure: xz %.2f× its speed", x)
		if y, ok := ratio("sure", "old"); ok {
			fmt.Fprintf(b, ", raw %.2f×", y)
		}
		b.WriteString("\n")
	}
	var peak int64
	for _, k := range []string{"sure", "sure-xz"} {
		peak = max(peak, rss[k])
	}
	if peak > 0 {
		fmt.Fprintf(b, "- Target: sure write's peak RSS at most %s: %s — %s\n", fmtBytes(targetFlashRSS), fmtBytes(peak), met(peak <= targetFlashRSS))
	}
	b.WriteString("\n")
}

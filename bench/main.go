//go:build linux

// Command bench measures sure cp against its peers (cp, cp && sync -f,
// rsync, dd) on the virtual USB stick of the power-cut lab and on a plain
// disk, and prints a markdown table: medians over several runs, ratios
// against sure cp, and the targets (report.go) marked met or not met. A
// second part measures dirty page-cache memory and progress honesty on a
// slow stick. See docs/bench.md.
//
// It needs root (loop devices, mount, drop_caches) and /dev/fuse:
//
//	go run ./bench -quick          # about two minutes
//	go run ./bench -o docs/...     # the full suite
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// config is everything the flags choose.
type config struct {
	runs     int
	onceOver time.Duration
	idle     time.Duration // the idle stretch before each run that the kernel threads' CPU is measured against
	only     []string
	peers    []string // peer keys; empty: all
	dests    []string

	smallFiles int
	smallMin   size
	smallMax   size
	bigSize    size
	photoSize  size
	rssFiles   []int

	fs        string
	bandwidth float64
	flushLat  time.Duration

	dirtySize size
	dirtyBW   float64
	maxDirty  size

	flashSize size
	flashKeys []string // flashTools keys
	flashOld  string   // an older sure binary, for the old* tools
	flashDir  string   // where the flash part's image is made or found again

	dir  string
	sure string
	out  string
	log  io.Writer
	args []string // the command line, for the report
}

// scenarios, in the order they run and print.
var allParts = []string{"small", "big", "photo", "rss", "dirty", "flash"}

// defaultParts run when -only is not given: sure cp's. The flash part
// (sure write) has tools of its own to install and runs on demand.
var defaultParts = []string{"small", "big", "photo", "rss", "dirty"}

func main() {
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := run(ctx, c)
	if r != nil {
		report := r.markdown()
		fmt.Print(report)
		if c.out != "" {
			if werr := os.WriteFile(c.out, []byte(report), 0o644); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	c := &config{log: os.Stderr, args: args}
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fl.Bool("quick", false, "small sizes and one run each: the whole suite in about two minutes")
	var only, rss, peerList, destList, flashList string
	fl.IntVar(&c.runs, "n", 3, "runs per command and destination; the table shows medians")
	fl.DurationVar(&c.onceOver, "once-over", 2*time.Minute, "run a command only once where its first run took longer than this (0: always -n runs)")
	fl.DurationVar(&c.idle, "machine-idle", time.Second, "idle stretch before each run whose kernel-thread CPU is subtracted from theirs over the run (0: no kernel-thread figure)")
	fl.StringVar(&only, "only", strings.Join(defaultParts, ","), "parts to run: "+strings.Join(allParts, ","))
	fl.StringVar(&peerList, "peers", "", "commands to run, by key: "+strings.Join(peerKeys(), ",")+" (default all)")
	fl.StringVar(&destList, "dests", onStick+","+onPlain, "destinations of the small, big and photo parts: "+onStick+","+onPlain)
	fl.IntVar(&c.smallFiles, "files", 20000, "files of the many-small-files tree")
	c.smallMin, c.smallMax = 1<<10, 64<<10
	fl.Var(&c.smallMin, "min-size", "smallest file of the small-files trees")
	fl.Var(&c.smallMax, "max-size", "largest file of the small-files trees")
	c.bigSize = 4 << 30
	fl.Var(&c.bigSize, "big", "size of the single big file")
	c.photoSize = 1 << 30
	fl.Var(&c.photoSize, "photo", "total size of the photo-library tree")
	fl.StringVar(&rss, "rss-files", "20000,200000", "file counts of the peak-RSS runs of sure cp (plain disk)")
	fl.StringVar(&c.fs, "fs", "ext4", "file system on both destinations: ext4, xfs, btrfs, exfat, vfat")
	fl.Float64Var(&c.bandwidth, "bandwidth", 100, "write bandwidth of the virtual stick, MB/s")
	fl.DurationVar(&c.flushLat, "flush-latency", 10*time.Millisecond, "time each cache flush takes on the virtual stick")
	c.dirtySize = 1 << 30
	fl.Var(&c.dirtySize, "dirty-size", "file size of the dirty-memory and progress benchmark")
	fl.Float64Var(&c.dirtyBW, "dirty-bandwidth", 40, "stick bandwidth of the dirty-memory benchmark, MB/s")
	c.maxDirty = 64 << 20
	fl.Var(&c.maxDirty, "max-dirty", "sure's dirty-memory bound, passed as --max-dirty when sure has it")
	c.flashSize = 2 << 30
	fl.Var(&c.flashSize, "flash-size", "size of the flash part's disk image (a quarter of it holds files)")
	fl.StringVar(&flashList, "flash-tools", "sure-xz,sure,old-xz,old,bmaptool-xz,bmaptool,dd,xz-dd", "commands of the flash part, by key: "+strings.Join(flashKeys(), ",")+" (old* only with -flash-old)")
	fl.StringVar(&c.flashOld, "flash-old", "", "an older sure binary, written with alongside the one under test (flash part)")
	fl.StringVar(&c.flashDir, "flash-image", "", "directory where the flash part makes its image and keeps it, or finds it again (default: made in the work directory each run)")
	fl.StringVar(&c.dir, "dir", "/var/tmp", "where the plain-disk images and the stick's state live (a work directory is made inside)")
	fl.StringVar(&c.sure, "sure", "", "sure binary under test (default: built from ./cmd/sure of this checkout)")
	fl.StringVar(&c.out, "o", "", "also write the markdown report to this file")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	if *quick {
		set := map[string]bool{}
		fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("n", func() { c.runs = 1 })
		def("machine-idle", func() { c.idle = 250 * time.Millisecond })
		def("files", func() { c.smallFiles = 1000 })
		def("big", func() { c.bigSize = 256 << 20 })
		def("photo", func() { c.photoSize = 128 << 20 })
		def("rss-files", func() { rss = "2000,20000" })
		def("dirty-size", func() { c.dirtySize = 256 << 20 })
		def("flash-size", func() { c.flashSize = 256 << 20 })
	}
	for _, l := range []struct {
		flag, list, what string
		known            []string
		to               *[]string
	}{
		{"only", only, "part", allParts, &c.only},
		{"peers", peerList, "command", peerKeys(), &c.peers},
		{"flash-tools", flashList, "command", flashKeys(), &c.flashKeys},
		{"dests", destList, "destination", []string{onStick, onPlain}, &c.dests},
	} {
		for _, k := range strings.Split(l.list, ",") {
			if k = strings.TrimSpace(k); k == "" {
				continue
			}
			if !slices.Contains(l.known, k) {
				return nil, fmt.Errorf("-%s: unknown %s %q (known: %s)", l.flag, l.what, k, strings.Join(l.known, ", "))
			}
			*l.to = append(*l.to, k)
		}
	}
	if len(c.dests) == 0 {
		return nil, errors.New("-dests: no destination")
	}
	for _, s := range strings.Split(rss, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("-rss-files: %q is not a file count", s)
		}
		c.rssFiles = append(c.rssFiles, n)
	}
	switch {
	case c.runs < 1:
		return nil, errors.New("-n must be at least 1")
	case c.idle < 0:
		return nil, errors.New("-machine-idle must not be negative")
	case c.smallMin < 1 || c.smallMax < c.smallMin:
		return nil, errors.New("-min-size must be at least 1 and at most -max-size")
	case c.bandwidth <= 0 || c.dirtyBW <= 0:
		return nil, errors.New("the stick's bandwidth must be positive (an unlimited stick has no throughput to compare with)")
	}
	return c, nil
}

func (c *config) wants(part string) bool { return slices.Contains(c.only, part) }

func (c *config) logf(format string, a ...any) {
	fmt.Fprintf(c.log, "bench: "+format+"\n", a...)
}

// env is the machinery shared by all parts: the work directory, the source
// tmpfs and the binary under test.
type env struct {
	*config
	work string // work directory under c.dir: images and stick state
	src  string // tmpfs for source trees
	shm  string // tmpfs for the sticks' state, when it fits (see stickFitsInRAM)
	// stickOnDisk is set once a stick kept its state in c.dir, for the
	// report.
	stickOnDisk bool
	sure        string
	// Flags of the binary under test that the dirty benchmark uses when
	// they exist.
	hasMaxDirty bool
	hasJSON     bool
	// gnuTime is GNU time, which measures a command's peak RSS without
	// the bench's own (see maxRSS); "" when missing.
	gnuTime string
}

// run runs the parts c asks for. The results are returned even when a part
// failed, so that what was measured before is reported.
func run(ctx context.Context, c *config) (r *results, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root: loop devices, mount and /proc/sys/vm/drop_caches")
	}
	tools := []string{"losetup", "dd"}
	if slices.ContainsFunc(c.only, func(p string) bool { return slices.Contains(defaultParts, p) }) {
		tools = append(tools, "mkfs."+c.fs, "cp", "sync", "rsync")
	}
	if c.wants("flash") {
		tools = append(tools, "mkfs.ext4", "bmaptool", "xz", "cmp")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed", tool)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, errors.New("/dev/fuse is missing: the virtual stick is a FUSE server")
	}
	e := &env{config: c}
	if e.work, err = os.MkdirTemp(c.dir, "sure-bench-"); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, e.cleanup()) }()
	e.src = filepath.Join(e.work, "src")
	e.shm = filepath.Join(e.work, "shm")
	for _, d := range []string{e.src, e.shm} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", 0, "mode=0755"); err != nil {
			return nil, &os.PathError{Op: "mount tmpfs", Path: d, Err: err}
		}
	}
	if e.sure, err = e.buildSure(ctx); err != nil {
		return nil, err
	}
	help, _ := exec.Command(e.sure, "cp", "--help").CombinedOutput()
	e.hasMaxDirty = strings.Contains(string(help), "--max-dirty")
	e.hasJSON = strings.Contains(string(help), "--json")
	if p, err := exec.LookPath("time"); err == nil {
		if v, err := exec.Command(p, "--version").CombinedOutput(); err == nil && strings.Contains(string(v), "GNU") {
			e.gnuTime = p
		}
	}
	if e.gnuTime == "" {
		c.logf("GNU time is missing: peak RSS figures will include the bench's own (install the Debian package time)")
	}

	r = &results{cfg: c, env: e, started: time.Now(), rssExact: e.gnuTime != ""}
	r.machine = machine()
	r.sureVersion = gitDescribe()
	steps := []struct {
		part string
		f    func(context.Context, *results) error
	}{
		{"small", e.small},
		{"big", e.big},
		{"photo", e.photo},
		{"rss", e.rss},
		{"dirty", e.dirty},
		{"flash", e.flash},
	}
	for _, s := range steps {
		if !c.wants(s.part) {
			continue
		}
		if err := s.f(ctx, r); err != nil {
			r.took = time.Since(r.started)
			return r, fmt.Errorf("%s: %w", s.part, err)
		}
	}
	r.took = time.Since(r.started)
	return r, nil
}

// buildSure builds the binary under test from this checkout unless -sure
// names one.
func (e *env) buildSure(ctx context.Context) (string, error) {
	if e.config.sure != "" {
		return filepath.Abs(e.config.sure)
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the sure checkout: run from it or pass -sure")
	}
	bin := filepath.Join(e.work, "sure")
	e.logf("building %s from %s", bin, filepath.Dir(mod))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sure")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sure: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

func (e *env) cleanup() error {
	var errs []error
	for _, d := range []string{e.src, e.shm} {
		if d == "" {
			continue
		}
		if err := unix.Unmount(d, 0); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, &os.PathError{Op: "umount", Path: d, Err: err})
		}
	}
	if len(errs) == 0 {
		errs = append(errs, os.RemoveAll(e.work))
	} else {
		errs = append(errs, fmt.Errorf("left %s in place", e.work))
	}
	return errors.Join(errs...)
}

// machine describes where the figures were taken.
func machine() string {
	var u unix.Utsname
	unix.Uname(&u)
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	mem := float64(si.Totalram) * float64(si.Unit) / (1 << 30)
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %.0f GiB RAM, Linux %s", numCPU(), cpu, mem, unix.ByteSliceToString(u.Release[:]))
}

func numCPU() int {
	var s unix.CPUSet
	if unix.SchedGetaffinity(0, &s) != nil {
		return 0
	}
	return s.Count()
}

func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

//go:build linux

package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sure-tools/sure/internal/tail"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sure-tools/sure/lab/powercut"
	"github.com/sure-tools/sure/lab/vdisk"
)

// A crash campaign in the VM lab records one run of a command on a USB
// stick whose image lab/vdisk serves with recording on, the guest
// kernel's driver writing it, and checks the states lab/powercut
// generates from that recording in a guest too: the host has no vfat,
// exfat or ntfs3. One guest boot checks a whole batch of states, each
// mounted from a loop device as a desktop mounts a stick (udisks2's
// options, no fsck), and the host judges each listing with the
// explorer's oracle.

// CrashConfig describes a campaign in the VM lab.
type CrashConfig struct {
	powercut.CrashConfig
	Suite string // kernel: Trixie (default) or Bookworm
	// UID runs the command and owns the mount, as the desktop's user;
	// 0 means DesktopUID, -1 root.
	UID int
	// Sure is a sure binary, copied into the guest's share as $SURE for
	// the command; "" for none.
	Sure string
	// Batch is the number of states one guest boot checks; 0 means
	// DefaultBatch.
	Batch int
}

// DesktopUID is the desktop user of the lab's guests.
const DesktopUID = 1000

// DefaultBatch is the states one guest boot checks. A boot costs about 10
// s under TCG, a state about a third of one here; a batch bounds what a
// guest that died on one state (a driver crash) would take with it.
const DefaultBatch = 1000

// guestMnt is where the stick is mounted in the guest while recording;
// $DST.
const guestMnt = "/mnt/s"

func (c *CrashConfig) defaults() error {
	if c.Suite == "" {
		c.Suite = Trixie
	}
	if c.UID == 0 {
		c.UID = DesktopUID
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Size == 0 {
		c.Size = 128 << 20
	}
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Minute
	}
	if _, ok := desktopOptions[c.FS]; !ok {
		return fmt.Errorf("vm: crash campaigns on %q: want vfat, exfat or ntfs3", c.FS)
	}
	return c.CrashConfig.Defaults()
}

// desktopOptions are udisks2's default mount options (for the owner uid
// and gid), besides nosuid and nodev.
var desktopOptions = map[string]string{
	"vfat":  "uid=%[1]d,gid=%[1]d,shortname=mixed,utf8=1,showexec,flush",
	"exfat": "uid=%[1]d,gid=%[1]d,iocharset=utf8,errors=remount-ro",
	"ntfs3": "uid=%[1]d,gid=%[1]d,windows_names",
}

func mountOptions(fs string, uid int) string {
	return fmt.Sprintf(desktopOptions[fs], max(uid, 0))
}

// mkfsCommand formats dev as fs, labelled STICK.
func mkfsCommand(fs, dev string) string {
	switch fs {
	case "vfat":
		return "mkfs.vfat -F 32 -n STICK " + dev + " >/dev/null"
	case "exfat":
		return "mkfs.exfat -L STICK " + dev + " >/dev/null"
	case "ntfs3":
		return "mkntfs -Q -F -L STICK " + dev + " >/dev/null"
	}
	return "mkfs.ext4 -q -F -L STICK " + dev
}

// CrashLab is a guest that records runs and checks crash states.
type CrashLab struct {
	v       *VM
	checker string // this binary, in the share
	sure    string // $SURE in the share, once copied
	n       int
}

// NewCrashLab boots a guest of kernel k for crash campaigns.
func NewCrashLab(ctx context.Context, k *Kernel) (*CrashLab, error) {
	v, err := Boot(ctx, Config{Kernel: k})
	if err != nil {
		return nil, err
	}
	l := &CrashLab{v: v, checker: filepath.Join(v.Dir, "checker")}
	exe, err := os.Executable()
	if err == nil {
		err = copyFile(l.checker, exe, 0o755)
	}
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("vm: %w", err)
	}
	return l, nil
}

// Close powers the guest off.
func (l *CrashLab) Close() error { return l.v.Close() }

func copyFile(dst, src string, perm os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, perm)
}

// Record runs c's command once in the guest, on a fresh stick served by
// lab/vdisk and recording, and saves the run in c.Dir as
// powercut.Record does: each line of the command's output is stamped
// with the stick's event count when the host read it, and so is the
// exit.
func (l *CrashLab) Record(ctx context.Context, c CrashConfig) (*powercut.CrashRun, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	l.n++
	work := filepath.Join(l.v.Dir, fmt.Sprintf("rec%d", l.n))
	defer os.RemoveAll(work)
	srcRoot := filepath.Join(work, "source")
	src := filepath.Join(srcRoot, "src")
	tree := src
	if c.Work == powercut.MoveWithin {
		tree = filepath.Join(work, "within", "src")
	}
	old := filepath.Join(work, "old", "src")
	newT, oldT, err := powercut.WriteTrees(c.CrashConfig, tree, old)
	if err != nil {
		return nil, err
	}
	if c.UID > 0 {
		if err := chownTree(srcRoot, c.UID); err != nil {
			return nil, err
		}
	}
	if c.Sure != "" && l.sure == "" {
		l.sure = filepath.Join(l.v.Dir, "sure")
		if err := copyFile(l.sure, c.Sure, 0o755); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
	}
	vc := vdisk.Config{Dir: filepath.Join(work, "vdisk"), Size: c.Size, Seed: c.Seed}
	if c.Work == powercut.Move {
		vc.Source = srcRoot
	}
	d, err := vdisk.Start(vc)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if c.Work == powercut.Move {
		src = filepath.Join(d.Source, "src")
	}
	id := fmt.Sprintf("rec%d", l.n)
	disk, err := l.v.AttachStick(ctx, id, Stick{Image: d.Image})
	if err != nil {
		return nil, err
	}
	dev := "/dev/" + disk
	opts := mountOptions(c.FS, c.UID)
	mount := fmt.Sprintf("mount -t %s -o nosuid,nodev,%s %s %s", c.FS, opts, dev, guestMnt)
	prep := []string{"set -e", "mkdir -p " + guestMnt, mkfsCommand(c.FS, dev)}
	switch c.Work {
	case powercut.Overwrite:
		prep = append(prep, mount, "cp -r "+shQuote(old)+" "+guestMnt+"/", "umount "+guestMnt)
	case powercut.MoveWithin:
		prep = append(prep, mount, "mkdir -p "+guestMnt+"/from", "cp -r "+shQuote(tree)+" "+guestMnt+"/from/", "umount "+guestMnt)
		src = guestMnt + "/from/src"
	}
	// fsync of the device writes back what the mkfs and the old tree
	// left in its page cache and sends a FLUSH: the run starts durable.
	prep = append(prep, "sync "+dev, mount)
	if _, err := l.v.MustRun(ctx, strings.Join(prep, "\n")); err != nil {
		return nil, err
	}
	defer l.v.DetachStick(context.Background(), id)
	defer l.v.Run(context.Background(), "umount "+guestMnt+" 2>/dev/null")
	run := &powercut.CrashRun{FS: c.FS, Work: c.Work, Command: c.Command, Seed: c.Seed, States: c.States, Shape: c.Shape,
		TearUnit: c.TearUnit, New: newT, Old: oldT, Acks: map[string]int64{}, Atomic: c.Atomic, SourceOrdered: c.Work == powercut.Move,
		Guest: &powercut.Guest{Suite: c.Suite, Kernel: l.v.Kernel.Version, UID: max(c.UID, 0), Options: opts}}
	if err := d.Record(vdisk.RecordOptions{Dir: filepath.Join(c.Dir, "rec")}); err != nil {
		return nil, err
	}
	env := fmt.Sprintf("export SRC=%s DST=%s DEV=%s STICK_PID=0 SURE=%s\n", shQuote(src), guestMnt, dev, shQuote(l.sure))
	for _, e := range c.Env {
		env += "export " + shQuote(e) + "\n"
	}
	script := env + "cd /tmp\n" + c.Command + "\n"
	var j *Job
	if c.UID > 0 {
		j, err = l.v.StartAs(c.UID, c.UID, script)
	} else {
		j, err = l.v.Start(script)
	}
	if err != nil {
		return nil, err
	}
	var re *regexp.Regexp
	if c.AckPattern != "" {
		re = regexp.MustCompile(c.AckPattern)
	}
	// The guest writes the job's output to the share as it goes; each
	// line is stamped when the host first sees it, as soon after the
	// command printed it as polling allows. The count read before the
	// previous look at the output, which did not hold the line yet, is
	// kept too: the line was printed between the two.
	dst := guestMnt + "/src"
	seen := 0
	var lo, next int64
	run.AckFrom = map[string]int64{}
	stamp := func(out string) error {
		for {
			nl := strings.IndexByte(out[seen:], '\n')
			if nl < 0 {
				return nil
			}
			st, err := d.Stats()
			if err != nil {
				return err
			}
			if rel := run.NoteLine(re, dst, out[seen:seen+nl], st.Seq); rel != "" {
				run.AckFrom[rel] = lo
			}
			seen += nl + 1
		}
	}
	deadline := time.Now().Add(c.Timeout)
	for !j.Done() {
		st, err := d.Stats()
		if err != nil {
			return nil, err
		}
		lo, next = next, st.Seq
		if err := stamp(j.Output()); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("vm: %q timed out after %v", c.Command, c.Timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	st, err := d.Stats()
	if err != nil {
		return nil, err
	}
	run.ExitSeq = st.Seq
	if run.Events, err = d.Unrecord(); err != nil {
		return nil, err
	}
	r, err := j.Wait(ctx)
	if err != nil {
		return nil, err
	}
	if err := stamp(r.Output + "\n"); err != nil {
		return nil, err
	}
	run.ExitCode = r.Status
	run.Output = lastChars(strings.TrimSpace(r.Output), 2000)
	if c.Work == powercut.Move {
		run.NoteGone(filepath.Join(srcRoot, "src"))
	}
	if err := powercut.SaveRun(c.Dir, run); err != nil {
		return nil, err
	}
	n, err := powercut.UncertainAcks(c.Dir)
	if err == nil {
		fmt.Fprintf(c.Log, "crashes: %d of %d acknowledgements were seen only after a FLUSH that may have come after them\n", n, len(run.Acks))
	}
	return run, err
}

func lastChars(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func chownTree(dir string, uid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

// Check checks n states in the guest: build(i, img) writes the i-th
// state's image to img, judge(i, reply) judges the guest's answer on it.
// Images are built a few ahead of the guest, so the host builds while the
// guest checks.
func (l *CrashLab) check(ctx context.Context, fsKind, options string, n int, build func(i int, img string) error, judge func(i int, r checkReply)) error {
	l.n++
	dir := filepath.Join(l.v.Dir, fmt.Sprintf("states%d", l.n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer os.RemoveAll(dir)
	spec, _ := json.Marshal(checkJob{Dir: dir, Mnt: "/mnt/crash", FS: fsKind, Options: options})
	j, err := l.v.Start(fmt.Sprintf("export %s=%s\nexec %s\n", checkEnv, shQuote(string(spec)), shQuote(l.checker)))
	if err != nil {
		return err
	}
	const ahead = 3
	built := 0
	for i := range n {
		for ; built < n && built-i < ahead; built++ {
			base := stateBase(dir, built)
			if err := build(built, base+".tmp"); err != nil {
				return err
			}
			if err := os.Rename(base+".tmp", base+".img"); err != nil {
				return fmt.Errorf("vm: %w", err)
			}
		}
		base := stateBase(dir, i)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := l.v.waitFile(wctx, base+".json")
		cancel()
		if err != nil {
			return fmt.Errorf("vm: crash state %d of the batch: %w\nchecker: %s\n%s", i, err, tail.Lines(j.Output(), 5), l.v.consoleTail())
		}
		b, err := os.ReadFile(base + ".json")
		if err != nil {
			return fmt.Errorf("vm: %w", err)
		}
		var r checkReply
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("vm: %s: %w", base+".json", err)
		}
		if r.LabErr != "" {
			return fmt.Errorf("vm: checking crash state %d of the batch: %s", i, r.LabErr)
		}
		os.Remove(base + ".img")
		os.Remove(base + ".json")
		judge(i, r)
	}
	if err := os.WriteFile(filepath.Join(dir, endFile), nil, 0o644); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	r, err := j.Wait(ctx)
	if err != nil {
		return err
	}
	if r.Status != 0 {
		return fmt.Errorf("vm: the checker exited %d: %s", r.Status, tail.Lines(r.Output, 5))
	}
	return nil
}

// judgeReply turns the guest's answer on a state into the oracle's
// verdict.
func judgeReply(e *powercut.Explorer, st powercut.CrashState, r checkReply) powercut.StateResult {
	var problems []string
	for _, k := range r.Kernel {
		problems = append(problems, "kernel: "+k)
	}
	var merr error
	if r.MountErr != "" {
		merr = errors.New(r.MountErr)
	}
	return e.Judge(st, r.Listing, merr, problems)
}

// CheckStates checks states of the run e in this guest, each built by b,
// in order.
func (l *CrashLab) CheckStates(ctx context.Context, e *powercut.Explorer, b *powercut.StateBuilder, states []powercut.CrashState) ([]powercut.StateResult, error) {
	g := e.Run.Guest
	if g == nil {
		return nil, errors.New("vm: the run was not recorded in the VM lab")
	}
	out := make([]powercut.StateResult, len(states))
	err := l.check(ctx, e.Run.FS, g.Options, len(states),
		func(i int, img string) error { return b.Build(img, states[i]) },
		func(i int, r checkReply) { out[i] = judgeReply(e, states[i], r) })
	return out, err
}

// ExploreCrashes records a run of c's command in a guest (unless c.Dir
// holds one recorded with the same settings) and checks c.States of its
// crash states, or c.Slice of them, c.Batch per guest boot, saving the
// verdicts for powercut.SumResults.
func ExploreCrashes(ctx context.Context, c CrashConfig) (powercut.CrashResult, error) {
	if err := c.defaults(); err != nil {
		return powercut.CrashResult{}, err
	}
	log := c.Log
	k, err := FetchKernel(ctx, c.Suite)
	if err != nil {
		return powercut.CrashResult{}, err
	}
	var lab *CrashLab
	defer func() {
		if lab != nil {
			lab.Close()
		}
	}()
	boot := func() error {
		if lab != nil {
			return nil
		}
		t := time.Now()
		lab, err = NewCrashLab(ctx, k)
		if err == nil {
			fmt.Fprintf(log, "crashes: booted %s in %.1f s\n", k.Version, time.Since(t).Seconds())
		}
		return err
	}
	run, err := powercut.LoadRun(c.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := boot(); err != nil {
			return powercut.CrashResult{}, err
		}
		fmt.Fprintf(log, "crashes: recording one run of %q on %s in a %s guest\n", c.Command, c.FS, k.Version)
		if _, err := lab.Record(ctx, c); err != nil {
			return powercut.CrashResult{}, err
		}
	case err != nil:
		return powercut.CrashResult{}, err
	default:
		if err := c.SameRun(run); err != nil {
			return powercut.CrashResult{}, err
		}
		if run.Guest == nil || run.Guest.Suite != c.Suite {
			return powercut.CrashResult{}, fmt.Errorf("vm: %s holds a run not recorded in a %s guest", c.Dir, c.Suite)
		}
		fmt.Fprintf(log, "crashes: exploring the run recorded in %s\n", c.Dir)
	}
	e, err := powercut.OpenExplorer(c.Dir)
	if err != nil {
		return powercut.CrashResult{}, err
	}
	defer e.Close()
	from, to := c.Slice.Bounds(len(e.States))
	fmt.Fprintf(log, "crashes: %d events in %d epochs, %d states, checking IDs %d to %d\n", e.Events(), e.Epochs(), len(e.States), from, to-1)
	b, err := e.NewBuilder(filepath.Join(c.Dir, "epoch.img"))
	if err != nil {
		return powercut.CrashResult{}, err
	}
	defer b.Close()
	var results []powercut.StateResult
	for start := from; start < to; start += c.Batch {
		if err := boot(); err != nil {
			return powercut.CrashResult{}, err
		}
		batch := e.States[start:min(start+c.Batch, to)]
		t := time.Now()
		rs, err := lab.CheckStates(ctx, e, b, batch)
		if err != nil {
			return powercut.CrashResult{}, err
		}
		for _, r := range rs {
			if r.Bad() {
				fmt.Fprintln(log, r)
			}
		}
		results = append(results, rs...)
		secs := time.Since(t).Seconds()
		fmt.Fprintf(log, "crashes: states %d to %d checked in %.0f s (%.2f states/s)\n", batch[0].ID, batch[len(batch)-1].ID, secs, float64(len(batch))/secs)
		lab.Close()
		lab = nil
	}
	return e.Finish(from, to, results)
}

// ReplayCrash rebuilds state id of the VM run recorded in dir, checks it
// in a guest of the kernel that recorded it and leaves its image
// (returned), as the cut left it, in dir.
func ReplayCrash(ctx context.Context, dir string, id int, log io.Writer) (powercut.StateResult, string, error) {
	e, err := powercut.OpenExplorer(dir)
	if err != nil {
		return powercut.StateResult{}, "", err
	}
	defer e.Close()
	g := e.Run.Guest
	if g == nil {
		return powercut.StateResult{}, "", fmt.Errorf("vm: %s holds a run recorded on the host", dir)
	}
	st, img, err := e.ReplayImage(id)
	if err != nil {
		return powercut.StateResult{}, "", err
	}
	k, err := FetchKernel(ctx, g.Suite)
	if err != nil {
		return powercut.StateResult{}, "", err
	}
	if k.Version != g.Kernel {
		fmt.Fprintf(log, "crashes: warning: recorded on %s, checked on %s\n", g.Kernel, k.Version)
	}
	lab, err := NewCrashLab(ctx, k)
	if err != nil {
		return powercut.StateResult{}, "", err
	}
	defer lab.Close()
	var res powercut.StateResult
	err = lab.check(ctx, e.Run.FS, g.Options, 1,
		func(_ int, out string) error { return vdisk.CopyImage(out, img) },
		func(_ int, r checkReply) { res = judgeReply(e, st, r) })
	return res, img, err
}

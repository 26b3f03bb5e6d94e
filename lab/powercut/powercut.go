//go:build linux

// Package powercut runs a command that writes to a virtual USB stick, cuts
// the stick's power at a random instant during the run or right after the
// command returns, and checks the crash image against an oracle:
//
//   - acked_lost: a file the command acknowledged (it exited 0 before the
//     cut, or, with Config.AckPattern, named the file in its output before
//     the cut) is missing or not its new content;
//   - torn: a final path holds something that is neither the old complete
//     content nor the new one (temp files .sure-*.tmp are not final paths);
//   - lost_both: for moves, a file intact neither on the stick nor in the
//     source.
//
// Every trial uses a fresh stick (vdisk + loop device + mkfs). The crash
// image is examined on a fresh loop device, never through the live mount,
// whose page cache still holds what the stick lost.
package powercut

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/tail"
	"github.com/sure-tools/sure/lab/vdisk"
)

// When the power goes.
const (
	During = "during" // at a random instant while the command runs
	After  = "after"  // right after the command returns
)

// Work is what the command is expected to do with $SRC.
const (
	Copy      = "copy"      // copy $SRC to $DST/src on an empty stick
	Overwrite = "overwrite" // the same, over old versions already durable on the stick
	Move      = "move"      // move $SRC to $DST/src: each file must survive somewhere
	// MoveWithin moves a tree already durable on the stick ($SRC is
	// $DST/from/src) to $DST/src: a rename, or a copy where the file
	// system cannot rename a directory. Each file must survive in one of
	// the two places on the stick.
	MoveWithin = "move-within"
)

// Eject is a shell snippet that makes a stick durable the way an eject
// does, on every file system: unmount, wait for a FUSE server (fusefat's
// unmount returns before it has written the volume), then fsync the block
// device, which sends the cache flush. A command may end with it.
const Eject = `umount "$DST" && while [ "$STICK_PID" != 0 ] && kill -0 "$STICK_PID" 2>/dev/null; do sleep 0.05; done && sync "$DEV"`

// ErrCalibration says the command failed in the uncut run that times a
// campaign of cuts during the run (rsync on FAT, which cannot set owners):
// there is nothing to cut.
var ErrCalibration = errors.New("powercut: the calibration run (no cut) failed")

// Config describes a campaign.
type Config struct {
	FS   string // ext4, xfs, btrfs, exfat, vfat
	When string // During or After
	Work string // Copy, Overwrite or Move
	// Command runs with sh -c. $SRC is the source tree, $DST the stick's
	// mount point, $DEV its block device, $STICK_PID the FUSE server of an
	// exfat or vfat stick (0 otherwise), so a command can eject the stick.
	Command string
	Trials  int
	Seed    uint64 // trial i uses Seed+i; the seed printed for a trial reproduces it
	Shape   Shape
	Size    int64  // stick size; 0 picks max(fsimage.MinSize, 128 MiB)
	CutMode string // vdisk.CutPrefix or vdisk.CutSubset; "" draws one per trial
	Faults  vdisk.Faults
	Dir     string        // scratch directory; "" uses a new temp directory
	Env     []string      // extra environment for the command (PATH to a sure binary, ...)
	Timeout time.Duration // per command run; 0 means 5 minutes
	Log     io.Writer     // one line per trial, nil for none
	// Calibration is how long the command runs without a cut. During
	// cuts land uniformly in [0, Calibration). Run measures it when zero.
	Calibration time.Duration
	// AckPattern, when set, is a regular expression matched against each
	// line the command printed before the cut: its first group is the path
	// of a file it acknowledged as durable (sure cp -v prints
	// 'SRC' -> 'DST'). Those files must survive a cut during the run too.
	// A line printed after the cut cannot name a file: the stick fails
	// every I/O from the cut on, so no later flush succeeds.
	AckPattern string

	// sourceMount serves $SRC through the stick's source mount, so that
	// a recording orders its removals (crash campaigns of moves).
	sourceMount bool
}

// Trial is the outcome of one power cut.
type Trial struct {
	Seed      uint64
	CutMode   string
	Tear      bool
	CutAfter  time.Duration // from the command's start
	Returned  bool          // the command had returned when the power went
	ExitCode  int           // when Returned
	Acked     int           // files the command acknowledged
	AckedLost int
	Torn      int
	LostBoth  int
	Epoch     vdisk.CutResult
	Output    string   // the command's output, last lines
	Fsck      string   // checker output, for exfat and vfat
	Mounted   bool     // the crash image mounted at all
	Problems  []string // one line per damaged file, and stray files
}

// Result sums up a campaign.
type Result struct {
	Config    Config
	Trials    []Trial
	AckedLost int
	Torn      int
	LostBoth  int
	Failed    int // trials where the command returned non-zero before the cut: nothing acknowledged
}

// Summary is the campaign's last line.
func (r Result) Summary() string {
	return fmt.Sprintf("powercut: trials=%d acked_lost=%d torn=%d lost_both=%d", len(r.Trials), r.AckedLost, r.Torn, r.LostBoth)
}

// Bad reports whether any trial lost or tore anything.
func (r Result) Bad() bool { return r.AckedLost+r.Torn+r.LostBoth > 0 }

func (c *Config) defaults() error {
	if c.FS == "" {
		c.FS = "ext4"
	}
	if c.When == "" {
		c.When = After
	}
	if c.Work == "" {
		c.Work = Copy
	}
	if c.Trials <= 0 {
		c.Trials = 1
	}
	if c.Shape == (Shape{}) {
		c.Shape = DefaultShape
	}
	if c.Size == 0 {
		c.Size = max(fsimage.MinSize(c.FS), 128<<20)
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	switch {
	case c.When != During && c.When != After:
		return fmt.Errorf("powercut: --when %q: want during or after", c.When)
	case c.Work != Copy && c.Work != Overwrite && c.Work != Move && c.Work != MoveWithin:
		return fmt.Errorf("powercut: --work %q: want copy, overwrite, move or move-within", c.Work)
	case c.Command == "":
		return errors.New("powercut: no command")
	}
	if c.AckPattern != "" {
		re, err := regexp.Compile(c.AckPattern)
		if err != nil {
			return fmt.Errorf("powercut: ack pattern: %w", err)
		}
		if re.NumSubexp() < 1 {
			return fmt.Errorf("powercut: ack pattern %q has no group for the path", c.AckPattern)
		}
	}
	return nil
}

// acks returns the files of tree that the command's output acknowledged
// by c.AckPattern, as paths relative to the copy at dst ($DST/src).
func (c Config) acks(output, dst string, tree tree) map[string]bool {
	if c.AckPattern == "" {
		return nil
	}
	re := regexp.MustCompile(c.AckPattern)
	got := map[string]bool{}
	for _, line := range strings.Split(output, "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rel, err := filepath.Rel(dst, m[1])
		if _, ok := tree[rel]; err == nil && ok {
			got[rel] = true
		}
	}
	return got
}

// Run runs a campaign. Losses are results, not errors: an error means the
// lab itself could not do its job.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := c.defaults(); err != nil {
		return Result{}, err
	}
	if c.Dir == "" {
		d, err := os.MkdirTemp("", "powercut-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(d)
		c.Dir = d
	}
	res := Result{Config: c}
	if c.When == During && c.Calibration == 0 {
		d, err := calibrate(ctx, c)
		if err != nil {
			return res, err
		}
		c.Calibration = d
		fmt.Fprintf(c.Log, "powercut: calibration run took %v\n", d.Round(time.Millisecond))
	}
	for i := range c.Trials {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		t, err := RunTrial(ctx, c, c.Seed+uint64(i))
		if err != nil {
			return res, fmt.Errorf("powercut: trial seed %d: %w", c.Seed+uint64(i), err)
		}
		res.Trials = append(res.Trials, t)
		res.AckedLost += t.AckedLost
		res.Torn += t.Torn
		res.LostBoth += t.LostBoth
		if t.Returned && t.ExitCode != 0 {
			res.Failed++
		}
		fmt.Fprintln(c.Log, t.String())
	}
	return res, nil
}

func (t Trial) String() string {
	state := "during"
	if t.Returned {
		state = fmt.Sprintf("after exit %d", t.ExitCode)
	}
	s := fmt.Sprintf("trial seed=%d cut=%s tear=%v at=%v (%s) epoch=%d kept=%d acked=%d acked_lost=%d torn=%d lost_both=%d",
		t.Seed, t.CutMode, t.Tear, t.CutAfter.Round(time.Millisecond), state, t.Epoch.EpochWrites, t.Epoch.Kept,
		t.Acked, t.AckedLost, t.Torn, t.LostBoth)
	if !t.Mounted {
		s += " unmountable"
	}
	if t.Returned && t.ExitCode != 0 {
		s += "\n  command failed: " + tail.Lines(t.Output, 1)
	}
	return s + problemLines(t.Problems)
}

// problemLines lists the first five problems a line each, indented
// under the result they belong to, and counts the rest.
func problemLines(ps []string) string {
	var s string
	for i, p := range ps {
		if i == 5 {
			s += fmt.Sprintf("\n  ... %d more", len(ps)-5)
			break
		}
		s += "\n  " + p
	}
	return s
}

// calibrate runs the command once on a fresh stick without cutting power.
func calibrate(ctx context.Context, c Config) (time.Duration, error) {
	c.When = After
	var took time.Duration
	defer os.RemoveAll(filepath.Dir(srcDir(c, c.Seed)))
	err := withStick(ctx, c, c.Seed, func(s *stick) error {
		start := time.Now()
		cmd, done, err := s.start(ctx)
		if err != nil {
			return err
		}
		select {
		case <-done:
		case <-time.After(c.Timeout):
			killGroup(cmd)
			<-done
			return fmt.Errorf("powercut: calibration run of %q timed out", c.Command)
		}
		took = time.Since(start)
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("%w: %q exited %d: %s", ErrCalibration, c.Command, code, s.output())
		}
		return nil
	})
	return took, err
}

// stick is one trial's world: a source tree and a fresh, mounted stick.
type stick struct {
	c       Config
	dir     string
	src     string
	newTree tree
	oldTree tree
	disk    *vdisk.Disk
	dev     string
	live    *fsimage.Mounted
	out     bytes.Buffer
}

// fullOutput is everything the command printed.
func (s *stick) fullOutput() string { return s.out.String() }

func (s *stick) output() string {
	b := bytes.TrimSpace(s.out.Bytes())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// srcDir is the trial's source tree: on the normal disk, outside the
// trial's directory so a move's leftovers can be judged after teardown, and
// named src so that "cp -r $SRC $DST" makes $DST/src.
func srcDir(c Config, seed uint64) string {
	return filepath.Join(c.Dir, fmt.Sprintf("source-%d", seed), "src")
}

// oldSeed draws an overwrite's old versions, so that every old file
// differs from its new version.
func oldSeed(seed uint64) uint64 { return ^seed }

// withStick sets up a trial, calls f and tears everything down whatever
// happens.
func withStick(ctx context.Context, c Config, seed uint64, f func(*stick) error) (err error) {
	s := &stick{c: c, dir: filepath.Join(c.Dir, fmt.Sprintf("trial-%d", seed))}
	os.RemoveAll(s.dir)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(s.dir)
	defer func() { err = errors.Join(err, s.teardown()) }()

	s.src = srcDir(c, seed)
	if c.Work != MoveWithin {
		if s.newTree, err = writeTree(s.src, c.Shape, seed); err != nil {
			return err
		}
	}
	vc := vdisk.Config{Dir: filepath.Join(s.dir, "vdisk"), Size: c.Size, Seed: seed}
	if c.sourceMount {
		vc.Source = filepath.Dir(s.src)
	}
	s.disk, err = vdisk.Start(vc)
	if err != nil {
		return err
	}
	if s.dev, err = fsimage.Attach(s.disk.Image); err != nil {
		return err
	}
	if err := fsimage.Mkfs(c.FS, s.dev); err != nil {
		return err
	}
	mnt := filepath.Join(s.dir, "stick")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	if c.Work == Overwrite || c.Work == MoveWithin {
		m, err := fsimage.Mount(c.FS, s.dev, mnt)
		if err != nil {
			return err
		}
		if c.Work == Overwrite {
			s.oldTree, err = writeTree(filepath.Join(mnt, "src"), c.Shape, oldSeed(seed))
		} else {
			s.newTree, err = writeTree(filepath.Join(mnt, withinSrc), c.Shape, seed)
		}
		if uerr := m.Unmount(); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
	}
	if err := s.flushDevice(); err != nil {
		return err
	}
	if err := c.setFaults(s.disk); err != nil {
		return err
	}
	if s.live, err = fsimage.Mount(c.FS, s.dev, mnt); err != nil {
		return err
	}
	if c.Work == MoveWithin {
		s.src = filepath.Join(mnt, withinSrc)
	}
	return f(s)
}

func (c Config) setFaults(d *vdisk.Disk) error {
	if c.Faults == (vdisk.Faults{}) {
		return nil
	}
	return d.SetFaults(c.Faults)
}

// flushDevice makes everything written so far durable, the way the kernel
// does it: fsync of the block device writes back its cache and sends a
// FLUSH. The stick must then have nothing left in its open epoch, or the
// trial would start from a state a cut could undo.
func (s *stick) flushDevice() error {
	f, err := os.OpenFile(s.dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("powercut: flushing %s: %w", s.dev, err)
	}
	st, err := s.disk.Stats()
	if err != nil {
		return err
	}
	if st.EpochWrites != 0 {
		return fmt.Errorf("powercut: %d writes still volatile on %s after fsync", st.EpochWrites, s.dev)
	}
	return nil
}

func (s *stick) start(ctx context.Context) (*exec.Cmd, <-chan struct{}, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", s.c.Command)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "SRC="+s.src, "DST="+s.live.Dir, "DEV="+s.dev, fmt.Sprintf("STICK_PID=%d", s.live.ServerPID()))
	cmd.Env = append(cmd.Env, s.c.Env...)
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("powercut: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return cmd, done, nil
}

func killGroup(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

// teardown removes the live stick. After a cut the device fails all I/O,
// so FUSE servers are killed rather than waited for.
func (s *stick) teardown() error {
	var errs []error
	if s.live != nil {
		st, _ := s.disk.Stats()
		if st.Yanked {
			errs = append(errs, s.live.Abort())
		} else {
			errs = append(errs, s.live.Unmount())
		}
	}
	if s.dev != "" {
		errs = append(errs, fsimage.Detach(s.dev))
	}
	if s.disk != nil {
		errs = append(errs, s.disk.Close())
	}
	return errors.Join(errs...)
}

// RunTrial runs one trial with the given seed.
func RunTrial(ctx context.Context, c Config, seed uint64) (Trial, error) {
	if err := c.defaults(); err != nil {
		return Trial{}, err
	}
	t, delay := c.draw(seed)
	crash := filepath.Join(c.Dir, fmt.Sprintf("crash-%d.img", seed))
	defer os.Remove(crash)
	defer os.RemoveAll(filepath.Dir(srcDir(c, seed)))
	var src string
	var newTree, oldTree tree
	var lineAcks map[string]bool
	var check func() error
	err := withStick(ctx, c, seed, func(s *stick) error {
		src, newTree, oldTree = s.src, s.newTree, s.oldTree
		start := time.Now()
		cmd, done, err := s.start(ctx)
		if err != nil {
			return err
		}
		var timer <-chan time.Time
		if c.When == During {
			timer = time.After(delay)
		}
		select {
		case <-done:
			t.Returned = true
		case <-timer:
		case <-time.After(c.Timeout):
			killGroup(cmd)
			<-done
			return fmt.Errorf("powercut: %q timed out after %v", c.Command, c.Timeout)
		}
		t.CutAfter = time.Since(start)
		// Stop the command before the snapshot so nothing it does after
		// the instant of the cut (a move deleting its source) counts.
		if !t.Returned {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGSTOP)
		}
		t.Epoch, err = s.disk.Cut(vdisk.CutOptions{Out: crash, Mode: t.CutMode, Seed: seed, Tear: t.Tear, Yank: true})
		if !t.Returned {
			killGroup(cmd)
			<-done
		}
		if err != nil {
			return err
		}
		if t.Returned {
			t.ExitCode = cmd.ProcessState.ExitCode()
		}
		t.Output = s.output()
		// The command is gone: every line it printed before the cut is
		// in the buffer.
		lineAcks = c.acks(s.fullOutput(), filepath.Join(s.live.Dir, "src"), newTree)
		check = func() error { return t.check(c, crash, src, newTree, oldTree, lineAcks) }
		return nil
	})
	if err != nil {
		return t, err
	}
	// The live stick is gone now: a second mount of the same file system
	// (same UUID) would be refused by xfs and confused by btrfs.
	return t, check()
}

// check mounts the crash image on a fresh loop device and applies the
// oracle.
func (t *Trial) check(c Config, crash, src string, newTree, oldTree tree, lineAcks map[string]bool) (err error) {
	all := t.Returned && t.ExitCode == 0
	ackedFile := func(rel string) bool { return all || lineAcks[rel] }
	t.Acked = len(lineAcks)
	if all {
		t.Acked = len(newTree)
	}
	fsckOut, fsckErr := fsimage.Fsck(c.FS, crash)
	t.Fsck = fsckOut
	if fsckErr != nil {
		t.Problems = append(t.Problems, fsckErr.Error())
	}
	if c.FS == "btrfs" {
		// btrfs remembers devices by file system UUID; forget the dead
		// stick's loop device so the crash image is not mistaken for it.
		exec.Command("btrfs", "device", "scan", "--forget").Run()
	}
	mnt := crash + ".mnt"
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	defer os.Remove(mnt)
	m, merr := fsimage.MountImage(c.FS, crash, mnt)
	if merr != nil {
		t.Problems = append(t.Problems, "crash image does not mount: "+merr.Error())
		t.AckedLost = t.Acked
		switch c.Work {
		case Move:
			t.judgeMove("", src, newTree)
		case MoveWithin:
			t.judgeMove("", "", newTree) // both places are on the stick
		}
		return nil
	}
	t.Mounted = true
	defer func() {
		if uerr := m.Unmount(); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	dst := filepath.Join(mnt, "src")
	for _, rel := range newTree.paths() {
		judgeFile(dst, rel, ackedFile(rel), oldTree, newTree, &t.Torn, &t.AckedLost, &t.Problems)
	}
	switch c.Work {
	case Move:
		t.judgeMove(dst, src, newTree)
	case MoveWithin:
		src = filepath.Join(mnt, withinSrc)
		t.judgeMove(dst, src, newTree)
		t.Torn += tornAtSource(func(rel string) ([32]byte, bool) { return hashFile(filepath.Join(src, rel)) }, newTree, &t.Problems)
	}
	t.Problems = append(t.Problems, strays(mnt, dst, c.Work, newTree)...)
	return nil
}

// judgeFile judges the tree's file rel under dst, and reports whether it
// is intact (its new content). Torn (present with neither the new content
// nor the old) and, where acked, lost though acknowledged are counted in
// torn and ackedLost and named in problems.
func judgeFile(dst, rel string, acked bool, oldTree, newTree tree, torn, ackedLost *int, problems *[]string) bool {
	sum, present := hashFile(filepath.Join(dst, rel))
	intact := present && sum == newTree[rel]
	if old, wasOld := oldTree[rel]; present && !intact && !(wasOld && sum == old) {
		*torn++
		*problems = append(*problems, "torn: "+rel)
	}
	if acked && !intact {
		*ackedLost++
		*problems = append(*problems, "acknowledged, lost: "+rel)
	}
	return intact
}

// strays lists, as problems, the files under mnt that the tree has not
// got at dst. They are not judged, but a stray final name is worth
// knowing about.
func strays(mnt, dst, work string, newTree tree) []string {
	var ps []string
	filepath.WalkDir(mnt, func(p string, d fs.DirEntry, werr error) error {
		if werr != nil || d.IsDir() || durable.IsTemp(d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(dst, p)
		if _, ok := newTree[rel]; !ok && !movedWithin(work, mnt, p, newTree) {
			ps = append(ps, "stray: "+strings.TrimPrefix(p, mnt+"/"))
		}
		return nil
	})
	return ps
}

// judgeMove counts files intact neither at the destination (dst, "" when
// the crash image is unreadable) nor in the source. The source disk does
// not lose power in this model: what the command deleted stays deleted.
func (t *Trial) judgeMove(dst, src string, newTree tree) {
	for _, rel := range newTree.paths() {
		if dst != "" {
			if sum, ok := hashFile(filepath.Join(dst, rel)); ok && sum == newTree[rel] {
				continue
			}
		}
		if src != "" {
			if sum, ok := hashFile(filepath.Join(src, rel)); ok && sum == newTree[rel] {
				continue
			}
		}
		t.LostBoth++
		t.Problems = append(t.Problems, "lost in both places: "+rel)
	}
}

// withinSrc is where a move within the stick takes its tree from, under
// the stick's root; it goes to src beside it.
var withinSrc = filepath.Join("from", "src")

// tornAtSource counts the source names of a move within the stick that
// hold something else than their file's content: a name a user sees after
// the cut, as much as a final name. hash reads the source's file rel.
func tornAtSource(hash func(rel string) ([32]byte, bool), t tree, problems *[]string) int {
	n := 0
	for _, rel := range t.paths() {
		if sum, ok := hash(rel); ok && sum != t[rel] {
			n++
			*problems = append(*problems, "torn at the source: "+rel)
		}
	}
	return n
}

// movedWithin reports whether p, found on a crash image mounted on mnt, is
// a file of a move within the stick still at its source.
func movedWithin(work, mnt, p string, t tree) bool {
	if work != MoveWithin {
		return false
	}
	rel, err := filepath.Rel(filepath.Join(mnt, withinSrc), p)
	_, ok := t[rel]
	return err == nil && ok
}

// draw decides, from the seed alone, how a trial's cut resolves the open
// epoch (prefix or subset, torn or not) and, for a cut during the run,
// when it comes in [0, Calibration). Campaigns use consecutive seeds and
// often few trials, so consecutive seeds go through the four combinations
// of mode and tear in turn, and their instants follow the golden ratio
// (a Weyl sequence, jittered a little): any few of them cut early, midway
// and late. Drawn at random instead, seeds 1 to 4 all cut untorn at 82-99%
// of the run.
func (c Config) draw(seed uint64) (Trial, time.Duration) {
	t := Trial{Seed: seed, CutMode: c.CutMode, Tear: seed%2 == 0}
	if t.CutMode == "" {
		t.CutMode = []string{vdisk.CutPrefix, vdisk.CutSubset}[seed/2%2]
	}
	var delay time.Duration
	if c.When == During {
		const goldenFrac = 0.6180339887498949
		jitter := seededRand(seed, 0xb7e151628aed2a6a).Float64() / 10
		frac := math.Mod(float64(seed%(1<<32))*goldenFrac+jitter, 1)
		delay = time.Duration(frac * float64(max(c.Calibration, time.Millisecond)))
	}
	return t, delay
}

// seededRand returns a generator for a trial's seed. Seeds are small
// consecutive numbers (1, 2, 3, ...), and PCG started straight from such
// states draws alike first numbers; mixing the seed first (SplitMix64's
// finalizer) makes them independent.
func seededRand(seed, stream uint64) *rand.Rand {
	mix := func(x uint64) uint64 {
		x += 0x9e3779b97f4a7c15
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		return x ^ (x >> 31)
	}
	return rand.New(rand.NewPCG(mix(seed), mix(seed^stream)))
}

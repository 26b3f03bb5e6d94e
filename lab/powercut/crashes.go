//go:build linux

package powercut

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/tail"
	"github.com/sure-tools/sure/lab/vdisk"
)

// A crash campaign runs the command once on a recording stick and then
// explores the states a power cut could have left at any point of that
// run, instead of re-running the command for every cut. Every state is a
// real image, checked on a fresh loop device with the same oracle as a
// trial.

// Crash state classes.
const (
	ClassPrefix = "prefix" // the earlier epochs, then the first j writes of one epoch
	ClassSubset = "subset" // the earlier epochs, then any subset of one epoch (a reordering cache)
	ClassTorn   = "torn"   // a prefix, then the first sectors of the next write
	ClassFinal  = "final"  // every write received by the end of the run
)

// DefaultTearUnit is the sector: what a disk promises to write whole.
const DefaultTearUnit = 512

// Classes lists the state classes in report order.
var Classes = []string{ClassPrefix, ClassSubset, ClassTorn, ClassFinal}

// CrashConfig describes a crash campaign.
type CrashConfig struct {
	FS      string // ext4, xfs, btrfs, exfat, vfat
	Work    string // Copy, Overwrite, Move or MoveWithin
	Command string // as Config.Command
	Shape   Shape
	Size    int64  // stick size; 0 as in Config
	Seed    uint64 // the source tree and the states drawn
	States  int    // states to explore; 0 means 1000
	// TearUnit is the size the device writes atomically: torn states cut
	// a write between units; 0 means DefaultTearUnit.
	TearUnit int64
	Workers  int // states checked in parallel; 0 means 2
	// Slice limits the states checked to a run of IDs, so that a long
	// campaign can be split into parts and summed (SumResults).
	Slice Slice
	// AckPattern is as Config.AckPattern; a line counts from the moment
	// it was read from the command's output.
	AckPattern string
	// Atomic judges the tree at DST/src as a whole too: every state must
	// hold the whole old tree there or the whole new one, never a mix
	// (sure cp --atomic).
	Atomic  bool
	Dir     string // the run's directory (recording, run.json); required
	Env     []string
	Timeout time.Duration // of the run; 0 means 5 minutes
	Log     io.Writer     // progress and violations, nil for none
}

// CrashRun is what one recorded run did, saved as run.json in the run's
// directory so that its states can be replayed later.
type CrashRun struct {
	FS      string `json:"fs"`
	Work    string `json:"work"`
	Command string `json:"command"`
	Seed    uint64 `json:"seed"`
	States  int    `json:"states"`
	Shape   Shape  `json:"shape"`
	// TearUnit is the granularity of torn writes: a write tears only
	// between units, each of which the device writes whole.
	TearUnit int64             `json:"tear_unit"`
	New      map[string]string `json:"new"`           // relative path → sha256 of the new content
	Old      map[string]string `json:"old,omitempty"` // the versions on the stick before the run
	// Acks gives, for each file the command acknowledged, the stick's
	// event count when the line naming it was read: the file is owed in
	// every state cut after that many events.
	Acks map[string]int64 `json:"acks,omitempty"`
	// AckFrom, where lines are seen some time after they were printed
	// (the VM lab polls them), gives for each acknowledged file the
	// event count before which its line had not been printed yet: the
	// acknowledgement came between AckFrom and Acks.
	AckFrom  map[string]int64 `json:"ack_from,omitempty"`
	ExitCode int              `json:"exit_code"`
	ExitSeq  int64            `json:"exit_seq"`       // event count when the command had exited
	Gone     []string         `json:"gone,omitempty"` // move: source files missing at exit
	// SourceOrdered says the source was on the stick's source mount,
	// whose removals are in the recording.
	SourceOrdered bool   `json:"source_ordered,omitempty"`
	Events        int64  `json:"events"`
	Output        string `json:"output"`
	Atomic        bool   `json:"atomic,omitempty"` // see CrashConfig.Atomic
	// Guest is set for a run recorded in the VM lab, whose states only a
	// guest kernel can mount.
	Guest *Guest `json:"guest,omitempty"`
}

// Guest is the VM lab's side of a run: the kernel whose driver wrote the
// stick, and how it was mounted.
type Guest struct {
	Suite   string `json:"suite"`   // Debian suite of the kernel
	Kernel  string `json:"kernel"`  // its uname -r
	UID     int    `json:"uid"`     // the user who ran the command and owned the mount
	Options string `json:"options"` // besides nosuid and nodev
}

const runFile = "run.json"

func (c *CrashConfig) defaults() error {
	if c.States <= 0 {
		c.States = 1000
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.TearUnit <= 0 {
		c.TearUnit = DefaultTearUnit
	}
	if c.TearUnit%512 != 0 {
		return fmt.Errorf("powercut: tear unit %d is not a multiple of 512", c.TearUnit)
	}
	if c.Dir == "" {
		return errors.New("powercut: crash campaign needs a directory")
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return nil
}

// trialConfig is the trial configuration that sets up the run's stick.
func (c CrashConfig) trialConfig() (Config, error) {
	pc := Config{FS: c.FS, When: After, Work: c.Work, Command: c.Command, Shape: c.Shape, Size: c.Size,
		Seed: c.Seed, Dir: filepath.Join(c.Dir, "work"), Env: c.Env, Timeout: c.Timeout, AckPattern: c.AckPattern,
		sourceMount: c.Work == Move}
	return pc, pc.defaults()
}

// Record runs the command once on a fresh stick that records every write
// and flush, and saves what the command acknowledged against the stick's
// event count.
func Record(ctx context.Context, c CrashConfig) (*CrashRun, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	pc, err := c.trialConfig()
	if err != nil {
		return nil, err
	}
	recDir := filepath.Join(c.Dir, "rec")
	os.RemoveAll(recDir)
	defer os.RemoveAll(pc.Dir)
	run := &CrashRun{FS: pc.FS, Work: pc.Work, Command: pc.Command, Seed: c.Seed, States: c.States, Shape: pc.Shape, TearUnit: c.TearUnit, Acks: map[string]int64{}, Atomic: c.Atomic}
	var re *regexp.Regexp
	if pc.AckPattern != "" {
		re = regexp.MustCompile(pc.AckPattern)
	}
	err = withStick(ctx, pc, c.Seed, func(s *stick) error {
		run.New, run.Old = hexTree(s.newTree), hexTree(s.oldTree)
		if err := s.disk.Record(vdisk.RecordOptions{Dir: recDir}); err != nil {
			return err
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			return err
		}
		defer pr.Close()
		cmd := exec.CommandContext(ctx, "sh", "-c", pc.Command)
		cmd.Dir = s.dir
		src := s.src
		if s.disk.Source != "" {
			src = filepath.Join(s.disk.Source, filepath.Base(s.src))
			run.SourceOrdered = true
		}
		cmd.Env = append(os.Environ(), "SRC="+src, "DST="+s.live.Dir, "DEV="+s.dev, fmt.Sprintf("STICK_PID=%d", s.live.ServerPID()))
		cmd.Env = append(cmd.Env, pc.Env...)
		cmd.Stdout, cmd.Stderr = pw, pw
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		if err := cmd.Start(); err != nil {
			pw.Close()
			return fmt.Errorf("powercut: %w", err)
		}
		pw.Close()
		dst := filepath.Join(s.live.Dir, "src")
		var readErr error
		lines := make(chan struct{})
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(pr)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				// The stick's count now: everything the line reports
				// happened before this many events.
				st, err := s.disk.Stats()
				if err != nil && readErr == nil {
					readErr = err
				}
				line := sc.Text()
				s.out.WriteString(line + "\n")
				run.NoteLine(re, dst, line, st.Seq)
			}
		}()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(pc.Timeout):
			killGroup(cmd)
			<-done
			<-lines
			return fmt.Errorf("powercut: %q timed out after %v", pc.Command, pc.Timeout)
		}
		st, err := s.disk.Stats()
		if err != nil {
			return err
		}
		run.ExitSeq, run.ExitCode = st.Seq, cmd.ProcessState.ExitCode()
		if run.Events, err = s.disk.Unrecord(); err != nil {
			return err
		}
		// A background child of the command could hold the pipe open.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-lines
		if readErr != nil {
			return readErr
		}
		run.Output = s.output()
		if pc.Work == Move {
			run.NoteGone(s.src)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return run, SaveRun(c.Dir, run)
}

// NoteLine notes a line of the command's output read when the stick had
// received seq events: a line matching re (nil for none) names a file of
// the copy at dst, which is owed from then on. It returns the file, or ""
// when the line acknowledged none for the first time.
func (r *CrashRun) NoteLine(re *regexp.Regexp, dst, line string, seq int64) string {
	if re == nil {
		return ""
	}
	m := re.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	rel, err := filepath.Rel(dst, m[1])
	if _, ok := r.New[rel]; err == nil && ok {
		if _, dup := r.Acks[rel]; !dup {
			r.Acks[rel] = seq
			return rel
		}
	}
	return ""
}

// NoteGone notes, after a move, the files no longer intact in the
// source tree src.
func (r *CrashRun) NoteGone(src string) {
	for _, rel := range sortedKeys(r.New) {
		if sum, ok := hashFile(filepath.Join(src, rel)); !ok || hex.EncodeToString(sum[:]) != r.New[rel] {
			r.Gone = append(r.Gone, rel)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for p := range m {
		k = append(k, p)
	}
	sort.Strings(k)
	return k
}

// SaveRun saves run as the run recorded in dir.
func SaveRun(dir string, run *CrashRun) error {
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, runFile), b, 0o644)
}

func hexTree(t tree) map[string]string {
	if t == nil {
		return nil
	}
	m := make(map[string]string, len(t))
	for k, v := range t {
		m[k] = hex.EncodeToString(v[:])
	}
	return m
}

// LoadRun reads the run saved in dir by Record.
func LoadRun(dir string) (*CrashRun, error) {
	b, err := os.ReadFile(filepath.Join(dir, runFile))
	if err != nil {
		return nil, err
	}
	var r CrashRun
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("powercut: %s: %w", filepath.Join(dir, runFile), err)
	}
	return &r, nil
}

// epoch is the writes between two flushes: its events start at entry
// start of the recording, writes lists its writes and zeroings. cut is the number of events the stick
// had received when a power cut leaving any of them lost could come at the
// latest: just before the flush that ends the epoch completed, or the end
// of the recording for the last one.
type epoch struct {
	start  int
	writes []int
	cut    int64
}

func (e epoch) len() int { return len(e.writes) }

// epochs splits a recording at its flushes. Flushes with no write since
// the previous one make no epoch: their state is the next epoch with
// nothing kept, which is cut later and so owes more. The last epoch is
// always there, even empty, for the state at the end of the run.
func epochs(entries []vdisk.RecEntry) []epoch {
	var out []epoch
	start := 0
	var writes []int
	for i, e := range entries {
		switch e.Kind {
		case vdisk.RecWrite, vdisk.RecZero:
			writes = append(writes, i)
		case vdisk.RecFlush:
			if len(writes) > 0 {
				out = append(out, epoch{start: start, writes: writes, cut: int64(i)})
				start, writes = i+1, nil
			}
		}
	}
	return append(out, epoch{start: start, writes: writes, cut: int64(len(entries))})
}

// CrashState is one state a power cut could leave: the base image, every
// epoch before Epoch in full, then the writes of Epoch whose bits are set
// in Keep, and Torn (an index into the epoch, -1 for none) cut after
// TornBytes.
type CrashState struct {
	ID        int
	Class     string
	Epoch     int
	Cut       int64 // events received when the power went
	Keep      []uint64
	Torn      int
	TornBytes int64
}

func (s CrashState) kept(i int) bool { return s.Keep[i/64]&(1<<(i%64)) != 0 }

func (s CrashState) key() string {
	var b strings.Builder
	for _, w := range s.Keep {
		fmt.Fprintf(&b, "%x.", w)
	}
	fmt.Fprintf(&b, "%d.%d", s.Torn, s.TornBytes)
	return b.String()
}

// Kept is the number of writes of the epoch the state keeps whole.
func (s CrashState) Kept() int {
	n := 0
	for _, w := range s.Keep {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

func newBits(n int) []uint64 { return make([]uint64, (n+63)/64) }

func setBit(b []uint64, i int) { b[i/64] |= 1 << (i % 64) }

func prefixBits(n, j int) []uint64 {
	b := newBits(n)
	for i := range j {
		setBit(b, i)
	}
	return b
}

// GenerateStates draws up to n distinct crash states of a recording. The
// list, and so every state's ID (its index), depends only on the
// recording, seed and n. The budget is shared among epochs by their number
// of writes; inside an epoch, about a third go to prefixes at an even
// stride (all of them if they fit), a fifth to torn writes, the rest to
// random subsets, each kept with a probability drawn per state so that
// nearly empty and nearly full caches both come up.
func GenerateStates(entries []vdisk.RecEntry, seed uint64, n int, tearUnit int64) []CrashState {
	if tearUnit <= 0 {
		tearUnit = DefaultTearUnit
	}
	eps := epochs(entries)
	caps := make([]int, len(eps))
	weights := make([]int, len(eps))
	for k, ep := range eps {
		l := ep.len()
		c := l + tornCap(entries, ep.writes, tearUnit)
		if l < 40 {
			c += 1<<l - l - 1
		} else {
			c = 1 << 40
		}
		caps[k], weights[k] = c, max(l, 1)
	}
	quota := make([]int, len(eps))
	for rem := n - 1; rem > 0; {
		sumw := 0
		for k := range eps {
			if quota[k] < caps[k] {
				sumw += weights[k]
			}
		}
		if sumw == 0 {
			break
		}
		given := 0
		for k := range eps {
			if quota[k] >= caps[k] || given == rem {
				continue
			}
			add := min(max(1, rem*weights[k]/sumw), caps[k]-quota[k], rem-given)
			quota[k] += add
			given += add
		}
		rem -= given
	}
	var out []CrashState
	for k, ep := range eps {
		out = append(out, epochStates(entries, ep, k, quota[k], tearUnit, seededRand(seed, uint64(k)+0x632be59bd9b4e019))...)
	}
	last := eps[len(eps)-1]
	out = append(out, CrashState{Class: ClassFinal, Epoch: len(eps) - 1, Cut: last.cut, Keep: prefixBits(last.len(), last.len()), Torn: -1})
	for i := range out {
		out[i].ID = i
	}
	return out
}

func sectors(e vdisk.RecEntry, unit int64) int64 {
	if e.Kind != vdisk.RecWrite {
		return 0
	}
	return e.N / unit
}

func tornCap(entries []vdisk.RecEntry, writes []int, unit int64) int {
	c := 0
	for _, i := range writes {
		if s := sectors(entries[i], unit); s >= 2 {
			c += int(min(s-1, 1<<20))
		}
	}
	return c
}

func epochStates(entries []vdisk.RecEntry, ep epoch, k, q int, unit int64, rng *rand.Rand) []CrashState {
	l := ep.len()
	seen := map[string]bool{}
	var out []CrashState
	add := func(s CrashState) bool {
		// Everything kept is the next epoch's start, cut later.
		if s.Torn < 0 && s.Kept() == l {
			return false
		}
		if len(out) >= q || seen[s.key()] {
			return false
		}
		seen[s.key()] = true
		s.Epoch, s.Cut = k, ep.cut
		out = append(out, s)
		return true
	}
	np := min(l, max(1, q/3))
	for i := range np {
		j := 0
		if np > 1 {
			j = i * (l - 1) / (np - 1)
		}
		add(CrashState{Class: ClassPrefix, Keep: prefixBits(l, j), Torn: -1})
	}
	var tearable []int
	for i, w := range ep.writes {
		if sectors(entries[w], unit) >= 2 {
			tearable = append(tearable, i)
		}
	}
	torn := func(target int) {
		for tries := 0; len(out) < target && len(tearable) > 0 && tries < 10*q+100; tries++ {
			i := tearable[rng.IntN(len(tearable))]
			sec := sectors(entries[ep.writes[i]], unit)
			add(CrashState{Class: ClassTorn, Keep: prefixBits(l, i), Torn: i, TornBytes: unit * (1 + rng.Int64N(sec-1))})
		}
	}
	torn(len(out) + q/5)
	for tries := 0; len(out) < q && l >= 2 && tries < 20*q+100; tries++ {
		p := rng.Float64()
		b := newBits(l)
		for i := range l {
			if rng.Float64() < p {
				setBit(b, i)
			}
		}
		add(CrashState{Class: ClassSubset, Keep: b, Torn: -1})
	}
	// A small epoch has few subsets: spend what is left on tears and the
	// prefixes the stride skipped.
	torn(q)
	for j := 0; j < l && len(out) < q; j++ {
		add(CrashState{Class: ClassPrefix, Keep: prefixBits(l, j), Torn: -1})
	}
	return out
}

// StateResult is the oracle's verdict on one state.
type StateResult struct {
	CrashState
	Owed      int // files acknowledged before the cut
	AckedLost int
	Torn      int
	LostBoth  int
	Mixed     int // Atomic: 1 when the tree is neither the old one nor the new one
	Mounted   bool
	Problems  []string
	// Unrepaired is the verdict on a violating FAT or exFAT state judged
	// again without fsck's repair; nil when not judged.
	Unrepaired *Verdict
}

// Verdict is the oracle's counts on one image.
type Verdict struct {
	AckedLost int  `json:"acked_lost"`
	Torn      int  `json:"torn"`
	LostBoth  int  `json:"lost_both"`
	Mounted   bool `json:"mounted"`
}

// Bad reports whether the verdict lost or tore anything.
func (v Verdict) Bad() bool { return v.AckedLost+v.Torn+v.LostBoth > 0 }

// Bad reports whether the state lost, tore or mixed anything.
func (r StateResult) Bad() bool { return r.AckedLost+r.Torn+r.LostBoth+r.Mixed > 0 }

func (r StateResult) String() string {
	s := fmt.Sprintf("state %d %s epoch=%d cut=%d kept=%d", r.ID, r.Class, r.Epoch, r.Cut, r.Kept())
	if r.CrashState.Torn >= 0 {
		s += fmt.Sprintf(" torn_write=%d torn_bytes=%d", r.CrashState.Torn, r.TornBytes)
	}
	s += fmt.Sprintf(" owed=%d acked_lost=%d torn=%d lost_both=%d mixed=%d", r.Owed, r.AckedLost, r.Torn, r.LostBoth, r.Mixed)
	if !r.Mounted {
		s += " unmountable"
	}
	if u := r.Unrepaired; u != nil {
		s += fmt.Sprintf(" (without fsck: acked_lost=%d torn=%d lost_both=%d)", u.AckedLost, u.Torn, u.LostBoth)
	}
	return s + problemLines(r.Problems)
}

// ClassCount sums up the states of one class.
type ClassCount struct {
	States, Violations        int
	AckedLost, Torn, LostBoth int
	Unmountable               int
}

// CrashResult sums up a crash campaign.
type CrashResult struct {
	Run        *CrashRun
	Epochs     int
	States     int
	Violations int // states that lost or tore anything
	Classes    map[string]*ClassCount
	Bad        []StateResult // the violating states, by ID
	// OwedStates counts states in which at least one file was owed: a
	// campaign where none was proved nothing about acknowledgements.
	OwedStates int
	// Unmountable lists the states that did not mount, violations or not
	// (one where nothing was owed yet is no loss, but worth a look).
	Unmountable []int
	// RepairMade counts the violating states that were intact before the
	// checker's repair (Unrepaired judged them clean).
	RepairMade int
	// Total is the number of states of the whole campaign; those checked
	// here have the IDs [From, To), Missing of them unchecked (SumResults).
	Total, From, To, Missing int
}

// Summary is the campaign's last line; a part of a campaign says which.
func (r CrashResult) Summary() string {
	s := fmt.Sprintf("crashes: states=%d violations=%d", r.States, r.Violations)
	if r.From != 0 || r.To != r.Total || r.Missing != 0 {
		s += fmt.Sprintf(" ids=%d-%d of=%d", r.From, r.To-1, r.Total)
	}
	if r.Missing != 0 {
		s += fmt.Sprintf(" missing=%d", r.Missing)
	}
	return s
}

// Report prints the per-class table and the first violations.
func (r CrashResult) Report(w io.Writer, first int) {
	fmt.Fprintf(w, "run: exit=%d events=%d epochs=%d acknowledged=%d of %d files\n", r.Run.ExitCode, r.Run.Events, r.Epochs, len(r.Run.Acks), len(r.Run.New))
	fmt.Fprintf(w, "%-7s %7s %10s %10s %6s %9s %11s\n", "class", "states", "violations", "acked_lost", "torn", "lost_both", "unmountable")
	for _, c := range Classes {
		cc := r.Classes[c]
		if cc == nil {
			cc = &ClassCount{}
		}
		fmt.Fprintf(w, "%-7s %7d %10d %10d %6d %9d %11d\n", c, cc.States, cc.Violations, cc.AckedLost, cc.Torn, cc.LostBoth, cc.Unmountable)
	}
	if n := len(r.Unmountable); n > 0 {
		fmt.Fprintf(w, "unmountable states: %v\n", r.Unmountable[:min(n, first)])
	}
	if r.RepairMade > 0 {
		fmt.Fprintf(w, "violating states intact before fsck's repair: %d of %d\n", r.RepairMade, r.Violations)
	}
	for i, b := range r.Bad {
		if i == first {
			fmt.Fprintf(w, "... %d more violating states\n", len(r.Bad)-first)
			break
		}
		fmt.Fprintln(w, b)
	}
}

// explorer checks states of one recorded run.
type explorer struct {
	run     *CrashRun
	rec     *vdisk.Recording
	eps     []epoch
	dir     string
	newTree tree
	oldTree tree
	acks    map[string]int64
	gone    map[string]bool
	srcGone bool // move: judge the source
	within  bool // move within the stick: the source is in the image too
	// removedAt is the index of the event that removed a source file
	// (or a directory above it), for runs with SourceOrdered.
	removedAt map[string]int64
}

func newExplorer(dir string, run *CrashRun) (*explorer, error) {
	rec, err := vdisk.OpenRecording(filepath.Join(dir, "rec"))
	if err != nil {
		return nil, err
	}
	x := &explorer{run: run, rec: rec, eps: epochs(rec.Entries), dir: dir, acks: run.Acks, gone: map[string]bool{}, srcGone: run.Work == Move, within: run.Work == MoveWithin}
	if x.newTree, err = unhexTree(run.New); err != nil {
		return nil, err
	}
	if x.oldTree, err = unhexTree(run.Old); err != nil {
		return nil, err
	}
	for _, g := range run.Gone {
		x.gone[g] = true
	}
	if run.SourceOrdered {
		x.removedAt = map[string]int64{}
		for i, e := range rec.Entries {
			if e.Kind != vdisk.RecRemove {
				continue
			}
			p, err := rec.Path(e)
			if err != nil {
				return nil, err
			}
			for rel := range x.newTree {
				full := "src/" + rel
				if _, seen := x.removedAt[rel]; !seen && (full == p || strings.HasPrefix(full, p+"/")) {
					x.removedAt[rel] = int64(i)
				}
			}
		}
	}
	return x, nil
}

func unhexTree(m map[string]string) (tree, error) {
	t := tree{}
	for k, v := range m {
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("powercut: bad hash for %s in %s", k, runFile)
		}
		t[k] = [32]byte(b)
	}
	return t, nil
}

// Slice is a run of state IDs: From, then Count of them (0: all the rest).
type Slice struct{ From, Count int }

// bounds clips the slice to n states: the IDs [from, to).
func (s Slice) bounds(n int) (from, to int) {
	from = min(max(s.From, 0), n)
	to = n
	if s.Count > 0 {
		to = min(from+s.Count, n)
	}
	return from, to
}

// Explore records a run of the command, explores c.States crash states of
// it (or c.Slice of them) over c.Workers parallel checkers, and sums them
// up. When c.Dir already holds a run recorded with the same settings, it
// is explored again instead: the states of one recording keep their IDs,
// so slices of it explored one after another add up to the campaign.
func Explore(ctx context.Context, c CrashConfig) (CrashResult, error) {
	if err := c.defaults(); err != nil {
		return CrashResult{}, err
	}
	run, err := LoadRun(c.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(c.Log, "crashes: recording one run of %q on %s\n", c.Command, c.FS)
		if _, err := Record(ctx, c); err != nil {
			return CrashResult{}, err
		}
	case err != nil:
		return CrashResult{}, err
	default:
		if err := c.sameRun(run); err != nil {
			return CrashResult{}, err
		}
		fmt.Fprintf(c.Log, "crashes: exploring the run recorded in %s\n", c.Dir)
	}
	return ExploreRun(ctx, c.Dir, ExploreOptions{Workers: c.Workers, Slice: c.Slice, Log: c.Log})
}

// sameRun checks that run was recorded with c's settings, so that
// exploring it again continues c's campaign rather than another one.
func (c CrashConfig) sameRun(run *CrashRun) error {
	pc, err := c.trialConfig()
	if err != nil {
		return err
	}
	var diff []string
	check := func(name string, got, want any) {
		if got != want {
			diff = append(diff, fmt.Sprintf("%s %v, not %v", name, got, want))
		}
	}
	check("fs", run.FS, pc.FS)
	check("work", run.Work, pc.Work)
	check("command", run.Command, pc.Command)
	check("seed", run.Seed, c.Seed)
	check("states", run.States, c.States)
	check("tear unit", run.TearUnit, c.TearUnit)
	check("shape", run.Shape, pc.Shape)
	if len(diff) > 0 {
		return fmt.Errorf("powercut: %s holds a run recorded with %s", filepath.Join(c.Dir, runFile), strings.Join(diff, ", "))
	}
	return nil
}

// ExploreOptions say how ExploreRun checks a recorded run's states.
type ExploreOptions struct {
	Workers int   // states checked in parallel; 0 means 2
	Slice   Slice // the state IDs to check; zero for all
	Log     io.Writer
}

// resultsDir holds the verdicts of each explored slice of a run.
const resultsDir = "results"

// ExploreRun explores the states of the run recorded in dir, or the slice
// of them opt asks for, and saves the verdicts in dir/results for
// SumResults.
func ExploreRun(ctx context.Context, dir string, opt ExploreOptions) (CrashResult, error) {
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	run, x, all, err := openRun(dir)
	if err != nil {
		return CrashResult{}, err
	}
	defer x.rec.Close()
	if err := x.hostChecked(); err != nil {
		return CrashResult{}, err
	}
	from, to := opt.Slice.bounds(len(all))
	states := all[from:to]
	workers := opt.Workers
	if workers <= 0 {
		workers = 2
	}
	if run.FS == "btrfs" {
		// Two clones of one btrfs mounted at once share an fsid; keep
		// to one checker rather than trust the kernel to tell them apart.
		workers = 1
	}
	workers = max(1, min(workers, len(states)))
	fmt.Fprintf(log, "crashes: %d events in %d epochs, %d states, checking IDs %d to %d\n", len(x.rec.Entries), len(x.eps), len(all), from, to-1)
	results := make([]StateResult, len(states))
	errs := make([]error, workers)
	var mu sync.Mutex
	checked := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []CrashState
			for i := w; i < len(states); i += workers {
				mine = append(mine, states[i])
			}
			errs[w] = x.worker(ctx, w, mine, func(r StateResult) {
				results[r.ID-from] = r
				mu.Lock()
				defer mu.Unlock()
				if r.Bad() {
					fmt.Fprintln(log, r)
				}
				if checked++; checked%1000 == 0 {
					fmt.Fprintf(log, "crashes: %d of %d states checked\n", checked, len(states))
				}
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return CrashResult{}, err
	}
	if len(states) > 0 {
		if err := saveResults(dir, from, to, results); err != nil {
			return CrashResult{}, err
		}
	}
	res := sumStates(run, len(x.eps), len(all), results)
	res.From, res.To = from, to
	return res, nil
}

// savedState is a state's verdict as saved: the oracle's counts, and the
// problems of a state that lost something or did not mount.
type savedState struct {
	ID         int      `json:"id"`
	Class      string   `json:"class"`
	Epoch      int      `json:"epoch"`
	Cut        int64    `json:"cut"`
	Kept       int      `json:"kept"`
	Torn       int      `json:"torn_write"`
	TornBytes  int64    `json:"torn_bytes,omitempty"`
	Owed       int      `json:"owed"`
	AckedLost  int      `json:"acked_lost"`
	TornFiles  int      `json:"torn"`
	LostBoth   int      `json:"lost_both"`
	Mounted    bool     `json:"mounted"`
	Problems   []string `json:"problems,omitempty"`
	Unrepaired *Verdict `json:"unrepaired,omitempty"`
}

func saveResults(dir string, from, to int, results []StateResult) error {
	out := make([]savedState, len(results))
	for i, r := range results {
		s := savedState{ID: r.ID, Class: r.Class, Epoch: r.Epoch, Cut: r.Cut, Kept: r.Kept(), Torn: r.CrashState.Torn, TornBytes: r.TornBytes,
			Owed: r.Owed, AckedLost: r.AckedLost, TornFiles: r.Torn, LostBoth: r.LostBoth, Mounted: r.Mounted, Unrepaired: r.Unrepaired}
		if r.Bad() || !r.Mounted {
			s.Problems = r.Problems
		}
		out[i] = s
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	d := filepath.Join(dir, resultsDir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, fmt.Sprintf("states-%06d-%06d.json", from, to)), b, 0o644)
}

// openRun loads the run recorded in dir, an explorer over its recording
// (the caller closes x.rec) and every state it generates, in ID order.
func openRun(dir string) (*CrashRun, *explorer, []CrashState, error) {
	run, err := LoadRun(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	x, err := newExplorer(dir, run)
	if err != nil {
		return nil, nil, nil, err
	}
	return run, x, GenerateStates(x.rec.Entries, run.Seed, run.States, run.TearUnit), nil
}

// SumResults adds up every slice of the run in dir explored so far. A
// state checked by more than one slice counts once; Missing says how many
// of the run's states no slice has checked yet.
func SumResults(dir string) (CrashResult, error) {
	run, x, all, err := openRun(dir)
	if err != nil {
		return CrashResult{}, err
	}
	defer x.rec.Close()
	total := len(all)
	files, err := filepath.Glob(filepath.Join(dir, resultsDir, "states-*.json"))
	if err != nil {
		return CrashResult{}, err
	}
	byID := map[int]StateResult{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return CrashResult{}, err
		}
		var saved []savedState
		if err := json.Unmarshal(b, &saved); err != nil {
			return CrashResult{}, fmt.Errorf("powercut: %s: %w", f, err)
		}
		for _, s := range saved {
			if s.ID < 0 || s.ID >= total {
				return CrashResult{}, fmt.Errorf("powercut: %s: state %d, but the run has %d", f, s.ID, total)
			}
			byID[s.ID] = StateResult{
				CrashState: CrashState{ID: s.ID, Class: s.Class, Epoch: s.Epoch, Cut: s.Cut, Keep: prefixBits(s.Kept, s.Kept), Torn: s.Torn, TornBytes: s.TornBytes},
				Owed:       s.Owed, AckedLost: s.AckedLost, Torn: s.TornFiles, LostBoth: s.LostBoth, Mounted: s.Mounted, Problems: s.Problems, Unrepaired: s.Unrepaired,
			}
		}
	}
	results := make([]StateResult, 0, len(byID))
	for id := range total {
		if r, ok := byID[id]; ok {
			results = append(results, r)
		}
	}
	res := sumStates(run, len(x.eps), total, results)
	res.From, res.To = 0, total
	res.Missing = total - len(results)
	return res, nil
}

// sumStates sums up the verdicts of some of a run's states, in ID order.
func sumStates(run *CrashRun, epochs, total int, results []StateResult) CrashResult {
	res := CrashResult{Run: run, Epochs: epochs, Total: total, Classes: map[string]*ClassCount{}}
	for _, r := range results {
		cc := res.Classes[r.Class]
		if cc == nil {
			cc = &ClassCount{}
			res.Classes[r.Class] = cc
		}
		cc.States++
		res.States++
		cc.AckedLost += r.AckedLost
		cc.Torn += r.Torn
		cc.LostBoth += r.LostBoth
		if !r.Mounted {
			cc.Unmountable++
			res.Unmountable = append(res.Unmountable, r.ID)
		}
		if r.Owed > 0 {
			res.OwedStates++
		}
		if r.Bad() {
			cc.Violations++
			res.Violations++
			res.Bad = append(res.Bad, r)
			if r.Unrepaired != nil && !r.Unrepaired.Bad() && r.Unrepaired.Mounted {
				res.RepairMade++
			}
		}
	}
	return res
}

// Replay rebuilds state id of the run recorded in dir, checks it and
// leaves its image (returned) for inspection.
func Replay(dir string, id int) (StateResult, string, error) {
	e, err := OpenExplorer(dir)
	if err != nil {
		return StateResult{}, "", err
	}
	defer e.Close()
	x := e.x
	if err := x.hostChecked(); err != nil {
		return StateResult{}, "", err
	}
	st, img, err := e.ReplayImage(id)
	if err != nil {
		return StateResult{}, "", err
	}
	// The check mounts, replays and repairs a copy; the state itself
	// stays as the cut left it.
	work := img + ".checked"
	defer os.Remove(work)
	if err := vdisk.CopyImage(work, img); err != nil {
		return StateResult{}, "", err
	}
	mnt := filepath.Join(dir, "replay.mnt")
	defer os.Remove(mnt)
	r, err := x.check(work, mnt, st, true)
	if err == nil && x.repairs() && r.Bad() {
		if err = vdisk.CopyImage(work, img); err == nil {
			err = x.judgeUnrepaired(&r, work, mnt)
		}
	}
	return r, img, err
}

// hostChecked refuses a run whose states only a guest can check: its
// file system is the guest kernel's driver, not the host's FUSE server.
func (x *explorer) hostChecked() error {
	if g := x.run.Guest; g != nil {
		return fmt.Errorf("powercut: %s was recorded in a %s guest (%s): check its states with the VM lab", x.dir, g.Suite, g.Kernel)
	}
	return nil
}

// repairs reports whether states are checked after a repair (fsck) that
// writes to them, so that a loss may be the checker's own.
func (x *explorer) repairs() bool { return x.run.FS == "exfat" || x.run.FS == "vfat" }

// judgeUnrepaired judges a violating state's image once more without the
// checker's repair: fsck.fat, deleting a long name whose slots span two
// directory clusters apart, blanks every cluster between them, and so
// destroys files the state itself holds intact.
func (x *explorer) judgeUnrepaired(r *StateResult, img, mnt string) error {
	raw, err := x.check(img, mnt, r.CrashState, false)
	if err != nil {
		return err
	}
	r.Unrepaired = &Verdict{AckedLost: raw.AckedLost, Torn: raw.Torn, LostBoth: raw.LostBoth, Mounted: raw.Mounted}
	return nil
}

// applyRange applies entries [from, to) of the recording to the image.
func (x *explorer) applyRange(img string, from, to int) error {
	if from >= to {
		return nil
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	for _, e := range x.rec.Entries[from:to] {
		if err := x.rec.Apply(f, e, -1); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// build makes the image of state st from the image of its epoch's start.
func (x *explorer) build(img, epochImg string, st CrashState) error {
	if err := vdisk.CopyImage(img, epochImg); err != nil {
		return err
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	ep := x.eps[st.Epoch]
	for i, w := range ep.writes {
		e := x.rec.Entries[w]
		switch {
		case i == st.Torn:
			err = x.rec.Apply(f, e, st.TornBytes)
		case st.kept(i):
			err = x.rec.Apply(f, e, -1)
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// StateBuilder builds the images of a run's states, which must come in
// epoch order, from one image of the current epoch's start that it moves
// forward.
type StateBuilder struct {
	x        *explorer
	epochImg string
	applied  int // entries of the recording applied to epochImg
}

func (x *explorer) newBuilder(epochImg string) (*StateBuilder, error) {
	if err := vdisk.CopyImage(epochImg, x.rec.Base()); err != nil {
		return nil, err
	}
	return &StateBuilder{x: x, epochImg: epochImg}, nil
}

// Build writes the image of state st to img.
func (b *StateBuilder) Build(img string, st CrashState) error {
	start := b.x.eps[st.Epoch].start
	if err := b.x.applyRange(b.epochImg, b.applied, start); err != nil {
		return err
	}
	b.applied = max(b.applied, start)
	return b.x.build(img, b.epochImg, st)
}

// Close removes the epoch image.
func (b *StateBuilder) Close() error { return os.Remove(b.epochImg) }

// worker checks its states, which come in epoch order.
func (x *explorer) worker(ctx context.Context, w int, states []CrashState, done func(StateResult)) error {
	img := filepath.Join(x.dir, fmt.Sprintf("w%d-state.img", w))
	mnt := filepath.Join(x.dir, fmt.Sprintf("w%d.mnt", w))
	defer os.Remove(img)
	defer os.Remove(mnt)
	b, err := x.newBuilder(filepath.Join(x.dir, fmt.Sprintf("w%d-epoch.img", w)))
	if err != nil {
		return err
	}
	defer b.Close()
	for _, st := range states {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.Build(img, st); err != nil {
			return err
		}
		r, err := x.check(img, mnt, st, true)
		if err == nil && x.repairs() && r.Bad() {
			if err = b.Build(img, st); err == nil {
				err = x.judgeUnrepaired(&r, img, mnt)
			}
		}
		if err != nil {
			return fmt.Errorf("powercut: state %d: %w", st.ID, err)
		}
		done(r)
	}
	return nil
}

// check mounts a state's image as a user's machine would (fsck for FAT and
// exFAT unless repair is false, journal replay at mount for the others)
// and applies the oracle.
func (x *explorer) check(img, mnt string, st CrashState, repair bool) (StateResult, error) {
	var problems []string
	if repair {
		if out, ferr := fsimage.Fsck(x.run.FS, img); ferr != nil {
			problems = append(problems, ferr.Error()+": "+tail.Lines(out, 1))
		}
	}
	if x.run.FS == "btrfs" {
		exec.Command("btrfs", "device", "scan", "--forget").Run()
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return StateResult{}, err
	}
	unmount, merr := mountState(x.run.FS, img, mnt)
	if merr != nil {
		return x.judge(st, nil, merr, problems), nil
	}
	l := ListMount(mnt)
	if err := unmount(); err != nil {
		return StateResult{}, err
	}
	return x.judge(st, l, nil, problems), nil
}

// judge applies the oracle to the listing of a state's mount, or to a
// state that did not mount (mountErr). problems are the checker's own
// remarks (a repair's complaints), kept first.
func (x *explorer) judge(st CrashState, l Listing, mountErr error, problems []string) StateResult {
	r := StateResult{CrashState: st, Problems: problems}
	owed := func(rel string) bool {
		if x.run.ExitCode == 0 && x.run.ExitSeq <= st.Cut {
			return true
		}
		seq, ok := x.acks[rel]
		return ok && seq <= st.Cut
	}
	// With the source on the stick's source mount, a file is gone from
	// the event that removed it. Otherwise a source file missing at exit
	// may have gone at any moment, unless the command acknowledged it:
	// then from the acknowledgement on.
	srcGone := func(rel string) bool {
		if !x.srcGone {
			return false
		}
		if at, ok := x.removedAt[rel]; ok {
			return at < st.Cut
		}
		if !x.gone[rel] {
			return false
		}
		if x.removedAt != nil {
			return true // gone, by a way the mount did not see: assume the worst
		}
		seq, ok := x.acks[rel]
		return !ok || seq <= st.Cut
	}
	for rel := range x.newTree {
		if owed(rel) {
			r.Owed++
		}
	}
	paths := x.newTree.paths()
	if mountErr != nil {
		r.Problems = append(r.Problems, "does not mount: "+mountErr.Error())
		for _, rel := range paths {
			if owed(rel) {
				r.AckedLost++
			}
			if srcGone(rel) || x.within {
				r.LostBoth++
			}
		}
		return r
	}
	r.Mounted = true
	dst := l.under("src")
	for _, rel := range paths {
		sum, present := dst.hash(rel)
		intact := present && sum == x.newTree[rel]
		old, wasOld := x.oldTree[rel]
		if present && !intact && !(wasOld && sum == old) {
			r.Torn++
			r.Problems = append(r.Problems, "torn: "+rel)
		}
		if owed(rel) && !intact {
			r.AckedLost++
			r.Problems = append(r.Problems, "acknowledged, lost: "+rel)
		}
		if srcGone(rel) && !intact {
			r.LostBoth++
			r.Problems = append(r.Problems, "lost in both places: "+rel)
		}
		if x.within && !intact {
			if sum, ok := l.hash(filepath.Join(withinSrc, rel)); !ok || sum != x.newTree[rel] {
				r.LostBoth++
				r.Problems = append(r.Problems, "lost in both places: "+rel)
			}
		}
	}
	if x.within {
		r.Torn += tornAtSource(l.under(withinSrc).hash, x.newTree, &r.Problems)
	}
	if x.run.Atomic {
		if what := wholeTree(dst, x.oldTree, x.newTree); what != "" {
			r.Mixed = 1
			r.Problems = append(r.Problems, "mixed tree: "+what)
		}
	}
	for _, p := range sortedPaths(l) {
		if durable.IsTemp(filepath.Base(p)) {
			continue
		}
		if rel, _ := filepath.Rel("src", p); x.newTree[rel] == ([32]byte{}) && !movedWithin(x.run.Work, "", p, x.newTree) {
			r.Problems = append(r.Problems, "stray: "+p)
		}
	}
	// Losses first: a report shows only the first few lines.
	sort.SliceStable(r.Problems, func(i, j int) bool {
		si, sj := strings.HasPrefix(r.Problems[i], "stray: "), strings.HasPrefix(r.Problems[j], "stray: ")
		if si != sj {
			return sj
		}
		return r.Problems[i] < r.Problems[j]
	})
	return r
}

// mountState attaches img to a fresh loop device and mounts it on mnt.
// xfs refuses a second mount of one UUID unless told, and the two
// checkers mount clones of one file system.
func mountState(kind, img, mnt string) (func() error, error) {
	if kind == "exfat" || kind == "vfat" {
		m, err := fsimage.MountImage(kind, img, mnt)
		if err != nil {
			return nil, err
		}
		return m.Unmount, nil
	}
	dev, err := fsimage.Attach(img)
	if err != nil {
		return nil, err
	}
	opts := ""
	if kind == "xfs" {
		opts = "nouuid"
	}
	if err := unix.Mount(dev, mnt, kind, 0, opts); err != nil {
		return nil, errors.Join(&os.PathError{Op: "mount " + kind + " " + dev, Path: mnt, Err: err}, fsimage.Detach(dev))
	}
	// Mounted's unmount waits out a transient EBUSY: a child forked by
	// the other checker may hold a file of this mount for an instant.
	m := &fsimage.Mounted{Kind: kind, Image: img, Device: dev, Dir: mnt}
	return m.Unmount, nil
}

// wholeTree says how the files of a listing are neither exactly old nor
// exactly new (names and contents), or "" when they are one of them. A
// tree absent altogether counts as old when there was none before.
func wholeTree(l Listing, old, new tree) string {
	got := tree{}
	for rel, f := range l {
		if !durable.IsTemp(filepath.Base(rel)) { // a temporary file holds no name of the tree
			got[rel] = f.Sum
		}
	}
	same := func(want tree) bool {
		if len(want) != len(got) {
			return false
		}
		for rel, sum := range want {
			if g, ok := got[rel]; !ok || g != sum {
				return false
			}
		}
		return true
	}
	if same(old) || same(new) {
		return ""
	}
	nOld, nNew := 0, 0
	for rel, sum := range got {
		switch sum {
		case old[rel]:
			nOld++
		case new[rel]:
			nNew++
		}
	}
	return fmt.Sprintf("%d files, %d of the old tree, %d of the new (old %d, new %d files)", len(got), nOld, nNew, len(old), len(new))
}

//go:build linux

package powercut

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sure-tools/sure/lab/vdisk"
)

// Explorer opens a recorded run for a checker that mounts its states
// elsewhere (the VM lab): it builds the states' images and judges their
// listings with the same oracle as ExploreRun, and saves the verdicts so
// that SumResults adds them up.
type Explorer struct {
	Run    *CrashRun
	States []CrashState // every state of the run, in ID order
	x      *explorer
}

// OpenExplorer opens the run recorded in dir.
func OpenExplorer(dir string) (*Explorer, error) {
	run, x, all, err := openRun(dir)
	if err != nil {
		return nil, err
	}
	return &Explorer{Run: run, States: all, x: x}, nil
}

// Close releases the recording.
func (e *Explorer) Close() error { return e.x.rec.Close() }

// Epochs is the number of epochs of the recording.
func (e *Explorer) Epochs() int { return len(e.x.eps) }

// Events is the number of events of the recording.
func (e *Explorer) Events() int { return len(e.x.rec.Entries) }

// NewBuilder returns a builder that keeps its epoch image at epochImg.
func (e *Explorer) NewBuilder(epochImg string) (*StateBuilder, error) {
	return e.x.newBuilder(epochImg)
}

// Judge applies the oracle to the listing of state st's mount, or to a
// state that did not mount (mountErr). problems are the checker's own
// remarks about the state.
func (e *Explorer) Judge(st CrashState, l Listing, mountErr error, problems []string) StateResult {
	return e.x.judge(st, l, mountErr, problems)
}

// Finish saves the verdicts on states [from, to) for SumResults and sums
// them up.
func (e *Explorer) Finish(from, to int, results []StateResult) (CrashResult, error) {
	if len(results) > 0 {
		if err := saveResults(e.x.dir, from, to, results); err != nil {
			return CrashResult{}, err
		}
	}
	res := sumStates(e.Run, len(e.x.eps), len(e.States), results)
	res.From, res.To = from, to
	return res, nil
}

// ReplayImage builds state id into the run's directory, as state-ID.img,
// and returns the state and the image's path.
func (e *Explorer) ReplayImage(id int) (CrashState, string, error) {
	if id < 0 || id >= len(e.States) {
		return CrashState{}, "", fmt.Errorf("powercut: no state %d: the run has states 0 to %d", id, len(e.States)-1)
	}
	st := e.States[id]
	b, err := e.NewBuilder(filepath.Join(e.x.dir, "replay-base.img"))
	if err != nil {
		return CrashState{}, "", err
	}
	defer b.Close()
	img := filepath.Join(e.x.dir, fmt.Sprintf("state-%d.img", id))
	if err := b.Build(img, st); err != nil {
		os.Remove(img)
		return CrashState{}, "", err
	}
	return st, img, nil
}

// WriteTrees writes a campaign's source tree to newDir and, for
// Overwrite, the old versions to oldDir, from c.Seed as Record does, and
// returns their hashes as CrashRun keeps them.
func WriteTrees(c CrashConfig, newDir, oldDir string) (newTree, oldTree map[string]string, err error) {
	t, err := writeTree(newDir, c.Shape, c.Seed)
	if err != nil {
		return nil, nil, err
	}
	if c.Work != Overwrite {
		return hexTree(t), nil, nil
	}
	o, err := writeTree(oldDir, c.Shape, oldSeed(c.Seed))
	if err != nil {
		return nil, nil, err
	}
	return hexTree(t), hexTree(o), nil
}

// SameRun checks that run was recorded with c's settings, so that
// exploring it again continues c's campaign rather than another one.
func (c CrashConfig) SameRun(run *CrashRun) error { return c.sameRun(run) }

// Defaults fills in c's zero fields as Explore does and checks it.
func (c *CrashConfig) Defaults() error {
	if err := c.defaults(); err != nil {
		return err
	}
	_, err := c.trialConfig()
	return err
}

// Bounds clips the slice to n states: the IDs [from, to).
func (s Slice) Bounds(n int) (from, to int) { return s.bounds(n) }

// UncertainAcks counts the acknowledgements of the run in dir whose
// window (CrashRun.AckFrom to Acks) holds a FLUSH: the line may have been
// printed before that flush completed, and the oracle, owing the file
// only from the stamp, would not catch an acknowledgement that came too
// early there. Zero means every stamp owes its file in exactly the
// states an exact stamp would: states are cut only at flushes.
func UncertainAcks(dir string) (int, error) {
	run, err := LoadRun(dir)
	if err != nil {
		return 0, err
	}
	rec, err := vdisk.OpenRecording(filepath.Join(dir, "rec"))
	if err != nil {
		return 0, err
	}
	defer rec.Close()
	return uncertainAcks(run, rec.Entries), nil
}

func uncertainAcks(run *CrashRun, entries []vdisk.RecEntry) int {
	n := 0
	for rel, hi := range run.Acks {
		lo, ok := run.AckFrom[rel]
		if !ok {
			continue
		}
		// The flush of entry i was received at count i+1: one the line
		// may precede has lo <= i, and the stamp saw it, i < hi.
		for i := lo; i < hi && i < int64(len(entries)); i++ {
			if entries[i].Kind == vdisk.RecFlush {
				n++
				break
			}
		}
	}
	return n
}

//go:build linux

package copier

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/units"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// resumeSize is the big file of the resume tests; SURE_BENCH_RESUME_MIB
// (e.g. 2048) runs the power-cut one at a size worth measuring, with the
// default step.
func resumeSize(t *testing.T) (size, every int64) {
	if s := os.Getenv("SURE_BENCH_RESUME_MIB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n << 20, DefaultResumeEvery
	}
	return 96 << 20, 8 << 20
}

// sectorsWritten reads the 512-byte sectors a block device has written.
func sectorsWritten(t *testing.T, dev string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(dev), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseInt(f[6], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestResumeBigFileAfterPowerCut pulls the stick (a power cut: what its
// cache held is partly lost, and every later I/O fails) half a step past
// three quarters of a big file's copy. Plugged back in, the destination
// holds no file under the final name, only the kept temporary file; a
// rerun writes only what came after the last step, counted at the block
// device, and the file is then whole.
func TestResumeBigFileAfterPowerCut(t *testing.T) {
	kinds := []string{"ext4", "xfs", "exfat"}
	if os.Getenv("SURE_BENCH_RESUME_MIB") != "" {
		kinds = kinds[:1]
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { resumeAfterPowerCut(t, kind) })
	}
}

func resumeAfterPowerCut(t *testing.T, kind string) {
	size, every := resumeSize(t)
	stick := newStick(t, kind, max(size+size/2+(64<<20), fsimage.MinSize(kind)), vdisk.Faults{})
	src := filepath.Join(t.TempDir(), "big.bin")
	writeFile(t, src, size, 3)
	crash := filepath.Join(t.TempDir(), "crash.img")

	var once sync.Once
	var lastStep, cutAt int64
	var cut vdisk.CutResult
	var cutErr error
	testHookCheckpoint = func(dst string, off int64) {
		if cutAt == 0 {
			lastStep = off
		}
	}
	testHookWindow = func(dst string, off int64) {
		if off >= size*3/4+every/2 {
			once.Do(func() {
				cutAt = off
				cut, cutErr = stick.Disk.Cut(vdisk.CutOptions{Out: crash, Mode: vdisk.CutPrefix, Seed: 5, Yank: true})
			})
		}
	}
	defer func() { testHookCheckpoint, testHookWindow = nil, nil }()
	dst := filepath.Join(stick.Dir, "big.bin")
	sum, err := Copy(context.Background(), []string{src}, dst, Options{ResumeEvery: every})
	testHookCheckpoint, testHookWindow = nil, nil
	if cutErr != nil {
		t.Fatal(cutErr)
	}
	if cutAt == 0 || lastStep == 0 {
		t.Fatalf("not cut past a step at three quarters of the file: %v (%+v)", err, sum)
	}
	if err == nil {
		t.Fatal("the copy succeeded on a pulled stick")
	}
	stick.Remove(t)

	again := vstick.Replug(t, kind, crash, t.TempDir())
	dst = filepath.Join(again.Dir, "big.bin")
	if _, err := os.Lstat(dst); err == nil {
		t.Fatalf("%s exists after the cut: only the temporary file may", dst)
	}
	before := sectorsWritten(t, again.Device)
	sum, err = Copy(context.Background(), []string{src}, dst, Options{ResumeEvery: every})
	if err != nil {
		t.Fatalf("rerun: %v (%+v)", err, sum)
	}
	written := (sectorsWritten(t, again.Device) - before) * 512
	sameFile(t, src, dst)
	noTemps(t, again.Dir)
	rest := size - lastStep
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	t.Logf("%s file, yanked at %s (%d of %d writes in the cache kept), last step at %s: the rerun wrote %s to the device (%s after the step)",
		mib(size), mib(cutAt), cut.Kept, cut.EpochWrites, mib(lastStep), mib(written), mib(rest))
	// What follows the step, and the file system's own writes (its
	// journal, the job's); a copy from the start would write it all.
	if written < rest || written > rest+16<<20 {
		t.Errorf("the rerun wrote %d bytes, want the %d after the last step and at most 16 MiB more", written, rest)
	}
}

// TestResumeInTree stops a tree copy (Ctrl-C) in the middle of a big file
// in a subdirectory: the rerun, which cleans up stale temporary files in
// the directories it enters, keeps that one and writes only the rest.
func TestResumeInTree(t *testing.T) {
	size, every := resumeSize(t)
	stick := newStick(t, "ext4", 3*size, vdisk.Faults{})
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a.txt"), 4096, 1)
	writeFile(t, filepath.Join(src, "sub", "big.bin"), size, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var stopAt int64
	testHookCheckpoint = func(_ string, off int64) {
		if off >= size/2 && stopAt == 0 {
			stopAt = off
			cancel()
		}
	}
	defer func() { testHookCheckpoint = nil }()
	sum, err := Copy(ctx, []string{src}, stick.Dir, Options{Recursive: true, ResumeEvery: every, Workers: 1})
	cancel()
	testHookCheckpoint = nil
	if !sum.Interrupted || sum.Partial != 1 {
		t.Fatalf("stopped copy: %v, %+v: want interrupted with 1 partial file kept", err, sum)
	}
	start := received(t, stick)
	if sum, err := Copy(context.Background(), []string{src}, stick.Dir, Options{Recursive: true, ResumeEvery: every}); err != nil {
		t.Fatalf("rerun: %v (%+v)", err, sum)
	}
	written := received(t, stick) - start
	sameFile(t, filepath.Join(src, "sub", "big.bin"), filepath.Join(stick.Dir, "src", "sub", "big.bin"))
	noTemps(t, filepath.Join(stick.Dir, "src", "sub"))
	if rest := size - stopAt; written < rest || written > rest+16<<20 {
		t.Errorf("the rerun wrote %d bytes, want the %d left and at most 16 MiB more", written, rest)
	}
}

// TestResumeBigFileAfterStop stops a copy (Ctrl-C) after a step at half
// the file: the temporary file is kept and counted, the journal names it,
// and a rerun writes only the rest (counted by the stick). A second stop
// then a change to the source makes the rerun after it start over.
func TestResumeBigFileAfterStop(t *testing.T) {
	for _, kind := range []string{"ext4", "exfat"} {
		t.Run(kind, func(t *testing.T) {
			size, every := resumeSize(t)
			stick := newStick(t, kind, 3*size, vdisk.Faults{})
			src := filepath.Join(t.TempDir(), "big.bin")
			writeFile(t, src, size, 4)
			dst := filepath.Join(stick.Dir, "big.bin")
			stopAtHalf := func() int64 {
				t.Helper()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var stopAt int64
				testHookCheckpoint = func(_ string, off int64) {
					if off >= size/2 && stopAt == 0 {
						stopAt = off
						cancel()
					}
				}
				defer func() { testHookCheckpoint = nil }()
				sum, err := Copy(ctx, []string{src}, dst, Options{ResumeEvery: every})
				if !sum.Interrupted || sum.Partial != 1 || sum.Discarded != 0 {
					t.Fatalf("stopped copy: %v, %+v: want interrupted with 1 partial file kept", err, sum)
				}
				if !strings.Contains(readJournal(t, stick.Dir), "P ") {
					t.Fatal("the journal names no partial file")
				}
				return stopAt
			}

			stopAt := stopAtHalf()
			start := received(t, stick)
			if sum, err := Copy(context.Background(), []string{src}, dst, Options{ResumeEvery: every}); err != nil {
				t.Fatalf("rerun: %v (%+v)", err, sum)
			}
			written := received(t, stick) - start
			sameFile(t, src, dst)
			noTemps(t, stick.Dir)
			t.Logf("stopped at %s of %s: the rerun wrote %s", units.Bytes(stopAt), units.Bytes(size), units.Bytes(written))
			if rest := size - stopAt; written < rest || written > rest+16<<20 {
				t.Errorf("the rerun wrote %d bytes, want the %d left and at most 16 MiB more", written, rest)
			}

			// A changed source: the kept part is not the new content's.
			if err := os.Remove(dst); err != nil {
				t.Fatal(err)
			}
			stopAtHalf()
			writeFile(t, src, size, 5)
			start = received(t, stick)
			if sum, err := Copy(context.Background(), []string{src}, dst, Options{ResumeEvery: every}); err != nil {
				t.Fatalf("rerun after a change: %v (%+v)", err, sum)
			}
			if written := received(t, stick) - start; written < size {
				t.Errorf("the rerun after the source changed wrote %d bytes, want all %d", written, size)
			}
			sameFile(t, src, dst)
			noTemps(t, stick.Dir)
		})
	}
}

func readJournal(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, JournalName))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTemps fails for any temporary file or journal left under dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".sure-") {
			f, _ := os.Open(filepath.Join(dir, e.Name()))
			var first string
			if f != nil {
				sc := bufio.NewScanner(f)
				if sc.Scan() {
					first = sc.Text()
				}
				f.Close()
			}
			t.Errorf("left in %s: %s %s", dir, e.Name(), fmt.Sprintf("%.80q", first))
		}
	}
}

// TestNoResumeOnFusefat: fusefat rewrites a file reopened to append to
// it, so a big file there is copied without steps, and a stop keeps no
// part of it.
func TestNoResumeOnFusefat(t *testing.T) {
	size, every := resumeSize(t)
	stick := newStick(t, "vfat", 3*size, vdisk.Faults{})
	src := filepath.Join(t.TempDir(), "big.bin")
	writeFile(t, src, size, 6)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	testHookCheckpoint = func(string, int64) { steps++ }
	testHookWindow = func(_ string, off int64) {
		if off >= size/2 {
			cancel()
		}
	}
	defer func() { testHookCheckpoint, testHookWindow = nil, nil }()
	sum, err := Copy(ctx, []string{src}, filepath.Join(stick.Dir, "big.bin"), Options{ResumeEvery: every})
	if !sum.Interrupted || sum.Partial != 0 || steps != 0 {
		t.Errorf("stopped: %v, %+v, %d steps: want interrupted, no step, nothing kept", err, sum, steps)
	}
	noTemps(t, stick.Dir)
}

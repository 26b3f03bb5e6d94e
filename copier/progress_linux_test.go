//go:build linux

package copier

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// progressTree writes a source tree with empty, small, multi-window and
// sparse files, and returns the size of each file by its path under the
// copy's destination.
func progressTree(t *testing.T, src, dest string) map[string]int64 {
	t.Helper()
	sizes := map[string]int64{}
	add := func(rel string, size int64, seed uint64) {
		writeFile(t, filepath.Join(src, rel), size, seed)
		sizes[filepath.Join(dest, rel)] = size
	}
	for i := range 40 {
		add(filepath.Join("small", string(rune('a'+i%26))+string(rune('a'+i/26))), int64(i*i*37), uint64(i))
	}
	add("empty", 0, 99)
	add("big/twenty", 20<<20+123, 100)
	add("big/three", 3<<20, 101)
	sparse := filepath.Join(src, "big/sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*13 + 1)
	}
	if _, err := f.WriteAt(data, 5<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(12 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sizes[filepath.Join(dest, "big/sparse")] = 12 << 20
	return sizes
}

// TestProgressLadder copies a tree onto real file systems and checks that
// progress climbs the guarantee ladder in order and adds up: every byte of
// every file is reported on the device exactly once, before that file is
// reported durable, and a rerun with the quick check that finds
// everything complete reports no new bytes.
func TestProgressLadder(t *testing.T) {
	for _, kind := range []string{"ext4", "btrfs", "exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			m := fsimage.ForTest(t, kind)
			src := filepath.Join(t.TempDir(), "src")
			dest := filepath.Join(m.Dir, "src")
			sizes := progressTree(t, src, dest)
			rec := &recorder{}
			opt := Options{Recursive: true, Archive: true, MaxDirty: 2 << 20, BatchFiles: 16, Events: rec}
			if _, err := Copy(context.Background(), []string{src}, m.Dir, opt); err != nil {
				t.Fatal(err)
			}
			checkLadder(t, rec.events(), sizes)
			equalTrees(t, src, dest)
			if kind != "ext4" {
				return // resume needs times kept to the nanosecond
			}
			again := &recorder{}
			opt.Events, opt.QuickCheck = again, true
			sum, err := Copy(context.Background(), []string{src}, m.Dir, opt)
			if err != nil {
				t.Fatal(err)
			}
			if sum.UpToDate != len(sizes) {
				t.Errorf("rerun: %d files up to date, want %d", sum.UpToDate, len(sizes))
			}
			checkLadder(t, again.events(), map[string]int64{})
		})
	}
}

// TestProgressNeverAheadOfDevice copies onto the virtual stick, which
// writes slower than memory, and asks the stick at every OnDevice how much
// it has received: progress must never count a byte the device does not
// have yet. On exFAT and FAT32 (FUSE) each window is flushed and the block
// device's writeback waited for (fusefat ignores fsync, so only the latter
// gets its data there); on ext4, sync_file_range waits for it.
func TestProgressNeverAheadOfDevice(t *testing.T) {
	for _, kind := range []string{"ext4", "exfat", "vfat"} {
		t.Run(kind, func(t *testing.T) {
			s := newStick(t, kind, 256<<20, vdisk.Faults{BandwidthMBps: 40})
			src := filepath.Join(t.TempDir(), "src")
			dest := filepath.Join(s.Dir, "src")
			sizes := map[string]int64{}
			for i, size := range []int64{32 << 20, 6 << 20, 100, 70000} {
				rel := filepath.Join("d", string(rune('a'+i)))
				writeFile(t, filepath.Join(src, rel), size, uint64(i))
				sizes[filepath.Join(dest, rel)] = size
			}
			base := received(t, s)
			var claimed int64
			checks := 0
			rec := &recorder{onDevice: func(dst string, n int64) {
				claimed += n
				checks++
				if got := received(t, s) - base; got < claimed {
					t.Errorf("OnDevice(%s, %d): %d bytes claimed on the device, which has received %d", dst, n, claimed, got)
				}
			}}
			opt := Options{Recursive: true, MaxDirty: 8 << 20, Workers: 2, Events: rec}
			if _, err := Copy(context.Background(), []string{src}, s.Dir, opt); err != nil {
				t.Fatal(err)
			}
			checkLadder(t, rec.events(), sizes)
			if checks < 10 {
				t.Errorf("only %d OnDevice events for 38 MiB in 2 MiB windows: write-behind did not report", checks)
			}
			equalTrees(t, src, dest)
		})
	}
}

// TestProgressMove checks the same contract for a move onto another file
// system, where each source goes only once its copy is durable.
func TestProgressMove(t *testing.T) {
	m := fsimage.ForTest(t, "ext4")
	src := filepath.Join(t.TempDir(), "src")
	dest := filepath.Join(m.Dir, "src")
	sizes := progressTree(t, src, dest)
	rec := &recorder{}
	if _, err := Move(context.Background(), []string{src}, m.Dir, Options{MaxDirty: 1 << 20, BatchFiles: 8, Events: rec}); err != nil {
		t.Fatal(err)
	}
	checkLadder(t, rec.events(), sizes)
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("source still there after the move: %v", err)
	}
}

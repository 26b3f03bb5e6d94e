//go:build linux

package copier

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// BenchmarkSmallFiles copies 2000 small files onto the virtual stick with
// a 10 ms flush latency (a realistic USB stick), with sure's engine and
// with `cp -r && sync -f`, the fastest way to the same guarantee without
// atomic files (on the FUSE sticks not even that: sync -f sends their
// servers nothing). Compare the ns/op and the stick's flushes/op:
//
//	go test -run '^$' -bench SmallFiles -benchtime 5x ./copier/
//	go test -run '^$' -bench SmallFiles/exfat -benchtime 1x ./copier/
func BenchmarkSmallFiles(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind, func(b *testing.B) {
			s := newStick(b, kind, 1<<30, vdisk.Faults{FlushLatency: 10 * time.Millisecond})
			src := filepath.Join(b.TempDir(), "src")
			for i := range 2000 {
				writeFile(b, filepath.Join(src, fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%04d", i)), int64(1000+i*7%15000), uint64(i))
			}
			run := 0
			next := func() string {
				run++
				d := filepath.Join(s.Dir, fmt.Sprintf("run%d", run))
				if err := os.Mkdir(d, 0o755); err != nil {
					b.Fatal(err)
				}
				return d
			}
			benchAgainstCp(b, src, next, func() int64 { return stickFlushes(b, s) })
		})
	}
}

// stickFlushes is how many cache flushes the stick has been asked for.
func stickFlushes(b *testing.B, s *vstick.Stick) int64 {
	st, err := s.Disk.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return st.Flushes
}

// benchAgainstCp times sure cp -r of src against cp -r && sync -f, each
// run into a fresh directory from next. Where flushes is set (a virtual
// stick), the device flushes of each run are reported as flushes/op.
func benchAgainstCp(b *testing.B, src string, next func() string, flushes func() int64) {
	counted := func(b *testing.B, run func(dst string)) {
		var n int64
		for b.Loop() {
			d := next()
			before := int64(0)
			if flushes != nil {
				before = flushes()
			}
			run(d)
			if flushes != nil {
				n += flushes() - before
			}
		}
		if flushes != nil {
			b.ReportMetric(float64(n)/float64(b.N), "flushes/op")
		}
	}
	b.Run("sure", func(b *testing.B) {
		counted(b, func(d string) {
			if _, err := Copy(context.Background(), []string{src}, d, Options{Recursive: true}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("cp+sync", func(b *testing.B) {
		counted(b, func(d string) {
			if out, err := exec.Command("sh", "-c", `cp -r "$1" "$2" && sync -f "$2"`, "sh", src, d).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		})
	})
}

// benchKinds are the file systems BenchmarkSmallFiles runs on: ext4, and
// exFAT and FAT through their FUSE servers.
var benchKinds = []string{"ext4", "exfat", "vfat"}

// BenchmarkBigFile copies one 256 MiB file onto a virtual stick that
// writes at 100 MB/s, with sure's engine, with O_DIRECT writes (the
// stick's own pace through this stack) and with `cp && sync -f`:
//
//	go test -run '^$' -bench BigFile -benchtime 3x ./copier/
func BenchmarkBigFile(b *testing.B) {
	const size = 256 << 20
	s := newStick(b, "ext4", 2<<30, vdisk.Faults{BandwidthMBps: 100})
	src := filepath.Join(b.TempDir(), "big")
	writeFile(b, src, size, 1)
	run := 0
	next := func() string {
		run++
		d := filepath.Join(s.Dir, fmt.Sprintf("big%d", run))
		os.RemoveAll(filepath.Join(s.Dir, fmt.Sprintf("big%d", run-2)))
		return d
	}
	b.Run("sure", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := Copy(context.Background(), []string{src}, next(), Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The stick's own pace: O_DIRECT writes bypass the page cache.
	b.Run("dd-direct", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			d := next()
			if out, err := exec.Command("dd", "if="+src, "of="+d, "bs=8M", "oflag=direct", "conv=fsync", "status=none").CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("cp+sync", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			d := next()
			if out, err := exec.Command("sh", "-c", `cp "$1" "$2" && sync -f "$2"`, "sh", src, d).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}

// BenchmarkFastDevice copies small files (1–64 KiB) onto ext4 on a loop
// file in a tmpfs, a device whose flushes cost nothing: what is left is
// sure's own CPU against `cp -r && sync -f`. Profile it with
//
//	go test -run '^$' -bench FastDevice -benchtime 3x -cpuprofile /tmp/cpu.out ./copier/
func BenchmarkFastDevice(b *testing.B) {
	for _, n := range []int{4000, 20000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=3g"); err != nil {
				b.Skipf("mounting a tmpfs: %v", err)
			}
			b.Cleanup(func() { unix.Unmount(dir, 0) })
			src := filepath.Join(dir, "src")
			for i := range n {
				writeFile(b, filepath.Join(src, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%06d", i)), int64(1024+i*7919%(63<<10)), uint64(i))
			}
			img := filepath.Join(dir, "ext4.img")
			if err := fsimage.Create("ext4", img, int64(n)*64<<10+256<<20); err != nil {
				b.Fatal(err)
			}
			mnt := filepath.Join(dir, "mnt")
			if err := os.Mkdir(mnt, 0o755); err != nil {
				b.Fatal(err)
			}
			m, err := fsimage.MountImage("ext4", img, mnt)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Unmount() })
			run := 0
			// Each run copies into an empty directory; the one before is
			// removed outside the clock, so the image never fills up.
			next := func() string {
				b.StopTimer()
				defer b.StartTimer()
				os.RemoveAll(filepath.Join(mnt, fmt.Sprint(run)))
				run++
				d := filepath.Join(mnt, fmt.Sprint(run))
				if err := os.Mkdir(d, 0o755); err != nil {
					b.Fatal(err)
				}
				return d
			}
			benchAgainstCp(b, src, next, nil)
		})
	}
}

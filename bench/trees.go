//go:build linux

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// size is a byte count flag: 4GiB, 256MiB, 64KiB, 1.5G, or plain bytes.
type size int64

func (s *size) String() string { return fmtBytes(int64(*s)) }

func (s *size) Set(v string) error {
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return fmt.Errorf("%q is not a size (examples: 4GiB, 256MiB, 65536)", v)
	}
	*s = size(f * float64(mult))
	return nil
}

// fmtBytes formats n in binary units, short enough for a table cell.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<30))) + " GiB"
	case n >= 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MiB"
	case n >= 1<<10:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KiB"
	}
	return fmt.Sprintf("%d B", n)
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// tree is what a source holds, to check each copy against.
type tree struct {
	files int
	bytes int64
}

// writer fills files with pseudo-random bytes (no file system here
// compresses or deduplicates, but the data should not be trivially
// compressible either) from one buffer regenerated per file.
type writer struct {
	rng *rand.ChaCha8
	buf []byte
	t   tree
}

func newWriter(seed uint64) *writer {
	var s [32]byte
	for i := range 4 {
		seed = seed*6364136223846793005 + 1442695040888963407
		for j := range 8 {
			s[i*8+j] = byte(seed >> (8 * j))
		}
	}
	return &writer{rng: rand.NewChaCha8(s), buf: make([]byte, 1<<20)}
}

func (w *writer) file(name string, n int64) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	for left := n; left > 0; {
		b := w.buf[:min(left, int64(len(w.buf)))]
		w.rng.Read(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		left -= int64(len(b))
	}
	if err := f.Close(); err != nil {
		return err
	}
	w.t.files++
	w.t.bytes += n
	return nil
}

// smallTree writes n files of sizes uniform in [lo, hi] under dir, 100 to a
// directory, as a source tree of many small files.
func smallTree(dir string, n int, lo, hi int64, seed uint64) (tree, error) {
	w := newWriter(seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range n {
		name := filepath.Join(dir, fmt.Sprintf("d%04d", i/100), fmt.Sprintf("f%06d.dat", i))
		if err := w.file(name, lo+r.Int64N(hi-lo+1)); err != nil {
			return w.t, err
		}
	}
	return w.t, nil
}

// bigFile writes one file of n bytes.
func bigFile(name string, n int64, seed uint64) (tree, error) {
	w := newWriter(seed)
	return w.t, w.file(name, n)
}

// photoTree writes a tree shaped like a camera or phone photo library until
// it holds about total bytes: YEAR/YEAR-MM directories of JPEG photos
// (1.5–7 MiB), some with an XMP sidecar (3–12 KiB), a raw file now and then
// (18–30 MiB), a video every few dozen shots (20–150 MiB), small JSON
// metadata, and a cache directory of thumbnails (16–60 KiB).
func photoTree(dir string, total int64, seed uint64) (tree, error) {
	w := newWriter(seed)
	r := rand.New(rand.NewPCG(seed, 2))
	const perMonth = 120
	for i := 0; w.t.bytes < total; i++ {
		year, month := 2015+i/(12*perMonth), 1+(i/perMonth)%12
		month_ := filepath.Join(dir, strconv.Itoa(year), fmt.Sprintf("%d-%02d", year, month))
		base := filepath.Join(month_, fmt.Sprintf("IMG_%05d", i))
		var err error
		put := func(name string, lo, hi int64) {
			if err == nil {
				err = w.file(name, lo+r.Int64N(hi-lo+1))
			}
		}
		switch p := r.IntN(100); {
		case p < 3:
			put(filepath.Join(month_, fmt.Sprintf("VID_%05d.MP4", i)), 20<<20, 150<<20)
		case p < 10:
			put(base+".CR2", 18<<20, 30<<20)
			put(base+".JPG", 1536<<10, 7<<20)
		default:
			put(base+".JPG", 1536<<10, 7<<20)
		}
		if r.IntN(100) < 20 {
			put(base+".xmp", 3<<10, 12<<10)
		}
		if r.IntN(100) < 10 {
			put(base+".json", 300, 2<<10)
		}
		put(filepath.Join(dir, ".thumbnails", fmt.Sprintf("%d", year), fmt.Sprintf("IMG_%05d.jpg", i)), 16<<10, 60<<10)
		if err != nil {
			return w.t, err
		}
	}
	return w.t, nil
}

// measure walks a copy and counts what it holds, so a command that failed
// quietly or copied the wrong thing is not timed as a success.
func measure(path string) (tree, error) {
	var t tree
	err := filepath.Walk(path, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			t.files++
			t.bytes += info.Size()
		}
		return nil
	})
	return t, err
}

//go:build linux

package powercut

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
)

// tree is the set of files a trial copies: relative path → content hash.
// Contents are generated from a seed, so only the hashes are kept.
type tree map[string][32]byte

func (t tree) paths() []string {
	p := make([]string, 0, len(t))
	for k := range t {
		p = append(p, k)
	}
	sort.Strings(p)
	return p
}

// Shape is the source tree of a campaign.
type Shape struct {
	Files    int   // small files, spread over subdirectories
	MaxSmall int   // their sizes are uniform in [1, MaxSmall] bytes
	BigSize  int64 // one big file of this size, big.bin; 0 for none
}

// DefaultShape is a stick's typical load: several hundred small files,
// where per-file flushes cost most, and one 24 MiB file, which spans
// many write-behind windows.
var DefaultShape = Shape{Files: 400, MaxSmall: 8192, BigSize: 24 << 20}

// bigName is the big file's path inside the tree.
const bigName = "big.bin"

// writeTree creates the tree under dir with contents drawn from seed and
// returns their hashes. The old versions of an overwrite campaign come from
// another seed, so every old file differs from its new version.
func writeTree(dir string, s Shape, seed uint64) (tree, error) {
	rng := seededRand(seed, 0x243f6a8885a308d3)
	t := tree{}
	put := func(rel string, size int64) error {
		name := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		h := sha256.New()
		r := io.LimitReader(rngReader{rng}, size)
		_, err = io.Copy(io.MultiWriter(f, h), r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("powercut: writing %s: %w", name, err)
		}
		t[rel] = [32]byte(h.Sum(nil))
		return nil
	}
	for i := range s.Files {
		rel := filepath.Join(fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%04d.txt", i))
		if err := put(rel, 1+rng.Int64N(int64(max(s.MaxSmall, 1)))); err != nil {
			return nil, err
		}
	}
	if s.BigSize > 0 {
		if err := put(bigName, s.BigSize); err != nil {
			return nil, err
		}
	}
	return t, nil
}

type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := 0; i+8 <= len(p); i += 8 {
		v := r.r.Uint64()
		for j := range 8 {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(p) &^ 7; i < len(p); i++ {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}

// hashFile returns the content hash of name, or ok=false when it cannot be
// read as a regular file.
func hashFile(name string) (sum [32]byte, ok bool) {
	f, err := os.Open(name)
	if err != nil {
		return sum, false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return sum, false
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, false
	}
	return [32]byte(h.Sum(nil)), true
}

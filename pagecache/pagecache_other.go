//go:build !linux

package pagecache

import (
	"time"

	"github.com/sure-tools/sure/fsinfo"
)

// The page cache is only inspected on Linux; elsewhere every figure is
// ErrUnsupported rather than a zero that would read as "nothing pending".

func File(path string) (Stat, error)    { return Stat{}, ErrUnsupported }
func Device(dev string) (Stat, error)   { return Stat{}, ErrUnsupported }
func TreeOf(root string) (Tree, error)  { return Tree{}, ErrUnsupported }
func Meminfo() (System, error)          { return System{}, ErrUnsupported }
func BDINames(m fsinfo.Mount) []string  { return nil }
func BDIStats(name string) (BDI, error) { return BDI{}, ErrUnsupported }
func ReadBDI(name string) (BDI, error)  { return BDI{}, ErrUnsupported }
func DebugfsMounted() bool              { return false }
func kernelRelease() string             { return "" }

// CtimeSlack: without Linux's coarse clock to ask, a generous second.
func CtimeSlack() time.Duration { return time.Second }

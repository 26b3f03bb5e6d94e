//go:build linux

package powercut

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/internal/fsimage"
)

// TestFsckFatBlanksBetweenNameSlots is the FAT property behind the torn
// names of the FAT crash campaigns (docs/lab.md), built by hand so that
// it does not depend on one recording. A directory spans two clusters
// apart; the long name of its last entry ends the first, the short entry
// it belongs to starts the second, and an earlier entry has the same
// short name, as a half-applied fusefat directory update leaves them.
// fsck.fat -a renames the duplicate and rewrites the slots from the long
// name to the short entry as if the directory were contiguous: every
// cluster between them is overwritten, here a file that has nothing to
// do with the directory. Without the duplicate it stays intact.
func TestFsckFatBlanksBetweenNameSlots(t *testing.T) {
	fsimage.Require(t, "vfat")
	for _, dup := range []bool{false, true} {
		out, damaged := fsckSplitName(t, dup)
		switch {
		case !dup && damaged:
			t.Fatalf("fsck.fat overwrote a file with no duplicate name to repair:\n%s", out)
		case dup && !damaged:
			t.Fatalf("fsck.fat left the clusters between the name's slots alone: the FAT campaigns' torn names need another explanation (docs/lab.md)\n%s", out)
		case dup:
			t.Logf("fsck.fat overwrote x.bin, outside the repaired directory:\n%s", out)
		}
	}
}

// fsckSplitName builds the image, with or without the duplicate short
// name, runs the lab's fsck on it and reports whether the bystander file
// changed.
func fsckSplitName(t *testing.T, dup bool) (string, bool) {
	img := filepath.Join(t.TempDir(), "fat.img")
	if err := fsimage.Create("vfat", img, 64<<20); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, 0); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	sector := int64(le.Uint16(boot[11:]))
	cluster := sector * int64(boot[13])
	fat := int64(le.Uint16(boot[14:])) * sector
	fats, fatSize := int64(boot[16]), int64(le.Uint32(boot[36:]))*sector
	data := fat + fats*fatSize
	root := int64(le.Uint32(boot[44:]))
	at := func(c int64) int64 { return data + (c-2)*cluster }
	write := func(off int64, b []byte) {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	link := func(c, next int64) {
		for i := range fats {
			write(fat+i*fatSize+4*c, le.AppendUint32(nil, uint32(next)))
		}
	}
	const eoc = 0x0fffffff
	entry := func(name string, attr byte, start int64, size int) []byte {
		e := make([]byte, 32)
		copy(e, name+"           "[len(name):])
		e[11] = attr
		le.PutUint16(e[20:], uint16(start>>16))
		le.PutUint16(e[26:], uint16(start))
		le.PutUint32(e[28:], uint32(size))
		return e
	}
	longName := func(name, short string) []byte {
		var sum byte
		for _, c := range []byte(short + "           "[len(short):]) {
			sum = (sum&1)<<7 | sum>>1 + c
		}
		u := bytes.Repeat([]byte{0xff}, 26)
		for i, c := range name + "\x00" {
			le.PutUint16(u[2*i:], uint16(c))
		}
		e := make([]byte, 32)
		e[0], e[11], e[13] = 0x41, 0x0f, sum
		copy(e[1:11], u[:10])
		copy(e[14:26], u[10:22])
		copy(e[28:32], u[22:26])
		return e
	}
	// The directory d: clusters 10 and 20. The bystander x.bin: 11 to 19.
	const dir, gap, last = 10, 11, 19
	const second = 20
	write(at(root), append(entry("D", 0x10, dir, 0), entry("X       BIN", 0x20, gap, int(last-gap+1)*int(cluster))...))
	link(dir, second)
	link(second, eoc)
	for c := int64(gap); c < last; c++ {
		link(c, c+1)
	}
	link(last, eoc)
	bystander := bytes.Repeat([]byte{0x5a}, int(last-gap+1)*int(cluster))
	write(at(gap), bystander)
	slots := cluster / 32
	first := append(entry(".", 0x10, dir, 0), entry("..", 0x10, 0, 0)...)
	first = append(first, longName("a.txt", "~5")...)
	first = append(first, entry("~5", 0x20, 30, 1)...)
	for len(first) < int(slots-1)*32 {
		first = append(first, append([]byte{0xe5}, make([]byte, 31)...)...)
	}
	first = append(first, longName("b.txt", "~5")...)
	write(at(dir), first)
	name := "~6"
	if dup {
		name = "~5"
	}
	write(at(second), entry(name, 0x20, 31, 1))
	for _, c := range []int64{30, 31} {
		link(c, eoc)
		write(at(c), []byte{'o'})
	}

	out, err := fsimage.Fsck("vfat", img)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := make([]byte, len(bystander))
	if _, err := f.ReadAt(got, at(gap)); err != nil {
		t.Fatal(err)
	}
	return out, !bytes.Equal(got, bystander)
}

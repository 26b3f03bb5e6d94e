// Package blkid tells which file system a device holds from its first
// bytes, the way blkid does, for the kinds sure meets.
package blkid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// Probe reads the file system signature at the start of r (a partition or
// a whole disk) the way blkid does for the kinds sure meets on sticks and
// in its tests: ext2/3/4, xfs, btrfs, exfat, vfat, ntfs and swap. It
// returns empty strings for anything else.
func Probe(r io.ReaderAt) (fstype, label, uuid string) {
	head := make([]byte, 0x11000) // up to btrfs' superblock at 64 KiB
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	if len(head) < 512 {
		return "", "", ""
	}
	at := func(off, size int) []byte {
		if off+size > len(head) {
			return nil
		}
		return head[off : off+size]
	}
	if b := at(1024+56, 2); b != nil && binary.LittleEndian.Uint16(b) == 0xEF53 {
		sb := at(1024, 1024)
		fstype = "ext2"
		compat, incompat := binary.LittleEndian.Uint32(sb[92:]), binary.LittleEndian.Uint32(sb[96:])
		switch {
		case incompat&0x2C0 != 0: // extents, 64bit, flex_bg
			fstype = "ext4"
		case compat&0x4 != 0: // has_journal
			fstype = "ext3"
		}
		return fstype, cstr(sb[120:136]), uuidString(sb[104:120])
	}
	if b := at(0, 4); bytes.Equal(b, []byte("XFSB")) {
		return "xfs", cstr(at(108, 12)), uuidString(at(32, 16))
	}
	if b := at(0x10040, 8); bytes.Equal(b, []byte("_BHRfS_M")) {
		return "btrfs", cstr(at(0x1012b, 256)), uuidString(at(0x10020, 16))
	}
	if b := at(3, 8); bytes.Equal(b, []byte("EXFAT   ")) {
		return "exfat", exfatLabel(r, head), serialString(binary.LittleEndian.Uint32(at(100, 4)))
	}
	if b := at(3, 8); bytes.Equal(b, []byte("NTFS    ")) {
		return "ntfs", "", fmt.Sprintf("%016X", binary.LittleEndian.Uint64(at(72, 8)))
	}
	if b := at(510, 2); bytes.Equal(b, []byte{0x55, 0xAA}) {
		if bytes.Equal(at(82, 5), []byte("FAT32")) {
			return "vfat", fatLabel(at(71, 11)), serialString(binary.LittleEndian.Uint32(at(67, 4)))
		}
		if bytes.Equal(at(54, 4), []byte("FAT1")) {
			return "vfat", fatLabel(at(43, 11)), serialString(binary.LittleEndian.Uint32(at(39, 4)))
		}
	}
	for _, page := range []int{4096, 8192, 16384, 65536} {
		if b := at(page-10, 10); bytes.Equal(b, []byte("SWAPSPACE2")) {
			return "swap", cstr(at(1024+28, 16)), uuidString(at(1024+12, 16))
		}
	}
	return "", "", ""
}

// exfatLabel finds the volume label entry (type 0x83) in the first cluster
// of the root directory; the boot sector does not hold the label.
func exfatLabel(r io.ReaderAt, boot []byte) string {
	if len(boot) < 512 {
		return ""
	}
	heap := int64(binary.LittleEndian.Uint32(boot[88:]))
	root := int64(binary.LittleEndian.Uint32(boot[96:]))
	sectorShift, clusterShift := boot[108], boot[109]
	if sectorShift < 9 || sectorShift > 12 || clusterShift > 25 || root < 2 {
		return ""
	}
	clusterSize := int64(1) << (sectorShift + clusterShift)
	dir := make([]byte, min(clusterSize, 1<<20))
	if _, err := r.ReadAt(dir, heap<<sectorShift+(root-2)*clusterSize); err != nil && err != io.EOF {
		return ""
	}
	for i := 0; i+32 <= len(dir); i += 32 {
		switch dir[i] {
		case 0x00:
			return "" // end of directory
		case 0x83:
			n := min(int(dir[i+1]), 11)
			u := make([]uint16, n)
			for j := range n {
				u[j] = binary.LittleEndian.Uint16(dir[i+2+2*j:])
			}
			return string(utf16.Decode(u))
		}
	}
	return ""
}

func fatLabel(b []byte) string {
	l := strings.TrimRight(string(b), " ")
	if l == "NO NAME" {
		return ""
	}
	return l
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}

func uuidString(b []byte) string {
	if len(b) != 16 || bytes.Equal(b, make([]byte, 16)) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// serialString prints a FAT or exFAT volume serial as blkid does: XXXX-XXXX.
func serialString(n uint32) string {
	return fmt.Sprintf("%04X-%04X", n>>16, n&0xffff)
}

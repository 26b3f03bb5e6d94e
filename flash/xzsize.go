package flash

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
)

// xzSize returns the decompressed size of the .xz file f (size bytes
// long) from the indexes at the end of its streams, or -1 when they cannot
// be read. The xz format records every block's uncompressed size there, so
// a too-small device can be refused without decompressing anything. A
// corrupt file gives -1 here and fails later in the decoder, which says
// why.
func xzSize(f io.ReaderAt, size int64) int64 {
	var total int64
	pos := size
	for pos > 0 {
		// Stream padding: groups of four zero bytes after a stream.
		var w [4]byte
		for pos >= 4 {
			if _, err := f.ReadAt(w[:], pos-4); err != nil {
				return -1
			}
			if w != [4]byte{} {
				break
			}
			pos -= 4
		}
		if pos == 0 {
			break
		}
		n, start, ok := xzStream(f, pos)
		if !ok {
			return -1
		}
		total += n
		pos = start
	}
	return total
}

// xzStream reads the stream that ends at end and returns its
// decompressed size and where it starts.
func xzStream(f io.ReaderAt, end int64) (n, start int64, ok bool) {
	const headerLen, footerLen = 12, 12
	if end < headerLen+footerLen {
		return 0, 0, false
	}
	var footer [footerLen]byte
	if _, err := f.ReadAt(footer[:], end-footerLen); err != nil || footer[10] != 'Y' || footer[11] != 'Z' {
		return 0, 0, false
	}
	indexLen := (int64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	indexAt := end - footerLen - indexLen
	// The format caps the index at 16 GiB; refuse anything near that
	// rather than allocate it.
	if indexAt < headerLen || indexLen > 64<<20 {
		return 0, 0, false
	}
	index := make([]byte, indexLen)
	if _, err := f.ReadAt(index, indexAt); err != nil {
		return 0, 0, false
	}
	if crc32.ChecksumIEEE(index[:indexLen-4]) != binary.LittleEndian.Uint32(index[indexLen-4:]) || index[0] != 0 {
		return 0, 0, false
	}
	r := bytes.NewReader(index[1 : indexLen-4])
	records, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, 0, false
	}
	var blocks int64
	for range records {
		unpadded, err1 := binary.ReadUvarint(r)
		uncompressed, err2 := binary.ReadUvarint(r)
		if err1 != nil || err2 != nil || unpadded > 1<<62 || uncompressed > 1<<62 {
			return 0, 0, false
		}
		blocks += int64(unpadded+3) &^ 3
		n += int64(uncompressed)
		if blocks < 0 || n < 0 {
			return 0, 0, false
		}
	}
	start = indexAt - blocks - headerLen
	var header [6]byte
	if start < 0 {
		return 0, 0, false
	}
	if _, err := f.ReadAt(header[:], start); err != nil || !bytes.Equal(header[:], xzMagic) {
		return 0, 0, false
	}
	return n, start, true
}

package flash

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
)

// xzBlock is one block of an .xz file, as its stream's index records it.
type xzBlock struct {
	header   [12]byte // the header of the stream it is in
	off      int64    // where its compressed bytes start in the file
	unpadded int64    // its size without padding, as the index has it
	uoff     int64    // where its bytes start in the decompressed image
	usize    int64    // decompressed size
}

// xzIndex reads the indexes at the end of the streams of the .xz file f
// (size bytes long): every block with its place in the file and in the
// image. The xz format records them there, so a too-small device can be
// refused without decompressing anything, and blocks that only hold
// parts of the image that are not written need not be decompressed. A
// corrupt file gives false here and fails later in the decoder, which
// says why.
func xzIndex(f io.ReaderAt, size int64) ([]xzBlock, bool) {
	var streams [][]xzBlock
	pos := size
	for pos > 0 {
		// Stream padding: groups of four zero bytes after a stream.
		var w [4]byte
		for pos >= 4 {
			if _, err := f.ReadAt(w[:], pos-4); err != nil {
				return nil, false
			}
			if w != [4]byte{} {
				break
			}
			pos -= 4
		}
		if pos == 0 {
			break
		}
		bs, start, ok := xzStream(f, pos)
		if !ok {
			return nil, false
		}
		streams = append(streams, bs)
		pos = start
	}
	var all []xzBlock
	var uoff int64
	for i := len(streams) - 1; i >= 0; i-- {
		for _, b := range streams[i] {
			b.uoff = uoff
			uoff += b.usize
			all = append(all, b)
		}
	}
	return all, true
}

// xzStream reads the stream that ends at end and returns its blocks
// (uoff not set) and where it starts.
func xzStream(f io.ReaderAt, end int64) (blocks []xzBlock, start int64, ok bool) {
	const headerLen, footerLen = 12, 12
	if end < headerLen+footerLen {
		return nil, 0, false
	}
	var footer [footerLen]byte
	if _, err := f.ReadAt(footer[:], end-footerLen); err != nil || footer[10] != 'Y' || footer[11] != 'Z' {
		return nil, 0, false
	}
	indexLen := (int64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	indexAt := end - footerLen - indexLen
	// The format caps the index at 16 GiB; refuse anything near that
	// rather than allocate it.
	if indexAt < headerLen || indexLen > 64<<20 {
		return nil, 0, false
	}
	index := make([]byte, indexLen)
	if _, err := f.ReadAt(index, indexAt); err != nil {
		return nil, 0, false
	}
	if crc32.ChecksumIEEE(index[:indexLen-4]) != binary.LittleEndian.Uint32(index[indexLen-4:]) || index[0] != 0 {
		return nil, 0, false
	}
	r := bytes.NewReader(index[1 : indexLen-4])
	records, err := binary.ReadUvarint(r)
	if err != nil || records > uint64(indexLen) {
		return nil, 0, false
	}
	var padded, n int64
	for range records {
		unpadded, err1 := binary.ReadUvarint(r)
		uncompressed, err2 := binary.ReadUvarint(r)
		if err1 != nil || err2 != nil || unpadded > 1<<62 || uncompressed > 1<<62 {
			return nil, 0, false
		}
		blocks = append(blocks, xzBlock{off: padded, unpadded: int64(unpadded), usize: int64(uncompressed)})
		padded += int64(unpadded+3) &^ 3
		n += int64(uncompressed)
		if padded < 0 || n < 0 {
			return nil, 0, false
		}
	}
	start = indexAt - padded - headerLen
	var header [headerLen]byte
	if start < 0 {
		return nil, 0, false
	}
	if _, err := f.ReadAt(header[:], start); err != nil || !bytes.Equal(header[:6], xzMagic) {
		return nil, 0, false
	}
	for i := range blocks {
		blocks[i].header = header
		blocks[i].off += start + headerLen
	}
	return blocks, start, true
}

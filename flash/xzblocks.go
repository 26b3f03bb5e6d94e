package flash

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/ulikunitz/xz"
)

// xzBlocks reads a multi-block .xz file block by block, each decoded as
// a stream of its own, so that skip passes over whole blocks without
// decompressing them: the holes of a disk image compress into blocks of
// zeros that are slower to decode than to skip. Every block decoded is
// checked as the decoder checks a stream (its check field, its size
// against the index).
type xzBlocks struct {
	f      io.ReaderAt
	blocks []xzBlock
	i      int       // the block cur decodes, or the next one to open
	cur    io.Reader // nil between blocks
	br     *bufio.Reader
	pos    int64 // in the decompressed image
}

// blockStream is block b as a stream of one block: the header of its
// stream, its bytes, and an index and footer made for it.
func blockStream(f io.ReaderAt, b xzBlock) io.Reader {
	var index bytes.Buffer
	index.WriteByte(0)
	index.Write(binary.AppendUvarint(nil, 1))
	index.Write(binary.AppendUvarint(nil, uint64(b.unpadded)))
	index.Write(binary.AppendUvarint(nil, uint64(b.usize)))
	for index.Len()%4 != 0 {
		index.WriteByte(0)
	}
	index.Write(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(index.Bytes())))
	var footer [12]byte
	binary.LittleEndian.PutUint32(footer[4:8], uint32(index.Len()/4-1))
	copy(footer[8:10], b.header[6:8]) // the stream flags
	binary.LittleEndian.PutUint32(footer[0:4], crc32.ChecksumIEEE(footer[4:10]))
	footer[10], footer[11] = 'Y', 'Z'
	padded := (b.unpadded + 3) &^ 3
	return io.MultiReader(bytes.NewReader(b.header[:]), io.NewSectionReader(f, b.off, padded), &index, bytes.NewReader(footer[:]))
}

func (x *xzBlocks) open() error {
	// One buffer for all the blocks: only one is decoded at a time.
	if x.br == nil {
		x.br = bufio.NewReaderSize(blockStream(x.f, x.blocks[x.i]), 256<<10)
	} else {
		x.br.Reset(blockStream(x.f, x.blocks[x.i]))
	}
	r, err := xz.NewReader(x.br)
	if err != nil {
		return err
	}
	x.cur = r
	return nil
}

func (x *xzBlocks) Read(p []byte) (int, error) {
	for {
		if x.cur == nil {
			if x.i >= len(x.blocks) {
				return 0, io.EOF
			}
			if err := x.open(); err != nil {
				return 0, err
			}
		}
		b := x.blocks[x.i]
		// Never past the block's end as the index has it: a block that
		// decodes longer is an error of the decoder's, not more image.
		n, err := x.cur.Read(p[:min(int64(len(p)), b.uoff+b.usize-x.pos+1)])
		x.pos += int64(n)
		if x.pos > b.uoff+b.usize {
			return n, io.ErrUnexpectedEOF
		}
		if err == io.EOF {
			if x.pos != b.uoff+b.usize {
				return n, io.ErrUnexpectedEOF
			}
			x.cur, x.i, err = nil, x.i+1, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// skip passes over n bytes: whole blocks unread, the start of the last
// one decoded and dropped.
func (x *xzBlocks) skip(n int64) error {
	to := x.pos + n
	if x.cur != nil && to >= x.blocks[x.i].uoff+x.blocks[x.i].usize {
		x.cur, x.i = nil, x.i+1
	}
	if x.cur == nil {
		for x.i < len(x.blocks) && x.blocks[x.i].uoff+x.blocks[x.i].usize <= to {
			x.i++
		}
		if x.i >= len(x.blocks) {
			x.pos = x.blocks[len(x.blocks)-1].uoff + x.blocks[len(x.blocks)-1].usize
			if to > x.pos {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err := x.open(); err != nil {
			return err
		}
		x.pos = x.blocks[x.i].uoff
	}
	got, err := io.CopyN(io.Discard, x, to-x.pos)
	if err == io.EOF && got < to-x.pos {
		err = io.ErrUnexpectedEOF
	}
	return err
}

package flash

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Format is how an image file is stored.
type Format string

// The formats Open understands.
const (
	Raw   Format = "raw"
	Gzip  Format = "gzip"
	XZ    Format = "xz"
	Zstd  Format = "zstd"
	Bzip2 Format = "bzip2"
)

// magics are the first bytes of each compressed format. gzip's third byte
// (deflate, the only method in use) and bzip2's block size digit make
// their short magics unlikely at the start of a raw disk image, which
// begins with boot code, a protective MBR or ISO 9660's zeroed system area.
var magics = []struct {
	format Format
	magic  []byte
}{
	{Gzip, []byte{0x1f, 0x8b, 0x08}},
	{XZ, xzMagic},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Bzip2, []byte("BZh")},
}

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// extensions map a file name's last extension to the format it promises.
var extensions = map[string]Format{
	".gz": Gzip, ".gzip": Gzip, ".xz": XZ, ".zst": Zstd, ".zstd": Zstd, ".bz2": Bzip2,
}

func sniff(head []byte) Format {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			if m.format == Bzip2 && (len(head) < 4 || head[3] < '1' || head[3] > '9') {
				continue
			}
			return m.format
		}
	}
	return Raw
}

// Source is an image opened for writing onto a device: its bytes as they
// must land on the device, decompressed on the fly.
type Source struct {
	Path   string
	Format Format
	// Size is the number of bytes the image puts on a device, or -1 when
	// the format does not say before it is decompressed (gzip, bzip2,
	// zstd). A known size lets a too-small device be refused before a
	// byte is written.
	Size int64

	f        *os.File
	br       *bufio.Reader
	r        io.Reader
	end      func() error // closes the decompressor
	seekable bool         // a raw image in a regular file or on a block device
	claimed  bool         // Size was given by the user, not by the image
	xz       *xzBlocks    // a multi-block .xz file, read block by block
}

// Stdin is the image name that reads the image from standard input.
const Stdin = "-"

// Open opens an image. The content decides the format (magic bytes); an
// extension that promises a compressed format the content does not have
// is refused, since the file is then corrupt or misnamed and writing it
// raw would put garbage on the device.
//
// The name "-" reads standard input: a stream, whose size is known only
// from its format (or SetSize), and which can be read only once.
func Open(path string) (*Source, error) {
	if path == Stdin {
		return open(os.Stdin, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := open(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func open(f *os.File, path string) (*Source, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var size int64
	switch {
	case fi.Mode().IsRegular():
		size = fi.Size()
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		// A block device as the image: a disk copied onto sticks.
		if size, err = f.Seek(0, io.SeekEnd); err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			return nil, &os.PathError{Op: "seek", Path: path, Err: err}
		}
	case path == Stdin:
		size = -1
	default:
		return nil, &os.PathError{Op: "open image", Path: path, Err: errors.New("not a regular file or block device")}
	}
	br := bufio.NewReaderSize(f, 1<<20)
	head, err := br.Peek(8)
	if err != nil && err != io.EOF {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	format := sniff(head)
	if want, ok := extensions[strings.ToLower(filepath.Ext(path))]; ok && want != format {
		return nil, &os.PathError{Op: "open image", Path: path, Err: fmt.Errorf("named like %s data, but the content is not %s (corrupt or misnamed)", want, want)}
	}
	s := &Source{Path: path, Format: format, Size: -1, f: f, br: br, end: func() error { return nil }}
	switch format {
	case Raw:
		s.Size = size
		s.r = br
		s.seekable = size >= 0
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &os.PathError{Op: "read gzip", Path: path, Err: err}
		}
		s.r, s.end = zr, zr.Close
	case XZ:
		if fi.Mode().IsRegular() {
			// The indexes tell the size: a too-small device is refused
			// without decompressing anything.
			if bs, ok := xzIndex(f, size); ok {
				s.Size = 0
				for _, b := range bs {
					s.Size += b.usize
				}
				if len(bs) > 1 {
					s.xz = &xzBlocks{f: f, blocks: bs}
					s.r = s.xz
					break
				}
			}
		}
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, &os.PathError{Op: "read xz", Path: path, Err: err}
		}
		s.r = xr
	case Zstd:
		// Images are written with zstd --long; allow its largest window.
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(1<<31), zstd.WithDecoderConcurrency(2))
		if err != nil {
			return nil, &os.PathError{Op: "read zstd", Path: path, Err: err}
		}
		s.r, s.end = zr, func() error { zr.Close(); return nil }
	case Bzip2:
		s.r = bzip2.NewReader(br)
	}
	return s, nil
}

// Read reads decompressed image bytes. Errors name the image and, for a
// compressed one, the format that failed to decode.
func (s *Source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		op := "read"
		if s.Format != Raw {
			op = "decompress " + string(s.Format)
		}
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Path != s.Path {
			err = &os.PathError{Op: op, Path: s.Path, Err: err}
		}
	}
	return n, err
}

// SetSize gives the size of an image whose format does not tell it, such
// as a compressed stream: a too-small device is then refused before
// writing, progress has an end, and an image that turns out longer or
// shorter fails rather than being taken as complete.
func (s *Source) SetSize(n int64) error {
	if s.Size >= 0 && s.Size != n {
		return &os.PathError{Op: "open image", Path: s.Path, Err: fmt.Errorf("the image is %d bytes, not %d", s.Size, n)}
	}
	s.Size, s.claimed = n, s.Size < 0
	return nil
}

// skip reads past n bytes of the image: a seek for a raw file, else
// decompressing and dropping them.
func (s *Source) skip(n int64) error {
	if n <= 0 {
		return nil
	}
	if s.xz != nil {
		if err := s.xz.skip(n); err != nil {
			return &os.PathError{Op: "decompress xz", Path: s.Path, Err: err}
		}
		return nil
	}
	if s.seekable {
		if b := int64(s.br.Buffered()); b >= n {
			_, err := s.br.Discard(int(n))
			return err
		} else if _, err := s.br.Discard(int(b)); err != nil {
			return err
		} else if _, err := s.f.Seek(n-b, io.SeekCurrent); err != nil {
			return &os.PathError{Op: "seek", Path: s.Path, Err: err}
		}
		s.br.Reset(s.f)
		return nil
	}
	got, err := io.CopyN(io.Discard, s, n)
	if err == io.EOF && got < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Close releases the decompressor and the file. Standard input stays
// open.
func (s *Source) Close() error {
	err := s.end()
	if s.Path == Stdin {
		return err
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

package flash

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Bmap is a block map in bmaptool's XML format: which blocks of an image
// hold data (are mapped); the others are holes, zeros in the image, that
// need not be written. Versions 1.3 and 1.4/2.x carry a checksum of each
// range and of the bmap file itself; 1.0 to 1.2 carry none.
type Bmap struct {
	Path         string
	Version      string
	ImageSize    int64
	BlockSize    int64
	BlocksCount  int64
	MappedBlocks int64
	// ChecksumType is "sha1" or "sha256"; "" for the versions without
	// checksums.
	ChecksumType string
	Ranges       []BmapRange
}

// BmapRange is the mapped blocks First to Last, both included.
type BmapRange struct {
	First, Last int64
	Checksum    string // hex, lower case; "" when the bmap has none
}

// Bytes says where the range lies in the image: the last block of an image
// whose size is not a multiple of the block size is cut at the image's end.
func (b *Bmap) Bytes(r BmapRange) (off, n int64) {
	off = r.First * b.BlockSize
	end := min((r.Last+1)*b.BlockSize, b.ImageSize)
	return off, end - off
}

// MappedBytes is how many bytes of the image the ranges cover.
func (b *Bmap) MappedBytes() int64 {
	var n int64
	for _, r := range b.Ranges {
		_, l := b.Bytes(r)
		n += l
	}
	return n
}

func (b *Bmap) newHash() hash.Hash {
	switch b.ChecksumType {
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	}
	return nil
}

// BmapError says what is wrong with a bmap file.
type BmapError struct {
	Path string
	Err  error
}

func (e *BmapError) Error() string { return fmt.Sprintf("bmap %s: %v", e.Path, e.Err) }
func (e *BmapError) Unwrap() error { return e.Err }

// ErrBmapChecksum: the bmap file's own checksum does not match its content.
var ErrBmapChecksum = errors.New("the file's checksum does not match its content (corrupt or edited)")

type xmlRange struct {
	Text   string `xml:",chardata"`
	Chksum string `xml:"chksum,attr"`
	SHA1   string `xml:"sha1,attr"`
}

type xmlBmap struct {
	XMLName           xml.Name `xml:"bmap"`
	Version           string   `xml:"version,attr"`
	ImageSize         string   `xml:"ImageSize"`
	BlockSize         string   `xml:"BlockSize"`
	BlocksCount       string   `xml:"BlocksCount"`
	MappedBlocksCount string   `xml:"MappedBlocksCount"`
	ChecksumType      string   `xml:"ChecksumType"`
	BmapFileChecksum  string   `xml:"BmapFileChecksum"`
	BmapFileSHA1      string   `xml:"BmapFileSHA1"`
	BlockMap          *struct {
		Ranges []xmlRange `xml:"Range"`
	} `xml:"BlockMap"`
}

// ReadBmap reads and checks the bmap file at path.
func ReadBmap(path string) (*Bmap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseBmap(data, path)
}

// ParseBmap parses a bmap file's content and checks it: the file's own
// checksum, the block counts against the image size, the ranges in order
// and inside the image, and the mapped block count against the ranges.
func ParseBmap(data []byte, path string) (*Bmap, error) {
	bad := func(format string, a ...any) error {
		return &BmapError{Path: path, Err: fmt.Errorf(format, a...)}
	}
	var x xmlBmap
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, &BmapError{Path: path, Err: fmt.Errorf("not a bmap file: %w", err)}
	}
	b := &Bmap{Path: path, Version: strings.TrimSpace(x.Version)}
	major, minor, ok := strings.Cut(b.Version, ".")
	maj, err1 := strconv.Atoi(major)
	mnr, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || maj < 1 || mnr < 0 {
		return nil, bad("bad format version %q", x.Version)
	}
	if maj > 2 {
		return nil, bad("format version %s is not supported (up to 2.x)", b.Version)
	}
	num := func(name, s string) (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 0 {
			return 0, bad("bad or missing %s %q", name, strings.TrimSpace(s))
		}
		return n, nil
	}
	var err error
	if b.ImageSize, err = num("ImageSize", x.ImageSize); err != nil {
		return nil, err
	}
	if b.BlockSize, err = num("BlockSize", x.BlockSize); err != nil {
		return nil, err
	}
	if b.BlocksCount, err = num("BlocksCount", x.BlocksCount); err != nil {
		return nil, err
	}
	if b.MappedBlocks, err = num("MappedBlocksCount", x.MappedBlocksCount); err != nil {
		return nil, err
	}
	if b.BlockSize == 0 || b.BlockSize&(b.BlockSize-1) != 0 {
		return nil, bad("block size %d is not a power of two", b.BlockSize)
	}
	if want := (b.ImageSize + b.BlockSize - 1) / b.BlockSize; b.BlocksCount != want {
		return nil, bad("%d blocks of %d bytes do not make an image of %d bytes", b.BlocksCount, b.BlockSize, b.ImageSize)
	}
	if x.BlockMap == nil {
		return nil, bad("no BlockMap")
	}

	// 1.4 is 2.0 released under the wrong number; 1.3 had SHA-1 under
	// other names; before 1.3 there were no checksums.
	var fileSum string
	rangeSum := func(r xmlRange) string { return "" }
	switch {
	case maj == 2 || (maj == 1 && mnr >= 4):
		b.ChecksumType = strings.ToLower(strings.TrimSpace(x.ChecksumType))
		fileSum = x.BmapFileChecksum
		rangeSum = func(r xmlRange) string { return r.Chksum }
	case mnr == 3:
		b.ChecksumType = "sha1"
		fileSum = x.BmapFileSHA1
		rangeSum = func(r xmlRange) string { return r.SHA1 }
	}
	if b.ChecksumType != "" {
		h := b.newHash()
		if h == nil {
			return nil, bad("checksum type %q is not supported (sha1 and sha256 are)", b.ChecksumType)
		}
		fileSum = strings.ToLower(strings.TrimSpace(fileSum))
		if !validHex(fileSum, h.Size()) {
			return nil, bad("bad or missing checksum of the file %q", fileSum)
		}
		// The checksum is taken over the file with its own value replaced
		// by as many zeros: the first place the value appears is it.
		i := bytes.Index(bytes.ToLower(data), []byte(fileSum))
		if i < 0 {
			return nil, bad("bad checksum of the file %q", fileSum)
		}
		h.Write(data[:i])
		h.Write(bytes.Repeat([]byte{'0'}, len(fileSum)))
		h.Write(data[i+len(fileSum):])
		if hex.EncodeToString(h.Sum(nil)) != fileSum {
			return nil, &BmapError{Path: path, Err: ErrBmapChecksum}
		}
	}

	var mapped int64
	next := int64(0)
	for _, xr := range x.BlockMap.Ranges {
		text := strings.TrimSpace(xr.Text)
		a, z, isRange := strings.Cut(text, "-")
		first, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
		last, err2 := first, error(nil)
		if isRange {
			last, err2 = strconv.ParseInt(strings.TrimSpace(z), 10, 64)
		}
		if err1 != nil || err2 != nil || first < 0 || last < first {
			return nil, bad("bad range %q", text)
		}
		if first < next {
			return nil, bad("range %q overlaps or precedes the one before it", text)
		}
		if last >= b.BlocksCount {
			return nil, bad("range %q lies beyond the image's %d blocks", text, b.BlocksCount)
		}
		r := BmapRange{First: first, Last: last}
		if b.ChecksumType != "" {
			r.Checksum = strings.ToLower(strings.TrimSpace(rangeSum(xr)))
			if !validHex(r.Checksum, b.newHash().Size()) {
				return nil, bad("range %q: bad or missing checksum %q", text, r.Checksum)
			}
		}
		b.Ranges = append(b.Ranges, r)
		mapped += last - first + 1
		next = last + 1
	}
	if mapped != b.MappedBlocks {
		return nil, bad("the ranges map %d blocks, MappedBlocksCount says %d", mapped, b.MappedBlocks)
	}
	return b, nil
}

func validHex(s string, size int) bool {
	if len(s) != 2*size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// FindBmap looks for the bmap of image where bmaptool does: IMAGE.bmap,
// then the name with its extensions dropped one by one, each plus .bmap
// (os.img.xz: os.img.xz.bmap, os.img.bmap, os.bmap). It returns "" when
// there is none.
func FindBmap(image string) string {
	dir, name := filepath.Split(image)
	for name != "" {
		c := filepath.Join(dir, name+".bmap")
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return c
		}
		ext := filepath.Ext(name)
		if ext == "" {
			break
		}
		name = strings.TrimSuffix(name, ext)
	}
	return ""
}

package flash

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sure-tools/sure/internal/tempdir"
)

// makeBmap writes a bmap of img in bmaptool's layout: version "2.0"
// (sha256, chksum), "1.3" (sha1 under the old names) or "1.2" (no
// checksums). ranges are first and last blocks.
func makeBmap(img []byte, bs int64, ranges [][2]int64, version string) []byte {
	var newHash func() hash.Hash
	var typeTag, fileTag, attr string
	switch version {
	case "2.0", "1.4":
		newHash, typeTag, fileTag, attr = sha256.New, "<ChecksumType>sha256</ChecksumType>\n", "BmapFileChecksum", "chksum"
	case "1.3":
		newHash, fileTag, attr = sha1.New, "BmapFileSHA1", "sha1"
	}
	size := int64(len(img))
	var mapped int64
	var rs strings.Builder
	for _, r := range ranges {
		mapped += r[1] - r[0] + 1
		text := fmt.Sprint(r[0])
		if r[1] != r[0] {
			text = fmt.Sprintf("%d-%d", r[0], r[1])
		}
		if newHash == nil {
			fmt.Fprintf(&rs, "        <Range> %s </Range>\n", text)
			continue
		}
		h := newHash()
		h.Write(img[r[0]*bs : min((r[1]+1)*bs, size)])
		fmt.Fprintf(&rs, "        <Range %s=\"%x\"> %s </Range>\n", attr, h.Sum(nil), text)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version=\"1.0\" ?>\n<!-- made by the test -->\n<bmap version=\"%s\">\n", version)
	fmt.Fprintf(&b, "    <ImageSize> %d </ImageSize>\n    <BlockSize> %d </BlockSize>\n", size, bs)
	fmt.Fprintf(&b, "    <BlocksCount> %d </BlocksCount>\n    <MappedBlocksCount> %d </MappedBlocksCount>\n", (size+bs-1)/bs, mapped)
	b.WriteString(typeTag)
	zeros := ""
	if newHash != nil {
		zeros = strings.Repeat("0", 2*newHash().Size())
		fmt.Fprintf(&b, "    <%s> %s </%s>\n", fileTag, zeros, fileTag)
	}
	fmt.Fprintf(&b, "    <BlockMap>\n%s    </BlockMap>\n</bmap>\n", rs.String())
	out := b.Bytes()
	if newHash != nil {
		h := newHash()
		h.Write(out)
		out = bytes.Replace(out, []byte(zeros), []byte(hex.EncodeToString(h.Sum(nil))), 1)
	}
	return out
}

func TestParseBmap(t *testing.T) {
	img := make([]byte, 10*4096+100)
	for i := range img {
		img[i] = byte(i * 7 / 3)
	}
	ranges := [][2]int64{{0, 0}, {3, 5}, {10, 10}}
	v2 := makeBmap(img, 4096, ranges, "2.0")
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string // "" parses
		sumType string
	}{
		{"v2.0", v2, "", "sha256"},
		{"v1.4", makeBmap(img, 4096, ranges, "1.4"), "", "sha256"},
		{"v1.3", makeBmap(img, 4096, ranges, "1.3"), "", "sha1"},
		{"v1.2 without checksums", makeBmap(img, 4096, ranges, "1.2"), "", ""},
		{"file checksum corrupted", bytes.Replace(v2, []byte("<ImageSize> 41060"), []byte("<ImageSize> 41061"), 1), "checksum does not match", ""},
		{"range edited", bytes.Replace(v2, []byte("> 3-5 <"), []byte("> 3-6 <"), 1), "checksum does not match", ""},
		{"bad xml", v2[:len(v2)/2], "not a bmap file", ""},
		{"not a bmap", []byte("<html><body/></html>"), "not a bmap file", ""},
		{"version 3", bytes.Replace(makeBmap(img, 4096, ranges, "1.2"), []byte(`version="1.2"`), []byte(`version="3.0"`), 1), "version 3.0 is not supported", ""},
		{"blocks count wrong", bytes.Replace(makeBmap(img, 4096, ranges, "1.2"), []byte("<BlocksCount> 11 "), []byte("<BlocksCount> 12 "), 1), "do not make an image", ""},
		{"mapped count wrong", bytes.Replace(makeBmap(img, 4096, ranges, "1.2"), []byte("<MappedBlocksCount> 5 "), []byte("<MappedBlocksCount> 6 "), 1), "MappedBlocksCount says 6", ""},
		{"range outside", makeBmap(img, 4096, [][2]int64{{10, 11}}, "1.2"), "beyond the image", ""},
		{"ranges out of order", makeBmap(img, 4096, [][2]int64{{3, 5}, {0, 1}}, "1.2"), "precedes", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBmap(tc.data, "x.bmap")
			if tc.wantErr != "" {
				var be *BmapError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &be) || !strings.HasPrefix(err.Error(), "bmap x.bmap: ") {
					t.Fatalf("err = %v, want a BmapError naming the file with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.ChecksumType != tc.sumType || b.ImageSize != int64(len(img)) || b.BlockSize != 4096 || len(b.Ranges) != 3 {
				t.Fatalf("%+v", b)
			}
			if off, n := b.Bytes(b.Ranges[2]); off != 10*4096 || n != 100 {
				t.Errorf("last range: bytes %d+%d, want the image's tail 40960+100", off, n)
			}
			if got := b.MappedBytes(); got != 4*4096+100 {
				t.Errorf("mapped %d bytes", got)
			}
			if tc.sumType != "" && b.Ranges[1].Checksum == "" {
				t.Errorf("range without checksum: %+v", b.Ranges[1])
			}
		})
	}
}

func TestFindBmap(t *testing.T) {
	dir := tempdir.ForTest(t)
	touch := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	img := touch("os.img.xz")
	if got := FindBmap(img); got != "" {
		t.Errorf("found %q with no bmap there", got)
	}
	bare := touch("os.bmap")
	if got := FindBmap(img); got != bare {
		t.Errorf("found %q, want %q", got, bare)
	}
	plain := touch("os.img.bmap")
	if got := FindBmap(img); got != plain {
		t.Errorf("found %q, want %q", got, plain)
	}
	full := touch("os.img.xz.bmap")
	if got := FindBmap(img); got != full {
		t.Errorf("found %q, want %q", got, full)
	}
}

package flash

import (
	"fmt"
	"os"
)

// planAlign is what the extents of a plan are aligned to: the largest
// direct I/O alignment of the devices sure writes (4 KiB sectors), so
// that every write but the image's last starts and ends on it.
const planAlign = 4096

// extent is a part of the image and what to do with it on the device.
type extent struct {
	off, n int64
	zero   bool // a hole of a sparse image: zeros are written, nothing is read
	rng    int  // index of the bmap range, -1 when none
}

// Plan says which parts of the image are written. Without a plan the
// whole image is written, as read.
type Plan struct {
	Bmap    *Bmap // the map the plan follows, nil for a sparse image
	Data    int64 // bytes read from the image and written
	Zero    int64 // bytes of holes written as zeros (sparse image, not --sparse)
	Left    int64 // bytes of the image not written: the device keeps what it had there
	Size    int64 // the image's size; -1 when only the end of the stream tells
	extents []extent
}

// NewPlan makes the plan for writing src: with bm, only bm's ranges,
// checked against their checksums; else, for a raw image in a sparse
// file, its data, with the holes written as zeros, or, with leaveHoles,
// left as they were. It returns nil when the whole image is to be
// written. A bmap that does not fit the image is refused here, before
// anything is written.
func NewPlan(src *Source, bm *Bmap, leaveHoles bool) (*Plan, error) {
	if bm != nil {
		if src.Size >= 0 && src.Size != bm.ImageSize {
			return nil, &BmapError{Path: bm.Path, Err: fmt.Errorf("made for an image of %d bytes, but %s is %d bytes", bm.ImageSize, src.Path, src.Size)}
		}
		p := &Plan{Bmap: bm, Size: bm.ImageSize}
		for i, r := range bm.Ranges {
			off, n := bm.Bytes(r)
			p.extents = append(p.extents, extent{off: off, n: n, rng: i})
			p.Data += n
		}
		p.Left = bm.ImageSize - p.Data
		return p, nil
	}
	if !src.seekable || src.Size <= 0 {
		return nil, nil
	}
	data, err := dataExtents(src.f, src.Size)
	if err != nil {
		return nil, &os.PathError{Op: "seek data", Path: src.Path, Err: err}
	}
	if data == nil || (len(data) == 1 && data[0].off == 0 && data[0].n == src.Size) {
		return nil, nil // no holes, or no way to tell
	}
	data = alignExtents(data, src.Size)
	p := &Plan{Size: src.Size}
	var at int64
	hole := func(end int64) {
		if end > at {
			if !leaveHoles {
				p.extents = append(p.extents, extent{off: at, n: end - at, zero: true, rng: -1})
				p.Zero += end - at
			} else {
				p.Left += end - at
			}
		}
	}
	for _, e := range data {
		hole(e.off)
		p.extents = append(p.extents, e)
		p.Data += e.n
		at = e.off + e.n
	}
	// A hole at the end that does not end on a sector is read as data up
	// to there: zeroing works in whole sectors.
	if tail := src.Size % planAlign; at < src.Size && tail != 0 {
		end := src.Size - tail
		if end > at {
			hole(end)
			at = end
		}
		p.extents = append(p.extents, extent{off: at, n: src.Size - at, rng: -1})
		p.Data += src.Size - at
		at = src.Size
	}
	hole(src.Size)
	return p, nil
}

// alignExtents widens data extents to planAlign (bounded by the image's
// size) and merges those that then touch. Widened bytes are the image's
// own (zeros of a hole), so writing them puts nothing on the device that
// the image does not hold.
func alignExtents(es []extent, size int64) []extent {
	var out []extent
	for _, e := range es {
		start := e.off &^ (planAlign - 1)
		end := min((e.off+e.n+planAlign-1)&^(planAlign-1), size)
		if k := len(out) - 1; k >= 0 && out[k].off+out[k].n >= start {
			out[k].n = max(out[k].n, end-out[k].off)
			continue
		}
		out = append(out, extent{off: start, n: end - start, rng: -1})
	}
	return out
}

//go:build !linux

package flash

// zeroOut writes n zero bytes at off.
func (d *device) zeroOut(off, n int64) error { return d.writeZeros(off, n) }

//go:build linux || darwin || freebsd

package flash

import "golang.org/x/sys/unix"

// chunkBuffers returns count buffers of n bytes each, aligned to align,
// and a function that releases them. They are mapped outside Go's heap:
// the collector lets garbage grow to the size of the live heap before it
// runs, and with the buffers in the heap that doubled their share of the
// peak memory while the decoders made garbage. They must not be used
// after free.
func chunkBuffers(count, n, align int) (bufs [][]byte, free func()) {
	page := unix.Getpagesize()
	if align > page {
		return heapBuffers(count, n, align)
	}
	stride := roundUp(n, page)
	mem, err := unix.Mmap(-1, 0, count*stride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return heapBuffers(count, n, align)
	}
	for i := range count {
		bufs = append(bufs, mem[i*stride:i*stride+n:i*stride+n])
	}
	return bufs, func() { unix.Munmap(mem) }
}

// BuffersInHeap says whether a write's chunk buffers are in Go's heap,
// where a memory limit must leave room for them.
const BuffersInHeap = false

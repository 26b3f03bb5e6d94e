//go:build !linux && !darwin && !freebsd

package flash

// chunkBuffers returns count buffers of n bytes each, aligned to align,
// from Go's heap, and a function that releases them.
func chunkBuffers(count, n, align int) (bufs [][]byte, free func()) {
	return heapBuffers(count, n, align)
}

// BuffersInHeap says whether a write's chunk buffers are in Go's heap,
// where a memory limit must leave room for them.
const BuffersInHeap = true

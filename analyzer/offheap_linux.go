package analyzer

import "syscall"

// mapChunk maps size bytes of zeroed memory outside the Go heap; when the
// system refuses, it falls back to a heap slice, which costs the memory
// benefit but not correctness (what lives there points only into chunks
// that are kept alive through the analyzer).
func mapChunk(size int) []byte {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, size)
	}
	return b
}

// unmapChunk unmaps a chunk from mapChunk; a heap fallback is left to the
// garbage collector.
func unmapChunk(b []byte) {
	_ = syscall.Munmap(b) // EINVAL for a heap fallback, which the collector frees
}

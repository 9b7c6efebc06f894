//go:build !linux

package analyzer

// mapChunk returns size bytes of zeroed memory. Elsewhere than Linux it is
// a heap slice: the collector does not scan it (it is a []byte) and keeps
// it alive through the analyzer's mappings, so only the memory benefit of
// offheap_linux.go is lost.
func mapChunk(size int) []byte { return make([]byte, size) }

// unmapChunk leaves the slice to the garbage collector.
func unmapChunk([]byte) {}

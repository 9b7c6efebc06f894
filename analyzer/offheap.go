package analyzer

import (
	"runtime"
	"unsafe"
)

// The flows waiting out their TIME_WAIT are most of a long capture's open
// flows, and they stay for a minute each. Kept on the Go heap, they would
// be scanned by every garbage collection, and the collector's heap goal
// (twice the live heap by default) would double the memory they take.
// Their cores, the details of the flows not yet settled and the 5-tuples
// are therefore kept outside the Go heap, in chunks mapped from the
// operating system (see mapChunk), and recycled through free lists: their
// memory follows the peak of open flows, as the memory target asks, and
// costs the collector nothing.
//
// What lives there must hold no pointer into the Go heap, which the
// collector could not see: cores, details and tuples point only at each
// other. The packed verdict of a settled flow, a string, stays on the heap
// and is named by index (core.pki). TestOffHeapTypes checks this.

// mappings are the chunks an analyzer has mapped. They are unmapped when
// the analyzer is no longer reachable, by a cleanup that holds the
// mappings but not the analyzer.
type mappings struct {
	chunks [][]byte
	bytes  int64
}

// alloc returns a zeroed array of n values of type T outside the Go heap.
// T must hold no pointer into the Go heap.
func alloc[T any](m *mappings, n int) []T {
	var zero T
	size := int(unsafe.Sizeof(zero)) * n
	b := mapChunk(size)
	m.chunks = append(m.chunks, b)
	m.bytes += int64(len(b))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// free unmaps s, an array from alloc.
func free[T any](m *mappings, s []T) {
	p := unsafe.Pointer(unsafe.SliceData(s))
	for i, b := range m.chunks {
		if unsafe.Pointer(unsafe.SliceData(b)) == p {
			m.bytes -= int64(len(b))
			m.chunks = append(m.chunks[:i], m.chunks[i+1:]...)
			unmapChunk(b)
			return
		}
	}
}

// release unmaps every chunk.
func (m *mappings) release() {
	for _, b := range m.chunks {
		unmapChunk(b)
	}
	m.chunks, m.bytes = nil, 0
}

// watch unmaps m's chunks once owner is unreachable. The pointers into
// the chunks that methods hold in local variables do not keep owner
// reachable, and the collector may find it unreachable after its last use
// in a method, while that method still works in the chunks: so every
// exported method of Analyzer keeps its receiver alive to its end
// (runtime.KeepAlive), and no pointer into the chunks leaves the package.
func (m *mappings) watch(owner *Analyzer) {
	runtime.AddCleanup(owner, func(m *mappings) { m.release() }, m)
}

// arena hands out values of type T from chunks outside the Go heap, and
// takes them back for reuse. A value handed out is zeroed the first time;
// a reused one is as it was given back.
type arena[T any] struct {
	m    *mappings
	free []*T
}

// arenaChunk is how many values a chunk holds.
const arenaChunk = 1024

// get returns a value, from the free list when it has one.
func (ar *arena[T]) get() *T {
	if len(ar.free) == 0 {
		c := alloc[T](ar.m, arenaChunk)
		for i := len(c) - 1; i >= 0; i-- {
			ar.free = append(ar.free, &c[i])
		}
	}
	n := len(ar.free) - 1
	p := ar.free[n]
	ar.free = ar.free[:n]
	return p
}

// put gives p back for reuse.
func (ar *arena[T]) put(p *T) { ar.free = append(ar.free, p) }

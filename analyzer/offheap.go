package analyzer

import (
	"cmp"
	"runtime"
	"slices"
	"unsafe"
)

// The flows waiting out their TIME_WAIT are most of a long capture's open
// flows, and they stay for a minute each. Kept on the Go heap, they would
// be scanned by every garbage collection, and the collector's heap goal
// (twice the live heap by default) would double the memory they take.
// Their cores, the details of the flows not yet settled and the 5-tuples
// are therefore kept outside the Go heap, in chunks mapped from the
// operating system (see mapChunk), and recycled through free lists: their
// memory follows the open flows, as the memory target asks, and costs the
// collector nothing. Details and queue chunks go back to the system once a
// burst that needed them has passed (see arena); cores and tuples stay at
// the peak of open flows.
//
// What lives there must hold no pointer into the Go heap, which the
// collector could not see: cores, details and tuples point only at each
// other. The packed verdict of a settled flow, a string, stays on the heap
// and is named by index (core.pki). TestOffHeapTypes checks this.

// mappings are the chunks an analyzer has mapped. They are unmapped when
// the analyzer is no longer reachable, by a cleanup that holds the
// mappings but not the analyzer.
type mappings struct {
	chunks  [][]byte
	bytes   int64
	closing bool // Close is emptying the analyzer before unmapping every chunk: nothing given back is kept for reuse
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
//
// A burst of flows (a second of many closes, each flow keeping its detail
// through its settle window) needs many values for a short while. So that
// their memory does not stay for the rest of the run, an arena unmaps a
// chunk whose values are all free, unless it is the only empty one (so
// that a load hovering at a chunk boundary does not map and unmap it over
// and over). While more than half of its values are free, it hands out
// the free value of the chunk at the lowest address first, so that the
// values in use gather in the low chunks and the high ones empty; else it
// hands out a value of the chunk that was given one back last, which the
// cache likely still holds. A reused value may also come from a fresh
// chunk, zeroed.
type arena[T any] struct {
	m     *mappings
	slabs []*slab[T] // by address
	lo    int        // no slab before slabs[lo] has a free value
	empty int        // slabs whose values are all free
	hot   *slab[T]   // the slab given a value back last, or nil
	nfree int        // free values in all slabs
	nvals int        // values in all slabs
}

// slab is one chunk of an arena and its free values, by index: 2 bytes
// each on the heap, not a pointer's 8.
type slab[T any] struct {
	vals      []T
	base, end uintptr // the chunk's address range
	free      []uint16
}

// slabBytes is about how large a chunk of an arena is.
const slabBytes = 256 << 10

// perSlab is how many values of type T a chunk holds: at most 65,536, so
// that a slab's free list can name them in 16 bits.
func perSlab[T any]() int {
	var zero T
	return min(1<<16, max(1, slabBytes/int(unsafe.Sizeof(zero))))
}

// get returns a free value: one of the chunk given one back last, or of
// the lowest chunk that has one (see arena).
func (ar *arena[T]) get() *T {
	s := ar.hot
	if s == nil || len(s.free) == 0 || 2*ar.nfree > ar.nvals {
		for ar.lo < len(ar.slabs) && len(ar.slabs[ar.lo].free) == 0 {
			ar.lo++
		}
		if ar.lo == len(ar.slabs) {
			ar.grow()
		}
		s = ar.slabs[ar.lo]
	}
	ar.nfree--
	n := len(s.free) - 1
	if n+1 == len(s.vals) {
		ar.empty--
	}
	p := &s.vals[s.free[n]]
	s.free = s.free[:n]
	return p
}

// grow maps a new chunk, when every chunk is in use, and points lo at it.
func (ar *arena[T]) grow() {
	vals := alloc[T](ar.m, perSlab[T]())
	s := &slab[T]{vals: vals, free: make([]uint16, 0, len(vals))}
	s.base = uintptr(unsafe.Pointer(unsafe.SliceData(vals)))
	s.end = s.base + uintptr(len(vals))*unsafe.Sizeof(vals[0])
	for i := len(vals) - 1; i >= 0; i-- {
		s.free = append(s.free, uint16(i))
	}
	i, _ := slices.BinarySearchFunc(ar.slabs, s.base, func(x *slab[T], b uintptr) int { return cmp.Compare(x.base, b) })
	ar.slabs = slices.Insert(ar.slabs, i, s)
	ar.lo = i
	ar.empty++
	ar.nfree += len(vals)
	ar.nvals += len(vals)
}

// put gives p back for reuse (unless the analyzer is closing).
func (ar *arena[T]) put(p *T) {
	if ar.m.closing {
		return
	}
	a := uintptr(unsafe.Pointer(p))
	i, j := 0, len(ar.slabs) // the first slab that ends after p is in [i, j]
	for i < j {
		if h := int(uint(i+j) >> 1); ar.slabs[h].end > a {
			j = h
		} else {
			i = h + 1
		}
	}
	s := ar.slabs[i]
	s.free = append(s.free, uint16((a-s.base)/unsafe.Sizeof(*p)))
	ar.lo = min(ar.lo, i)
	ar.hot = s
	ar.nfree++
	if len(s.free) < len(s.vals) {
		return
	}
	if ar.empty == 0 {
		ar.empty++
		return
	}
	ar.slabs = slices.Delete(ar.slabs, i, i+1)
	if ar.lo > i {
		ar.lo--
	}
	ar.hot = nil
	ar.nfree -= len(s.vals)
	ar.nvals -= len(s.vals)
	free(ar.m, s.vals)
}

// inUse returns how many values the arena has handed out.
func (ar *arena[T]) inUse() int {
	n := 0
	for _, s := range ar.slabs {
		n += len(s.vals) - len(s.free)
	}
	return n
}

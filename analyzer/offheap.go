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
// collector nothing: what a burst needed goes back to the system once it
// has passed (see pool), and the table's slots shrink (see table.remove).
//
// What lives there must hold no pointer into the Go heap, which the
// collector could not see: cores, details and tuples point only at each
// other, and the packed verdicts of settled flows are bytes, named by a
// ref (core.pki, see pkStore). TestOffHeapTypes checks this.

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

// pool hands out values of type T from chunks outside the Go heap, named
// by chunk number and index, and takes them back for reuse. A value handed
// out is zeroed the first time; a reused one is as it was given back. The
// arenas and the tuple table are pools.
//
// A burst of flows (a second of many closes, each flow keeping its detail
// through its settle window) needs many values for a short while. So that
// their memory does not stay for the rest of the run, a pool unmaps a
// chunk whose values are all free, unless it is the only empty one (so
// that a load hovering at a chunk boundary does not map and unmap it over
// and over). While more than half of its values are free, it hands out
// the free value of the lowest-numbered chunk first, so that the values in
// use gather in the low chunks and the high ones empty; else it hands out
// a value of the chunk that was given one back last, which the cache
// likely still holds. A new chunk takes the lowest free number. A reused
// value may also come from a fresh chunk, zeroed.
type pool[T any] struct {
	m      *mappings
	chunks []chunk[T] // by number; an unmapped chunk's vals are nil
	lo     int        // no chunk before chunks[lo] has a free value
	hot    int        // the chunk given a value back last, plus one; 0 if none
	empty  int        // mapped chunks whose values are all free
	nfree  int        // free values in all chunks
	nvals  int        // values in all mapped chunks
	per    int        // values in a chunk; 0 means perSlab[T]()
}

// chunk is one chunk of a pool and its free values, by index: 2 bytes
// each on the heap, without pointers for the collector to scan.
type chunk[T any] struct {
	vals []T
	free []uint16
}

// slabBytes is about how large a chunk of a pool is.
const slabBytes = 256 << 10

// perSlab is how many values of type T a chunk holds: at most 65,536, so
// that a chunk's free list can name them in 16 bits.
func perSlab[T any]() int {
	var zero T
	return min(1<<16, max(1, slabBytes/int(unsafe.Sizeof(zero))))
}

// take returns a free value's chunk and index: one of the chunk given one
// back last, or of the lowest chunk that has one (see pool). mapped says
// that the chunk was mapped for it.
func (p *pool[T]) take() (c, i int, mapped bool) {
	c = p.hot - 1
	if c < 0 || len(p.chunks[c].free) == 0 || 2*p.nfree > p.nvals {
		for p.lo < len(p.chunks) && len(p.chunks[p.lo].free) == 0 {
			p.lo++
		}
		if p.lo == len(p.chunks) {
			p.grow()
			mapped = true
		}
		c = p.lo
	}
	ch := &p.chunks[c]
	n := len(ch.free) - 1
	if n+1 == len(ch.vals) {
		p.empty--
	}
	i = int(ch.free[n])
	ch.free = ch.free[:n]
	p.nfree--
	return c, i, mapped
}

// grow maps a chunk under the lowest free number and points lo at it.
func (p *pool[T]) grow() {
	c := 0
	for c < len(p.chunks) && p.chunks[c].vals != nil {
		c++
	}
	if c == len(p.chunks) {
		p.chunks = append(p.chunks, chunk[T]{})
	}
	ch := &p.chunks[c]
	if p.per == 0 {
		p.per = perSlab[T]()
	}
	ch.vals = alloc[T](p.m, p.per)
	if ch.free == nil {
		ch.free = make([]uint16, 0, len(ch.vals))
	}
	for i := len(ch.vals) - 1; i >= 0; i-- {
		ch.free = append(ch.free, uint16(i))
	}
	p.lo = min(p.lo, c)
	p.empty++
	p.nfree += len(ch.vals)
	p.nvals += len(ch.vals)
}

// give takes value i of chunk c back, and unmaps the chunk if that leaves
// two whose values are all free; unmapped says it did.
func (p *pool[T]) give(c, i int) (unmapped bool) {
	ch := &p.chunks[c]
	ch.free = append(ch.free, uint16(i))
	p.nfree++
	p.lo = min(p.lo, c)
	p.hot = c + 1
	if len(ch.free) < len(ch.vals) {
		return false
	}
	if p.empty == 0 {
		p.empty++
		return false
	}
	p.nfree -= len(ch.vals)
	p.nvals -= len(ch.vals)
	free(p.m, ch.vals)
	ch.vals, ch.free = nil, ch.free[:0]
	p.hot = 0
	return true
}

// inUse returns how many values the pool has handed out.
func (p *pool[T]) inUse() int { return p.nvals - p.nfree }

// arena is a pool whose values are handed out and taken back by pointer.
type arena[T any] struct {
	pool[T]
	byAddr []chunkAt // the mapped chunks, by address
}

// newArena returns an empty arena that maps its chunks through m.
func newArena[T any](m *mappings) arena[T] { return arena[T]{pool: pool[T]{m: m}} }

// chunkAt is where a mapped chunk of an arena lies, to find the chunk of a
// value given back.
type chunkAt struct {
	base, end uintptr
	c         int
}

// get returns a free value (see pool.take).
func (ar *arena[T]) get() *T {
	c, i, mapped := ar.take()
	vals := ar.chunks[c].vals
	if mapped {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(vals)))
		at := chunkAt{base: base, end: base + uintptr(len(vals))*unsafe.Sizeof(vals[0]), c: c}
		k, _ := slices.BinarySearchFunc(ar.byAddr, base, func(x chunkAt, b uintptr) int { return cmp.Compare(x.base, b) })
		ar.byAddr = slices.Insert(ar.byAddr, k, at)
	}
	return &vals[i]
}

// put gives p back for reuse (unless the analyzer is closing).
func (ar *arena[T]) put(p *T) {
	if ar.m.closing {
		return
	}
	a := uintptr(unsafe.Pointer(p))
	i, j := 0, len(ar.byAddr) // the first chunk that ends after p is in [i, j]
	for i < j {
		if h := int(uint(i+j) >> 1); ar.byAddr[h].end > a {
			j = h
		} else {
			i = h + 1
		}
	}
	at := ar.byAddr[i]
	if ar.give(at.c, int((a-at.base)/unsafe.Sizeof(*p))) {
		ar.byAddr = slices.Delete(ar.byAddr, i, i+1)
	}
}

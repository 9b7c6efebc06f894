package analyzer

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"unsafe"

	"teardown/reassembly"
)

// table maps 5-tuples to their tuple records. It replaces a Go map keyed by
// the 36-byte reassembly.Key, whose generic hashing and key comparison cost
// more per packet than the rest of the lookup: the slots are 8 bytes (a
// 32-bit hash tag and a tuple index), probed linearly, so a lookup touches
// one slot cache line and the tuple itself; deletion shifts the following
// entries back, so there are no tombstones.
//
// The hash is seeded at random per table: a capture is untrusted input, and
// a fixed hash would let a crafted one pile all its flows into one probe
// chain.
//
// Tuples live in the chunks of a pool (see pool), so a *tuple stays valid
// for as long as the tuple is in use, freed tuples are reused, and after
// a burst the memory of its tuples goes back to the system. A tuple's
// index is its chunk's number and its place in the chunk.
type table struct {
	slots []slot // outside the Go heap, like the tuples
	mask  uint32
	n     int // tuples in the table
	seed  [3]uint64

	tuples pool[tuple]
	m      *mappings
}

// slot is one table entry: idx is the tuple index plus one (0: empty) and
// tag the low 32 bits of the key's hash, whose low bits are the home slot.
type slot struct {
	tag uint32
	idx uint32
}

const (
	chunkBits    = 12 // a chunk of tuples holds perSlab[tuple]() of them (TestTableChunk)
	chunkSize    = 1 << chunkBits
	minTableSize = 1 << 10
)

func newTable(m *mappings) *table {
	return &table{
		m:      m,
		tuples: pool[tuple]{m: m},
		slots:  alloc[slot](m, minTableSize),
		mask:   minTableSize - 1,
		seed:   [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()},
	}
}

// hash mixes the key with the table's seed (the wyhash multiply-fold).
func (t *table) hash(k *reassembly.Key) uint32 {
	mum := func(a, b uint64) uint64 {
		hi, lo := bits.Mul64(a, b)
		return hi ^ lo
	}
	lo0 := binary.LittleEndian.Uint64(k.Lo.Addr[:8])
	lo1 := binary.LittleEndian.Uint64(k.Lo.Addr[8:])
	hi0 := binary.LittleEndian.Uint64(k.Hi.Addr[:8])
	hi1 := binary.LittleEndian.Uint64(k.Hi.Addr[8:])
	ports := uint64(k.Lo.Port)<<16 | uint64(k.Hi.Port)
	a := mum(lo0^t.seed[0], lo1^0xa0761d6478bd642f)
	b := mum(hi0^t.seed[1], hi1^0xe7037ed1a0b428db)
	return uint32(mum(a^ports^t.seed[2], b^0x8ebc6af09c88c6e3))
}

// at returns the tuple with index i.
func (t *table) at(i uint32) *tuple {
	return &t.tuples.chunks[i>>chunkBits].vals[i&(chunkSize-1)]
}

// get returns the tuple of k, or nil.
func (t *table) get(k *reassembly.Key) *tuple { return t.find(k, t.hash(k)) }

// getOrAdd returns the tuple of k, adding a new one if there is none; the
// key is hashed once.
func (t *table) getOrAdd(k *reassembly.Key) *tuple {
	h := t.hash(k)
	if tp := t.find(k, h); tp != nil {
		return tp
	}
	return t.addHashed(k, h)
}

// find returns the tuple of k, whose hash is h, or nil.
func (t *table) find(k *reassembly.Key, h uint32) *tuple {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.idx == 0 {
			return nil
		}
		if s.tag == h {
			if tp := t.at(s.idx - 1); tp.key == *k {
				return tp
			}
		}
	}
}

// prefetchSlot asks for tp's home slot to be brought into the cache.
func (t *table) prefetchSlot(tp *tuple) {
	prefetch(unsafe.Pointer(&t.slots[tp.tag&t.mask]))
}

// add inserts a new, zeroed tuple for k, which must not be in the table.
func (t *table) add(k *reassembly.Key) *tuple { return t.addHashed(k, t.hash(k)) }

// addHashed is add for a key whose hash is h.
func (t *table) addHashed(k *reassembly.Key, h uint32) *tuple {
	if (t.n+1)*4 > len(t.slots)*3 { // at most three quarters full
		t.grow()
	}
	c, i, _ := t.tuples.take()
	idx := uint32(c)<<chunkBits | uint32(i)
	tp := t.at(idx)
	*tp = tuple{key: *k, tag: h, idx: idx, refs: inTable}
	t.insert(slot{tag: h, idx: idx + 1})
	t.n++
	return tp
}

// insert puts s in the first free slot of its probe chain.
func (t *table) insert(s slot) {
	i := s.tag & t.mask
	for t.slots[i].idx != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = s
}

// grow doubles the slots.
func (t *table) grow() { t.resize(2 * len(t.slots)) }

// resize moves the entries to n slots, a power of two.
func (t *table) resize(n int) {
	old := t.slots
	t.slots = alloc[slot](t.m, n)
	t.mask = uint32(len(t.slots) - 1)
	for _, s := range old {
		if s.idx != 0 {
			t.insert(s)
		}
	}
	free(t.m, old)
}

// remove deletes tp from the table; it is reused once no flow refers to it
// (see unref). tp must be in the table.
func (t *table) remove(tp *tuple) {
	want := tp.idx + 1
	i := tp.tag & t.mask
	for t.slots[i].idx != want {
		i = (i + 1) & t.mask
	}
	// Backward-shift deletion: move later entries of the cluster into the
	// hole when the hole lies on their probe path.
	for j := (i + 1) & t.mask; t.slots[j].idx != 0; j = (j + 1) & t.mask {
		home := t.slots[j].tag & t.mask
		if (j-home)&t.mask >= (j-i)&t.mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot{}
	t.n--
	if len(t.slots) > minTableSize && t.n*8 < len(t.slots) && !t.m.closing {
		// After a burst: half the slots, still at most a quarter full.
		t.resize(len(t.slots) / 2)
	}
	tp.refs &^= inTable
	if tp.refs == 0 {
		t.release(tp)
	}
}

// unref drops a flow's reference to tp, and frees tp when it was the last
// one of a tuple no longer in the table.
func (t *table) unref(tp *tuple) {
	tp.refs--
	if tp.refs == 0 { // and so not in the table
		t.release(tp)
	}
}

// release makes tp available for reuse.
func (t *table) release(tp *tuple) {
	if t.m.closing {
		return // everything is unmapped next
	}
	idx := tp.idx
	*tp = tuple{idx: idx}
	t.tuples.give(int(idx>>chunkBits), int(idx&(chunkSize-1)))
}

// each calls fn for every tuple in the table.
func (t *table) each(fn func(*tuple)) {
	for _, s := range t.slots {
		if s.idx != 0 {
			fn(t.at(s.idx - 1))
		}
	}
}

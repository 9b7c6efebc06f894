package analyzer

import (
	"encoding/binary"
	"unsafe"
)

// pkStore keeps the packed verdicts of settled flows (see packFlow)
// outside the Go heap. When every flow is wanted in full (json, ndjson)
// they are the largest part of what the flows waiting out their TIME_WAIT
// hold, about 270 bytes each; as strings on the heap they would also raise
// the collector's heap goal by half their size (GOGC=50). A verdict is
// copied, after its 2-byte length, into a block of the smallest size class
// that holds both; the classes are 32 bytes apart up to 512 and then about
// an eighth apart, so a block wastes little. The blocks come from pools
// like the arenas' (see pool), in smaller chunks (blockSlab), since a
// run that packs few verdicts may spread them over many classes. A
// verdict too long for the largest class stays on the heap.
//
// A verdict is named by a ref: its class plus one in the top bits, then
// the block's index in its pool (chunk × values per chunk + index); 0 names
// none.
type pkStore struct {
	m       *mappings
	pools   [len(pkClasses)]blocks // made when first needed
	big     []string               // verdicts longer than the largest class; [0] unused
	bigFree []uint32
}

// blocks is a pool of byte blocks of one size class.
type blocks interface {
	take() (c, i int, mapped bool)
	give(c, i int) (unmapped bool)
	block(c, i int) []byte
	perChunk() int
	inUse() int
}

// blockPool is a pool of blocks of type T, a byte array.
type blockPool[T any] struct{ pool[T] }

func (p *blockPool[T]) block(c, i int) []byte {
	v := &p.chunks[c].vals[i]
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

func (p *blockPool[T]) perChunk() int { return p.per }

// blockSlab is about how large a chunk of blocks is.
const blockSlab = 64 << 10

func newBlocks[T any](m *mappings) blocks {
	var zero T
	return &blockPool[T]{pool[T]{m: m, per: max(1, blockSlab/int(unsafe.Sizeof(zero)))}}
}

// pkClasses are the size classes of the blocks, by size.
var pkClasses = [...]struct {
	size int
	make func(*mappings) blocks
}{
	{64, newBlocks[[64]byte]}, {96, newBlocks[[96]byte]}, {128, newBlocks[[128]byte]},
	{160, newBlocks[[160]byte]}, {192, newBlocks[[192]byte]}, {224, newBlocks[[224]byte]},
	{256, newBlocks[[256]byte]}, {288, newBlocks[[288]byte]}, {320, newBlocks[[320]byte]},
	{352, newBlocks[[352]byte]}, {384, newBlocks[[384]byte]}, {416, newBlocks[[416]byte]},
	{448, newBlocks[[448]byte]}, {480, newBlocks[[480]byte]}, {512, newBlocks[[512]byte]},
	{576, newBlocks[[576]byte]}, {640, newBlocks[[640]byte]}, {720, newBlocks[[720]byte]},
	{816, newBlocks[[816]byte]}, {912, newBlocks[[912]byte]}, {1024, newBlocks[[1024]byte]},
	{1152, newBlocks[[1152]byte]}, {1296, newBlocks[[1296]byte]}, {1456, newBlocks[[1456]byte]},
	{1632, newBlocks[[1632]byte]}, {1840, newBlocks[[1840]byte]}, {2048, newBlocks[[2048]byte]},
	{2560, newBlocks[[2560]byte]}, {3072, newBlocks[[3072]byte]}, {4096, newBlocks[[4096]byte]},
}

const (
	refShift = 27                   // a ref's class is in its bits from refShift
	refIndex = 1<<refShift - 1      // the block index bits of a ref
	refBig   = 1<<(32-refShift) - 1 // the class of a verdict on the heap
)

// The classes plus one, and refBig, must fit in a ref's class bits.
const _ = uint(refBig - 1 - len(pkClasses))

// class returns the smallest class whose blocks hold n bytes, or -1.
func pkClass(n int) int {
	lo, hi := 0, len(pkClasses)
	for lo < hi {
		if h := int(uint(lo+hi) >> 1); pkClasses[h].size < n {
			lo = h + 1
		} else {
			hi = h
		}
	}
	if lo == len(pkClasses) {
		return -1
	}
	return lo
}

// put keeps pk as the verdict ref names, or as a new one if ref is 0, and
// returns its ref.
func (s *pkStore) put(ref uint32, pk []byte) uint32 {
	k := pkClass(2 + len(pk))
	if ref != 0 && ref>>refShift == uint32(k+1) && k >= 0 {
		s.write(s.pools[k].block(s.loc(k, ref)), pk)
		return ref
	}
	s.drop(ref)
	if k >= 0 {
		if s.pools[k] == nil {
			s.pools[k] = pkClasses[k].make(s.m)
		}
		p := s.pools[k]
		c, i, _ := p.take()
		if idx := c*p.perChunk() + i; idx <= refIndex {
			s.write(p.block(c, i), pk)
			return uint32(k+1)<<refShift | uint32(idx)
		}
		p.give(c, i) // more blocks of one class than a ref can name: on the heap
	}
	i := len(s.big)
	if n := len(s.bigFree); n > 0 {
		i = int(s.bigFree[n-1])
		s.bigFree = s.bigFree[:n-1]
		s.big[i] = string(pk)
	} else {
		if i == 0 {
			s.big = append(s.big, "")
			i = 1
		}
		s.big = append(s.big, string(pk))
	}
	return refBig<<refShift | uint32(i)
}

// write puts pk, after its length, in block b.
func (s *pkStore) write(b []byte, pk []byte) {
	binary.LittleEndian.PutUint16(b, uint16(len(pk)))
	copy(b[2:], pk)
}

// loc returns the chunk and index of the block of class k that ref names.
func (s *pkStore) loc(k int, ref uint32) (c, i int) {
	idx, per := int(ref&refIndex), s.pools[k].perChunk()
	return idx / per, idx % per
}

// get returns the verdict ref names, which must not be 0. The string is
// valid only until the next put or drop of ref: what is kept of it must be
// copied (see unpacker.word).
func (s *pkStore) get(ref uint32) string {
	k := int(ref>>refShift) - 1
	if k == refBig-1 {
		return s.big[ref&refIndex]
	}
	b := s.pools[k].block(s.loc(k, ref))
	n := binary.LittleEndian.Uint16(b)
	return unsafe.String(&b[2], int(n))
}

// drop forgets the verdict ref names, if any.
func (s *pkStore) drop(ref uint32) {
	k := int(ref>>refShift) - 1
	switch {
	case ref == 0:
	case k == refBig-1:
		i := ref & refIndex
		s.big[i] = ""
		s.bigFree = append(s.bigFree, i)
	case s.m.closing:
		// Everything is unmapped next.
	default:
		s.pools[k].give(s.loc(k, ref))
	}
}

// inUse returns how many verdicts the store holds.
func (s *pkStore) inUse() int {
	n := len(s.big) - len(s.bigFree)
	if len(s.big) > 0 {
		n-- // [0]
	}
	for _, p := range s.pools {
		if p != nil {
			n += p.inUse()
		}
	}
	return n
}

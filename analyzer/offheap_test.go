package analyzer

import (
	"cmp"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"

	"teardown/reassembly"
)

// offHeapTypes are the types that live outside the Go heap.
var offHeapTypes = []reflect.Type{
	reflect.TypeFor[core](), reflect.TypeFor[tuple](),
	reflect.TypeFor[detail](), reflect.TypeFor[evMore](), reflect.TypeFor[tailRing](),
	reflect.TypeFor[qchunk](), reflect.TypeFor[slot](), reflect.TypeFor[rareEvidence](),
}

// heapPointers lists the fields of ty that could point into the Go heap:
// pointers to anything but an off-heap type, and slices, strings, maps,
// interfaces, funcs and channels.
func heapPointers(path string, ty reflect.Type) []string {
	switch ty.Kind() {
	case reflect.Pointer:
		if !slices.Contains(offHeapTypes, ty.Elem()) {
			return []string{path}
		}
	case reflect.Struct:
		var out []string
		for i := range ty.NumField() {
			fl := ty.Field(i)
			out = append(out, heapPointers(path+"."+fl.Name, fl.Type)...)
		}
		return out
	case reflect.Array:
		return heapPointers(path+"[]", ty.Elem())
	case reflect.Slice, reflect.String, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return []string{path}
	}
	return nil
}

// TestOffHeapTypes checks that what lives outside the Go heap holds no
// pointer the garbage collector would have to see.
func TestOffHeapTypes(t *testing.T) {
	for _, ty := range offHeapTypes {
		if bad := heapPointers(ty.Name(), ty); len(bad) > 0 {
			t.Errorf("%s holds pointers into the Go heap: %v", ty, bad)
		}
	}
	// The check itself finds them.
	type bad struct {
		c  *core
		f  *Flow
		s  [2]struct{ name string }
		ok bool
	}
	got := heapPointers("bad", reflect.TypeFor[bad]())
	if want := []string{"bad.f", "bad.s[].name"}; !slices.Equal(got, want) {
		t.Errorf("heapPointers(bad) = %v, want %v", got, want)
	}
}

// TestFifo checks the chunked queue against a slice, across chunk
// boundaries, with the queue running empty and filling again.
func TestFifo(t *testing.T) {
	m := &mappings{}
	defer m.release()
	ar := new(newArena[qchunk](m))
	q := fifo{ar: ar}
	var want []int64
	next := int64(0)
	check := func(step string) {
		t.Helper()
		var got []int64
		q.each(func(e qent) { got = append(got, e.at) })
		if !slices.Equal(got, want) {
			t.Fatalf("%s: queue holds %d entries %v..., want %d", step, len(got), got[:min(len(got), 5)], len(want))
		}
		e, ok := q.peek()
		if ok != (len(want) > 0) || (ok && e.at != want[0]) {
			t.Fatalf("%s: peek = %v, %v; want first of %d", step, e.at, ok, len(want))
		}
		for k := range qchunkLen {
			e, ok := q.ahead(k)
			if ok != (k < len(want)) || (ok && e.at != want[k]) {
				t.Fatalf("%s: ahead(%d) = %v, %v; want entry %d of %d", step, k, e.at, ok, k, len(want))
			}
		}
	}
	for _, n := range []struct{ push, pop int }{{1, 1}, {qchunkLen, 0}, {1, qchunkLen + 1}, {3*qchunkLen + 7, 2 * qchunkLen}, {2 * qchunkLen, 3}, {5, 2*qchunkLen + 12}, {0, 0}} {
		for range n.push {
			q.push(qent{at: next})
			want = append(want, next)
			next++
		}
		check("push")
		for range n.pop {
			q.pop()
			want = want[1:]
		}
		check("pop")
	}
	q.push(qent{at: 1})
	q.reset()
	want = nil
	check("reset")
	// Every chunk is back in the arena: none leaked.
	if got := ar.inUse(); got != 0 {
		t.Errorf("%d chunks still in use after reset, want 0", got)
	}
}

// TestArenaGivesBack checks that an arena unmaps the chunks a burst needed
// once their values are free again, keeping one spare, that it hands out
// a value of the lowest-numbered chunk with one first while most are
// free, that it finds the chunk of every value given back, and that it
// never hands out a value twice.
func TestArenaGivesBack(t *testing.T) {
	type val struct {
		n int
		_ [56]byte
	}
	per := perSlab[val]()
	slab := int64(per) * int64(unsafe.Sizeof(val{}))
	m := &mappings{}
	ar := new(newArena[val](m))
	held := map[*val]bool{}
	get := func(n int) *val {
		p := ar.get()
		if held[p] {
			t.Fatalf("value %p handed out twice", p)
		}
		p.n = n
		held[p] = true
		return p
	}
	put := func(p *val) {
		delete(held, p)
		ar.put(p)
	}
	// chunkOf returns the number of the chunk that holds p.
	chunkOf := func(p *val) int {
		a := uintptr(unsafe.Pointer(p))
		for c, ch := range ar.chunks {
			base := uintptr(unsafe.Pointer(unsafe.SliceData(ch.vals)))
			if len(ch.vals) > 0 && a >= base && a < base+uintptr(slab) {
				return c
			}
		}
		t.Fatalf("value %p is in no chunk", p)
		return -1
	}
	all := make([]*val, 0, 5*per+3)
	for i := range cap(all) { // a burst over six chunks
		all = append(all, get(i))
	}
	if m.bytes < 6*slab || len(ar.byAddr) != 6 {
		t.Fatalf("%d bytes mapped, %d chunks by address, for a burst of six chunks", m.bytes, len(ar.byAddr))
	}
	// Keep half of the first chunk's values; give the rest back.
	for _, p := range all[per/2:] {
		put(p)
	}
	if m.bytes != 2*slab || len(ar.byAddr) != 2 {
		t.Errorf("%d bytes mapped, %d chunks by address, after the burst; want %d bytes: the chunk in use and one spare",
			m.bytes, len(ar.byAddr), 2*slab)
	}
	for i, p := range all[:per/2] {
		if p.n != i {
			t.Fatalf("a value in use changed: %d, want %d", p.n, i)
		}
	}
	// Free values in several chunks, most of them free: the next come
	// from the lowest.
	for _, p := range all[:per/4] {
		put(p)
	}
	for i := range per / 8 {
		p := get(-i)
		for c := range chunkOf(p) {
			if len(ar.chunks[c].free) > 0 {
				t.Fatalf("handed out a value of chunk %d while chunk %d has a free one", chunkOf(p), c)
			}
		}
	}
	// Random gets and puts, in waves: while most values are free, the
	// lowest chunk with a free value hands out the next one.
	rng := rand.New(rand.NewPCG(1, 2))
	var live []*val
	for p := range held {
		live = append(live, p)
	}
	for i := range 20 * per {
		if wave := i / per % 4; len(live) > 0 && rng.IntN(4) < wave {
			j := rng.IntN(len(live))
			put(live[j])
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
			continue
		}
		low := -1
		if 2*ar.nfree > ar.nvals {
			for c, ch := range ar.chunks {
				if len(ch.free) > 0 {
					low = c
					break
				}
			}
		}
		p := get(i)
		live = append(live, p)
		if c := chunkOf(p); low >= 0 && c != low {
			t.Fatalf("op %d handed out a value of chunk %d while chunk %d has a free one", i, c, low)
		}
	}
	if got := ar.inUse(); got != len(held) {
		t.Errorf("%d values in use, want %d", got, len(held))
	}
	mapped := 0
	for _, ch := range ar.chunks {
		if ch.vals != nil {
			mapped++
		}
	}
	if len(ar.byAddr) != mapped {
		t.Errorf("%d chunks by address, %d mapped", len(ar.byAddr), mapped)
	}
	// Two full chunks, then most values free, the last one given back in
	// the higher chunk: the next comes from the lower one all the same.
	for p := range held {
		put(p)
	}
	byChunk := map[int][]*val{}
	for i := range 2 * per {
		p := get(i)
		byChunk[chunkOf(p)] = append(byChunk[chunkOf(p)], p)
	}
	if len(byChunk) != 2 {
		t.Fatalf("two chunks' worth of values in %d chunks", len(byChunk))
	}
	lo, hi := -1, -1
	for c := range byChunk {
		if lo < 0 || c < lo {
			lo = c
		}
		hi = max(hi, c)
	}
	for _, p := range byChunk[lo][1:] {
		put(p)
	}
	for _, p := range byChunk[hi][per/4:] {
		put(p)
	}
	if c := chunkOf(get(-1)); c != lo {
		t.Errorf("most values free: handed out a value of chunk %d, the one given a value back last, not of chunk %d", c, lo)
	}
	m.release()
}

// TestCloseUnmaps checks that Close returns every chunk to the system, not
// only once the analyzer is collected, and that an Add after Close starts
// afresh: the same capture read again gives the same flows, numbered on.
func TestCloseUnmaps(t *testing.T) {
	ss := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
		{dir: "S>C", flags: "F.", seq: 1, ack: 11},
		{dir: "C>S", flags: "R", seq: 11},
	}))
	ss = append(ss, segs(40001, 1e18+5e9, handshake)...)
	var got []Flow
	a := New(Config{}, func(f *Flow) { got = append(got, *f) })
	pass := func() {
		for i := range ss {
			a.Add(&ss[i])
		}
		if a.Stats().OffHeap == 0 {
			t.Fatal("no chunk mapped while flows are open")
		}
		a.Close()
		if n := a.Stats().OffHeap; n != 0 {
			t.Fatalf("%d bytes still mapped after Close", n)
		}
	}
	pass()
	first := len(got)
	pass()
	if first != 2 || len(got) != 2*first {
		t.Fatalf("got %d flows, then %d, want 2 each", first, len(got)-first)
	}
	for i := range first {
		a, b := got[i], got[first+i]
		if b.ID != a.ID+first || b.Class != a.Class || b.Verdict != a.Verdict || len(b.Events) != len(a.Events) {
			t.Errorf("flow %d read again: %d %s %q, first time %d %s %q", i, b.ID, b.Class, b.Verdict, a.ID, a.Class, a.Verdict)
		}
	}
}

// TestFlowMemoryGivenBack runs a wave of tuples, each reset and then used
// twice more, so that the reset incarnation leaves the tuple's history
// while its TIME_WAIT queue entry still points at it; then lets every
// TIME_WAIT pass. No flow may be recycled while a queue entry points at
// it, and once the wave is over the memory of the flows and the tuples
// goes back to the system.
func TestFlowMemoryGivenBack(t *testing.T) {
	const n = 3*chunkSize - 100 // tuples: three chunks of them, over six of cores
	var got int
	a := New(Config{}, func(*Flow) { got++ })
	defer a.Close()
	start := int64(1e18)
	var ss []reassembly.Segment
	for i := range n {
		port := uint16(20000 + i)
		at := start + int64(i)*1e6
		ss = append(ss, segs(port, at, with(handshake, []step{{dir: "C>S", flags: "R.", seq: 1, ack: 1}}))...)
		// Incarnations 2 and 3, 6 s apart: the reset one is settled and
		// emitted by then, and leaves the history with the third.
		for k := uint32(1); k <= 2; k++ {
			ss = append(ss, shift(segs(port, at+int64(k)*6e9, handshake), k*1e6, k*1e6)...)
		}
	}
	slices.SortStableFunc(ss, func(x, y reassembly.Segment) int { return cmp.Compare(x.At, y.At) })
	for i := range ss {
		ss[i].Frame = int64(i + 1)
		a.Add(&ss[i])
		if i%1009 == 0 {
			checkQueues(t, a)
		}
	}
	checkQueues(t, a)
	if a.flows.nvals < 2*perSlab[core]() {
		t.Fatalf("%d flow cores mapped after the wave, want over two chunks", a.flows.nvals)
	}
	if a.flows.inUse() < n {
		t.Fatalf("%d flow cores in use after the wave, want at least %d", a.flows.inUse(), n)
	}
	if a.tuples.tuples.nvals < 3*chunkSize {
		t.Fatalf("%d tuples mapped after the wave, want three chunks", a.tuples.tuples.nvals)
	}
	peak := a.mem.bytes
	// The open incarnations (3 per tuple but the reset ones) idle out;
	// then every TIME_WAIT passes.
	end := ss[len(ss)-1].At
	a.Advance(end + int64(time.Hour))
	a.Expire(0)
	a.Advance(end + 3*int64(time.Hour))
	checkQueues(t, a)
	if got != 3*n {
		t.Fatalf("%d flows emitted, want %d", got, 3*n)
	}
	if u := a.flows.inUse(); u != 0 {
		t.Errorf("%d flow cores still in use", u)
	}
	// One empty chunk of each may be kept as a spare.
	if tb := a.tuples.tuples; tb.nvals > chunkSize || tb.nfree != tb.nvals {
		t.Errorf("after the wave %d tuples stay mapped, %d of them free; want at most one chunk's %d, all free",
			tb.nvals, tb.nfree, chunkSize)
	}
	if kept := a.flows.nvals; kept > perSlab[core]() {
		t.Errorf("after the wave %d flow cores stay mapped (%d chunks), want at most one chunk's %d; %d bytes mapped of %d at the peak",
			kept, len(a.flows.byAddr), perSlab[core](), a.mem.bytes, peak)
	}
}

// TestArenaSmallValues checks an arena of values so small that a chunk
// would hold more than its 16-bit free list can name: every value of a
// full chunk is handed out once, and the chunk goes when all come back.
func TestArenaSmallValues(t *testing.T) {
	m := &mappings{}
	defer m.release()
	ar := new(newArena[uint16](m))
	per := perSlab[uint16]()
	if per != 1<<16 {
		t.Fatalf("perSlab[uint16] = %d, want %d", per, 1<<16)
	}
	seen := map[*uint16]bool{}
	var all []*uint16
	for range 2 * per {
		p := ar.get()
		if seen[p] {
			t.Fatalf("value %p handed out twice", p)
		}
		seen[p] = true
		all = append(all, p)
	}
	for _, p := range all {
		ar.put(p)
	}
	if ar.nvals != per || ar.inUse() != 0 {
		t.Errorf("after all came back: %d values mapped, %d in use; want one spare chunk of %d, none in use", ar.nvals, ar.inUse(), per)
	}
}

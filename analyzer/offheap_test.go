package analyzer

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"unsafe"
)

// offHeapTypes are the types that live outside the Go heap.
var offHeapTypes = []reflect.Type{
	reflect.TypeFor[core](), reflect.TypeFor[tuple](),
	reflect.TypeFor[detail](), reflect.TypeFor[evMore](), reflect.TypeFor[tailRing](),
	reflect.TypeFor[qchunk](), reflect.TypeFor[slot](),
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
	ar := &arena[qchunk]{m: m}
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
	}
	for _, n := range []struct{ push, pop int }{{1, 1}, {qchunkLen, 0}, {1, qchunkLen + 1}, {3*qchunkLen + 7, 2 * qchunkLen}, {5, qchunkLen + 12}, {0, 0}} {
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

// TestArenaGivesBack checks that an arena that may give memory back
// unmaps the chunks a burst needed once their values are free again,
// keeping one spare, that it hands out the lowest free value first while
// most are free, and
// that it never hands out a value twice; and that a keeping arena keeps
// its chunks and the contents of the values given back.
// (An arena that keeps its chunks has no slabs: the checks of the lowest
// free value pass for it at once.)
func TestArenaGivesBack(t *testing.T) {
	type val struct {
		n int
		_ [56]byte
	}
	per := perSlab[val]()
	slab := int64(per) * int64(unsafe.Sizeof(val{}))
	for _, keep := range []bool{false, true} {
		m := &mappings{}
		ar := &arena[val]{m: m, keep: keep}
		held := map[*val]bool{}
		back := map[*val]int{} // values given back, with what they held
		get := func(n int) *val {
			p := ar.get()
			if held[p] {
				t.Fatalf("keep=%v: value %p handed out twice", keep, p)
			}
			if was, ok := back[p]; ok && keep && p.n != was {
				t.Fatalf("keep=%v: reused value holds %d, was given back holding %d", keep, p.n, was)
			}
			delete(back, p)
			p.n = n
			held[p] = true
			return p
		}
		put := func(p *val) {
			back[p] = p.n // before put, which may unmap it
			delete(held, p)
			ar.put(p)
		}
		all := make([]*val, 0, 5*per+3)
		for i := range cap(all) { // a burst over six chunks
			all = append(all, get(i))
		}
		if m.bytes < 6*slab {
			t.Fatalf("keep=%v: %d bytes mapped for a burst of six chunks", keep, m.bytes)
		}
		// Keep half of the first chunk's values; give the rest back.
		for _, p := range all[per/2:] {
			put(p)
		}
		switch {
		case !keep && m.bytes != 2*slab:
			t.Errorf("keep=false: %d bytes mapped after the burst, want %d: the chunk in use and one spare", m.bytes, 2*slab)
		case keep && m.bytes < 6*slab:
			t.Errorf("keep=true: %d bytes mapped after the burst, want the chunks kept", m.bytes)
		}
		for i, p := range all[:per/2] {
			if p.n != i {
				t.Fatalf("keep=%v: a value in use changed: %d, want %d", keep, p.n, i)
			}
		}
		// Free values in several chunks, most of them free: the next come
		// from the lowest.
		for _, p := range all[:per/4] {
			put(p)
		}
		for i := range per / 8 {
			p := get(-i)
			a := uintptr(unsafe.Pointer(p))
			for _, s := range ar.slabs {
				if len(s.free) > 0 && s.end <= a {
					t.Fatalf("keep=%v: handed out %#x while the chunk at %#x has a free value", keep, a, s.base)
				}
			}
		}
		// Random gets and puts, in waves: while most values are free, the
		// lowest free value is the next one handed out.
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
			var low uintptr
			for _, s := range ar.slabs {
				if 2*ar.nfree <= ar.nvals {
					break // not most
				}
				if len(s.free) > 0 {
					low = s.base
					break
				}
			}
			p := get(i)
			live = append(live, p)
			if a := uintptr(unsafe.Pointer(p)); low != 0 && (a < low || a >= low+uintptr(slab)) {
				t.Fatalf("keep=%v: op %d handed out %#x while the chunk at %#x has a free value", keep, i, a, low)
			}
		}
		if got := ar.inUse(); !keep && got != len(held) {
			t.Errorf("%d values in use, want %d", got, len(held))
		}
		m.release()
	}
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

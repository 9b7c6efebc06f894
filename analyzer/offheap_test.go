package analyzer

import (
	"reflect"
	"slices"
	"testing"
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
	if got := len(ar.free); got != arenaChunk {
		t.Errorf("arena holds %d free chunks after reset, want %d", got, arenaChunk)
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

package analyzer

import (
	"math/rand/v2"
	"testing"
	"time"

	"teardown/reassembly"
)

// TestTable checks the flow table against a Go map over random inserts and
// removals, with few distinct keys so that probe chains collide and
// backward-shift deletion is exercised, and with many keys to grow it.
func TestTable(t *testing.T) {
	for _, keys := range []int{50, 5000} {
		rng := rand.New(rand.NewPCG(1, uint64(keys)))
		m := &mappings{}
		defer m.release()
		tab := newTable(m)
		model := map[reassembly.Key]*tuple{}
		key := func() reassembly.Key {
			n := rng.IntN(keys)
			k := reassembly.Key{
				Lo: reassembly.AddrPort{Addr: reassembly.AddrFrom4([4]byte{198, 18, 0, byte(n % 7)}), Port: uint16(n)},
				Hi: reassembly.AddrPort{Addr: reassembly.AddrFrom4([4]byte{198, 18, 1, 1}), Port: 80},
			}
			if n%3 == 0 {
				k.Hi.Addr = reassembly.Addr{0x20, 0x01, 0x0d, 0xb8, 15: byte(n)}
			}
			return k
		}
		for i := 0; i < 200000; i++ {
			k := key()
			got := tab.get(&k)
			if got != model[k] {
				t.Fatalf("keys=%d step %d: get(%v) = %p, want %p", keys, i, k, got, model[k])
			}
			switch {
			case got == nil:
				tp := tab.add(&k)
				if tp.key != k || !tp.live() {
					t.Fatalf("add: tuple %+v", tp)
				}
				model[k] = tp
			case rng.IntN(2) == 0:
				tab.remove(got)
				delete(model, k)
			}
			if tab.n != len(model) {
				t.Fatalf("keys=%d step %d: %d tuples, want %d", keys, i, tab.n, len(model))
			}
		}
		seen := 0
		tab.each(func(tp *tuple) {
			seen++
			if model[tp.key] != tp {
				t.Errorf("each: stray tuple %v", tp.key)
			}
		})
		if seen != len(model) {
			t.Errorf("each: %d tuples, want %d", seen, len(model))
		}
	}
}

// TestTableChunk checks that a tuple's index splits into its chunk's number
// and its place in the chunk as the table's constants say.
func TestTableChunk(t *testing.T) {
	if got := perSlab[tuple](); got != chunkSize {
		t.Fatalf("a chunk holds %d tuples, want chunkSize %d", got, chunkSize)
	}
}

// TestTableShrinks fills the table in waves and drains it, checking it
// against a Go map: the slots grow with the tuples and shrink back after
// each wave, and every lookup still finds what is there.
func TestTableShrinks(t *testing.T) {
	m := &mappings{}
	defer m.release()
	tab := newTable(m)
	model := map[reassembly.Key]*tuple{}
	key := func(n int) reassembly.Key {
		return reassembly.Key{
			Lo: reassembly.AddrPort{Addr: reassembly.AddrFrom4([4]byte{198, 18, byte(n >> 16), byte(n >> 8)}), Port: uint16(n)},
			Hi: reassembly.AddrPort{Addr: reassembly.AddrFrom4([4]byte{198, 19, 1, 1}), Port: 443},
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for wave, size := range []int{30000, 5000, 60000} {
		for i := range size {
			k := key(wave<<20 | i)
			model[k] = tab.add(&k)
		}
		// At most three quarters full, and at least half that.
		if n := len(tab.slots); 4*size > 3*n || 8*size < 3*n {
			t.Fatalf("wave %d: %d slots for %d tuples", wave, len(tab.slots), size)
		}
		keys := make([]reassembly.Key, 0, len(model))
		for k := range model {
			keys = append(keys, k)
		}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		for i, k := range keys {
			tab.remove(model[k])
			delete(model, k)
			if i%997 == 0 {
				for k2, tp := range model {
					if got := tab.get(&k2); got != tp {
						t.Fatalf("wave %d, %d removed: get = %p, want %p", wave, i+1, got, tp)
					}
				}
			}
		}
		if len(tab.slots) != minTableSize || tab.n != 0 {
			t.Errorf("wave %d drained: %d slots, %d tuples; want %d slots", wave, len(tab.slots), tab.n, minTableSize)
		}
	}
}

// TestTableTupleReuse checks that a removed tuple still referred to by a
// flow is not handed out again until the last reference is dropped.
func TestTableTupleReuse(t *testing.T) {
	m := &mappings{}
	defer m.release()
	tab := newTable(m)
	k1 := reassembly.Key{Lo: reassembly.AddrPort{Port: 1}, Hi: reassembly.AddrPort{Port: 2}}
	k2 := reassembly.Key{Lo: reassembly.AddrPort{Port: 3}, Hi: reassembly.AddrPort{Port: 4}}
	tp := tab.add(&k1)
	tp.refs++
	tab.remove(tp)
	if tab.get(&k1) != nil {
		t.Fatal("removed key still found")
	}
	for i := 0; i < 2*chunkSize; i++ {
		k := k2
		k.Lo.Port = uint16(i + 10)
		if tab.add(&k) == tp {
			t.Fatal("a referenced tuple was reused")
		}
	}
	if tp.key != k1 {
		t.Fatalf("referenced tuple changed: %v", tp.key)
	}
	tab.unref(tp)
	if tp.key == k1 {
		t.Fatal("unreferenced tuple not released")
	}
}

// TestTuplesFreed reuses one 5-tuple for many short incarnations, each
// emitted as soon as it settles, and checks that once every flow is
// finished no tuple is left allocated: a finished incarnation that drops
// out of its tuple's history is released, not leaked with its tuple.
func TestTuplesFreed(t *testing.T) {
	var ss []reassembly.Segment
	at := int64(1e18)
	for i := 0; i < 20; i++ {
		steps := []step{
			{dir: "C>S", flags: "S", seq: uint32(i) * 100000},
			{dir: "S>C", flags: "R.", seq: 0, ack: uint32(i)*100000 + 1},
		}
		ss = append(ss, segs(40000, at, steps)...)
		at += 3e9 // past the settle window, within TIME_WAIT
	}
	checkTuplesFreed(t, ss, at, 20)

	// An incarnation finished while it is still its tuple's previous one
	// (its TIME_WAIT passed while the next was open), then dropped from
	// the tuple's history by a third.
	close4 := []step{
		{dir: "C>S", flags: "S", seq: 0},
		{dir: "S>C", flags: "S.", seq: 0, ack: 1},
		{dir: "C>S", flags: ".", seq: 1, ack: 1},
		{dir: "C>S", flags: "F.", seq: 1, ack: 1},
		{dir: "S>C", flags: "F.", seq: 1, ack: 2},
		{dir: "C>S", flags: ".", seq: 2, ack: 2},
	}
	at = 1e18
	ss = segs(40000, at, close4)
	ss = append(ss, shift(segs(40000, at+1e9, close4[:3]), 1<<20, 1<<21)...)
	ss = append(ss, shift(segs(40000, at+70e9, []step{{dir: "C>S", flags: ".", seq: 1, ack: 1}}), 1<<20, 1<<21)...)
	ss = append(ss, shift(segs(40000, at+80e9, close4[:1]), 1<<22, 1<<23)...)
	checkTuplesFreed(t, ss, at+80e9, 3)
}

// checkTuplesFreed runs ss, moves the clock far past end, and wants n flows
// emitted and every tuple freed.
func checkTuplesFreed(t *testing.T, ss []reassembly.Segment, end int64, want int) {
	t.Helper()
	n := 0
	a := New(Config{}, func(*Flow) { n++ })
	for i := range ss {
		ss[i].Frame = int64(i + 1)
		a.Add(&ss[i])
	}
	a.Advance(end + int64(time.Hour))
	a.Expire(time.Minute)
	a.Advance(end + 2*int64(time.Hour))
	if n != want {
		t.Fatalf("%d flows emitted, want %d", n, want)
	}
	if a.tuples.n != 0 {
		t.Errorf("%d tuples still in the table", a.tuples.n)
	}
	if tb := a.tuples.tuples; tb.nfree != tb.nvals {
		t.Errorf("%d of %d tuples free: the rest leaked", tb.nfree, tb.nvals)
	}
}

package analyzer

import (
	"math/rand/v2"
	"testing"

	"teardown/reassembly"
)

// TestTable checks the flow table against a Go map over random inserts and
// removals, with few distinct keys so that probe chains collide and
// backward-shift deletion is exercised, and with many keys to grow it.
func TestTable(t *testing.T) {
	for _, keys := range []int{50, 5000} {
		rng := rand.New(rand.NewPCG(1, uint64(keys)))
		tab := newTable()
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
				if tp.key != k || !tp.live {
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

// TestTableTupleReuse checks that a removed tuple still referred to by a
// flow is not handed out again until the last reference is dropped.
func TestTableTupleReuse(t *testing.T) {
	tab := newTable()
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

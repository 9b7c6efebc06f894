package reassembly

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestAddrPortLess checks Less against a byte-by-byte comparison of the
// addresses, then the ports: endpoints that differ only in one byte of
// either word, or only in the port, and random ones.
func TestAddrPortLess(t *testing.T) {
	want := func(a, b AddrPort) bool {
		if c := bytes.Compare(a.Addr[:], b.Addr[:]); c != 0 {
			return c < 0
		}
		return a.Port < b.Port
	}
	r := rand.New(rand.NewPCG(1, 2))
	random := func() AddrPort {
		var a AddrPort
		for i := range a.Addr {
			a.Addr[i] = byte(r.IntN(3)) * 0x7f // 0x00, 0x7f, 0xfe: equal bytes are common
		}
		a.Port = uint16(r.IntN(3)) * 0x7fff
		return a
	}
	n := 0
	for range 20000 {
		a, b := random(), random()
		if r.IntN(2) == 0 {
			b = a
			switch i := r.IntN(18); {
			case i < 16:
				b.Addr[i] ^= byte(1 << r.IntN(8))
			default:
				b.Port ^= uint16(1 << r.IntN(16))
			}
		}
		if got := a.Less(b); got != want(a, b) {
			t.Fatalf("%v.Less(%v) = %v, want %v", a.Addr, b.Addr, got, !got)
		}
		if a.Less(b) {
			n++
		}
		if a.Less(a) {
			t.Fatalf("%v.Less(itself) = true", a)
		}
	}
	if n < 5000 || n > 15000 {
		t.Errorf("Less true in %d of 20000 cases: the cases are not balanced", n)
	}
}

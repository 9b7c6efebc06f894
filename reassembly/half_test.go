package reassembly

import (
	"math"
	"testing"
)

// TestHalfSent follows one side through a handshake, data, a FIN and its
// retransmissions: the ISN is the origin of relative numbers, a FIN at the
// same place again is a FIN retransmission, and the FIN count stops at
// its ceiling instead of wrapping.
func TestHalfSent(t *testing.T) {
	var h Half
	isn := Seq(math.MaxUint32 - 10) // wraps during the data
	send := func(flags Flags, seq Seq, n uint32) Kind {
		return h.Sent(&Segment{Flags: flags, Seq: seq, Len: n, WScale: -1, Win: 100}, 1000, true)
	}
	send(FlagSYN, isn, 0)
	if !h.HasISN || h.ISN() != isn || h.Rel(isn+1) != 1 {
		t.Fatalf("after the SYN: HasISN %v, ISN %d, Rel(ISN+1) %d", h.HasISN, h.ISN(), h.Rel(isn+1))
	}
	send(FlagACK, isn+1, 100)
	if k := send(FlagACK, isn+1, 100); k&KindRetransmission == 0 {
		t.Errorf("the same data again: kind %b, want a retransmission", k)
	}
	fin := isn + 101
	if k := send(FlagFIN|FlagACK, fin, 0); k&KindFINRetransmit != 0 {
		t.Errorf("first FIN: kind %b, want no FIN retransmission", k)
	}
	if got := h.Bytes(); got != 100 {
		t.Errorf("Bytes() = %d, want 100", got)
	}
	for i := 1; i < 70000; i++ {
		if k := send(FlagFIN|FlagACK, fin, 0); k&KindFINRetransmit == 0 {
			t.Fatalf("FIN %d at the same place: kind %b, want a FIN retransmission", i+1, k)
		}
	}
	if h.FINCount != math.MaxUint16 {
		t.Errorf("after 70,000 FINs FINCount = %d, want %d (saturated)", h.FINCount, math.MaxUint16)
	}
	if h.Packets != 70003 {
		t.Errorf("Packets = %d, want 70003", h.Packets)
	}
}

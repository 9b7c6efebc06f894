package analyzer

import (
	"reflect"
	"testing"
	"time"

	"teardown/reassembly"
)

// FuzzAnalyze feeds random segment scripts on a few 5-tuples and checks
// the analyzer's contract: no panic, every flow emitted exactly once with
// a known class and a verdict, events in capture order, and no flow left
// open after Close; and the same flows with Config.Reuse.
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte{0x02, 0, 0, 0x12, 0, 1, 0x10, 1, 1, 0x11, 1, 1, 0x11, 2, 2, 0x10, 2, 2})
	f.Add([]byte{0x02, 0, 0, 0x14, 0, 1})
	f.Add([]byte{0x18, 5, 5, 0x11, 9, 9, 0x04, 3, 3, 0x02, 7, 0, 0x11, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		got := fuzzAnalyze(t, data, false)
		if reused := fuzzAnalyze(t, data, true); !reflect.DeepEqual(reused, got) {
			t.Fatalf("with Reuse:\n%+v\nwithout:\n%+v", reused, got)
		}
		seen := map[int]bool{}
		for _, fl := range got {
			if seen[fl.ID] {
				t.Fatalf("flow %d emitted twice", fl.ID)
			}
			seen[fl.ID] = true
			if _, err := fl.Class.MarshalText(); err != nil || fl.Verdict == "" {
				t.Fatalf("flow %d: class %v verdict %q", fl.ID, fl.Class, fl.Verdict)
			}
			for i := 1; i < len(fl.Events); i++ {
				if fl.Events[i].Frame < fl.Events[i-1].Frame {
					t.Fatalf("flow %d: events out of order: %d after %d", fl.ID, fl.Events[i].Frame, fl.Events[i-1].Frame)
				}
			}
		}
	})
}

// fuzzAnalyze runs FuzzAnalyze's script data through an analyzer and
// returns the flows it emitted, copied when reuse is set.
func fuzzAnalyze(t *testing.T, data []byte, reuse bool) []*Flow {
	var got []*Flow
	a := New(Config{Reuse: reuse}, func(fl *Flow) {
		if reuse {
			fl = deepCopy(fl)
		}
		got = append(got, fl)
	})
	var at int64 = 1e18
	for i := 0; i+3 <= len(data) && i < 3*500; i += 3 {
		b0, b1, b2 := data[i], data[i+1], data[i+2]
		at += int64(b1&0x0f) * 1e8
		s := reassembly.Segment{
			Frame: int64(i/3 + 1), At: at, TTL: 64, WScale: -1, PktType: reassembly.PktUnknown,
			Flags: reassembly.Flags(b0 & 0x1f),
			Seq:   reassembly.Seq(uint32(b1) * 1000), Ack: reassembly.Seq(uint32(b2) * 1000),
			Len: uint32(b2&3) * 100, Win: uint16(b1 & 0x80),
		}
		if b0&0x80 != 0 {
			s.HasTS, s.TSval, s.TSecr = true, uint32(b1), uint32(b2)
		}
		port := uint16(40000 + uint16(b0>>5&3))
		if b0&0x20 == 0 {
			s.Src, s.SrcPort, s.Dst, s.DstPort = cliAddr, port, srvAddr, 80
		} else {
			s.Src, s.SrcPort, s.Dst, s.DstPort = srvAddr, 80, cliAddr, port
		}
		a.Add(&s)
		if i%48 == 0 {
			checkQueues(t, a) // it lists every chunk's free values: not on every segment
		}
		if noRare != (rareEvidence{}) {
			t.Fatalf("frame %d: the shared empty rare evidence was written: %+v", s.Frame, noRare)
		}
	}
	checkQueues(t, a)
	if len(data) > 0 && data[0]&1 == 1 {
		// Everything expires: no flow, and no tuple, may stay behind.
		a.Advance(at + int64(2*time.Hour))
		a.Expire(0)
		a.Advance(at + int64(4*time.Hour))
		if st := a.Stats(); st.OpenFlows != 0 || a.tuples.n != 0 || a.tuples.tuples.nfree != a.tuples.tuples.nvals {
			t.Fatalf("after expiry: %d open flows, %d tuples in the table, %d of %d free",
				st.OpenFlows, a.tuples.n, a.tuples.tuples.nfree, a.tuples.tuples.nvals)
		}
		if n := a.flows.inUse(); n != 0 {
			t.Fatalf("after expiry: %d flow cores not given back", n)
		}
	}
	a.Close()
	if st := a.Stats(); st.OpenFlows != 0 || int64(len(got)) != st.Flows {
		t.Fatalf("after Close: open %d, emitted %d of %d flows", st.OpenFlows, len(got), st.Flows)
	}
	return got
}

// checkQueues checks the queue entries against the flows they point at:
// each flow counts its entries, and none is free for reuse while an entry
// points at it.
func checkQueues(t *testing.T, a *Analyzer) {
	t.Helper()
	free := map[*core]bool{}
	for _, ch := range a.flows.chunks {
		for _, i := range ch.free {
			free[&ch.vals[i]] = true
		}
	}
	refs := map[*core]int{}
	for _, q := range []*fifo{&a.queue, &a.settleQ[0], &a.settleQ[1]} {
		q.each(func(e qent) { refs[e.f]++ })
	}
	for f, n := range refs {
		switch {
		case free[f]:
			t.Fatalf("flow %d is free for reuse with %d queue entries", f.id, n)
		case int(f.qrefs) != n:
			t.Fatalf("flow %d counts %d queue entries, has %d", f.id, f.qrefs, n)
		case f.has(cbReleased) != (f.t == nil):
			t.Fatalf("flow %d: released %v, tuple %p", f.id, f.has(cbReleased), f.t)
		}
	}
}

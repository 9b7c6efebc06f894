package analyzer

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"teardown/reassembly"
)

// TestPkClass checks that a verdict gets the smallest class that holds it
// with its length, and none past the largest.
func TestPkClass(t *testing.T) {
	for n := 1; n <= pkClasses[len(pkClasses)-1].size+1; n++ {
		k := pkClass(n)
		if n > pkClasses[len(pkClasses)-1].size {
			if k != -1 {
				t.Fatalf("pkClass(%d) = %d, want -1", n, k)
			}
			continue
		}
		if k < 0 || pkClasses[k].size < n || (k > 0 && pkClasses[k-1].size >= n) {
			t.Fatalf("pkClass(%d) = %d", n, k)
		}
	}
	for k := 1; k < len(pkClasses); k++ {
		if pkClasses[k].size <= pkClasses[k-1].size {
			t.Fatalf("classes out of order at %d", k)
		}
	}
}

// TestPkStore puts, replaces and drops verdicts of every length, up to
// past the largest class, against a map of what each ref should hold, and
// wants every chunk but one empty one per class unmapped once all are
// dropped.
func TestPkStore(t *testing.T) {
	m := &mappings{}
	defer m.release()
	s := pkStore{m: m}
	want := map[uint32][]byte{}
	r := rand.New(rand.NewPCG(5, 6))
	verdict := func() []byte {
		n := r.IntN(600)
		switch r.IntN(20) {
		case 0:
			n = r.IntN(5000)
		case 1:
			n = pkClasses[len(pkClasses)-1].size - 2 + r.IntN(3) // around the largest class
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	check := func() {
		t.Helper()
		for ref, b := range want {
			if got := s.get(ref); got != string(b) {
				t.Fatalf("ref %#x holds %d bytes, want %d", ref, len(got), len(b))
			}
		}
		if n := s.inUse(); n != len(want) {
			t.Fatalf("inUse %d, want %d", n, len(want))
		}
	}
	var live []uint32 // the refs in want, to pick from
	pick := func() (int, uint32) {
		i := r.IntN(len(live))
		return i, live[i]
	}
	for round := range 3 {
		for range 20000 {
			switch op := r.IntN(10); {
			case op < 6 || len(want) == 0: // a new verdict
				b := verdict()
				ref := s.put(0, b)
				if ref == 0 || want[ref] != nil {
					t.Fatalf("put gave ref %#x, which is 0 or in use", ref)
				}
				want[ref] = b
				live = append(live, ref)
			case op < 8: // a verdict amended: same size, or another
				i, ref := pick()
				b := verdict()
				if r.IntN(2) == 0 {
					b = append(bytes.Clone(want[ref]), 'x')
				}
				delete(want, ref)
				ref = s.put(ref, b)
				if want[ref] != nil {
					t.Fatalf("put gave ref %#x, which is in use", ref)
				}
				want[ref] = b
				live[i] = ref
			default:
				i, ref := pick()
				s.drop(ref)
				delete(want, ref)
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
			}
		}
		check()
		if round < 2 {
			continue
		}
		for _, ref := range live {
			s.drop(ref)
			delete(want, ref)
		}
		live = nil
		check()
		if limit := int64(len(pkClasses)) * (blockSlab + 4096); m.bytes > limit {
			t.Errorf("all dropped, %d bytes still mapped, want at most %d", m.bytes, limit)
		}
	}
}

// TestPackedOutlivesBlock unpacks a verdict kept in the store, drops it,
// fills its block with another, and wants the Flow unpacked first
// unchanged: a note and a decisive name outside the tables are stored
// inline, and the unpacked Flow must not point into the block.
func TestPackedOutlivesBlock(t *testing.T) {
	m := &mappings{}
	defer m.release()
	s := pkStore{m: m}
	var d textDict
	f := &Flow{ID: 1, Verdict: "The client reset.", Events: []Event{{Notes: []string{"a note of no table"}}},
		Decisive: map[string]FrameRef{"a name of no table": {Frame: 3}}}
	ref := s.put(0, packFlow(nil, f, &d))
	got := withCore(f)
	unpackFlow(s.get(ref), got, nil, &d)
	s.drop(ref)
	g := &Flow{ID: 2, Verdict: "The server reset.", Events: []Event{{Notes: []string{"x note of no table"}}},
		Decisive: map[string]FrameRef{"x name of no table": {Frame: 4}}}
	if ref2 := s.put(0, packFlow(nil, g, &d)); ref2 != ref {
		t.Fatalf("the second verdict went to ref %#x, not the first's %#x: the test does not test", ref2, ref)
	}
	if got.Events[0].Notes[0] != "a note of no table" {
		t.Errorf("note %q after its block was reused", got.Events[0].Notes[0])
	}
	if _, ok := got.Decisive["a name of no table"]; !ok {
		t.Errorf("decisive names %v after the block was reused", got.Decisive)
	}
}

// TestPackedVerdictsGivenBack closes enough flows with a side in TIME_WAIT,
// every one wanted in full, to fill several chunks of packed verdicts: once
// settled each waits with its verdict packed in the store, and once the
// TIME_WAIT has passed and it is emitted its block is given back, so that
// at most one spare chunk per size class stays mapped.
func TestPackedVerdictsGivenBack(t *testing.T) {
	const n = 3000
	var got []*Flow
	a := New(Config{}, func(f *Flow) { got = append(got, f) })
	defer a.Close()
	fourWay := with(handshake, clientCloses)
	start := int64(1e18)
	var ss []reassembly.Segment
	for i := range n {
		ss = append(ss, segs(uint16(20000+i), start+int64(i)*1e6, fourWay)...)
	}
	slices.SortStableFunc(ss, func(x, y reassembly.Segment) int { return cmp.Compare(x.At, y.At) })
	for i := range ss {
		ss[i].Frame = int64(i + 1)
		a.Add(&ss[i])
	}
	end := ss[len(ss)-1].At
	a.Advance(end + 10e9) // settled, TIME_WAIT not yet passed
	if len(got) != 0 || a.pks.inUse() != n {
		t.Fatalf("settled: %d flows emitted, %d verdicts packed; want 0 and %d", len(got), a.pks.inUse(), n)
	}
	packedBytes := a.mem.bytes
	a.Advance(end + 100e9)
	if len(got) != n {
		t.Fatalf("%d flows emitted, want %d", len(got), n)
	}
	for _, f := range got {
		if f.Class != ClassFourWay || f.Verdict == "" || len(f.Events) == 0 {
			t.Fatalf("flow %d: %v, verdict %q, %d events", f.ID, f.Class, f.Verdict, len(f.Events))
		}
	}
	if u := a.pks.inUse(); u != 0 {
		t.Errorf("%d packed verdicts not given back", u)
	}
	for k, p := range a.pks.pools {
		if p == nil {
			continue
		}
		if c := p.(interface{ mappedChunks() int }).mappedChunks(); c > 1 {
			t.Errorf("class %d (%d bytes): %d chunks still mapped, want at most a spare one", k, pkClasses[k].size, c)
		}
	}
	t.Logf("%d bytes mapped with the verdicts packed, %d after", packedBytes, a.mem.bytes)
}

// mappedChunks returns how many chunks p has mapped.
func (p *pool[T]) mappedChunks() int {
	n := 0
	for _, ch := range p.chunks {
		if ch.vals != nil {
			n++
		}
	}
	return n
}

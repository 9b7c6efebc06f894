package analyzer

import (
	"bytes"
	"math/rand/v2"
	"testing"
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
	got := unpackFlow(s.get(ref), nil, &d)
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

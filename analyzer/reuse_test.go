package analyzer

import (
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"teardown/capture"
	"teardown/reassembly"
)

// deepCopy returns a copy of f that shares nothing with it.
func deepCopy(f *Flow) *Flow {
	c := *f
	if f.Events != nil {
		c.Events = slices.Clone(f.Events)
		for i := range c.Events {
			if n := c.Events[i].Notes; n != nil {
				c.Events[i].Notes = slices.Clone(n)
			}
		}
	}
	if f.Decisive != nil {
		c.Decisive = maps.Clone(f.Decisive)
	}
	if f.Reset != nil {
		r := *f.Reset
		c.Reset = &r
	}
	if f.LateDuplicate != nil {
		ld := *f.LateDuplicate
		if ld.AnswerFrame != nil {
			a := *ld.AnswerFrame
			ld.AnswerFrame = &a
		}
		c.LateDuplicate = &ld
	}
	return &c
}

// TestReuseMatchesFresh feeds every lab capture, one after the other two
// minutes apart (so that the flows of one settle and wait out TIME_WAIT
// while the next is read: every way a Flow is made is taken), to an
// analyzer that makes each Flow afresh and to one that reuses them, and
// wants the same flows from both: nothing of one flow may leak into the
// next through the reused memory.
func TestReuseMatchesFresh(t *testing.T) {
	paths, err := filepath.Glob("../testdata/pcaps/*.pcap*")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no lab captures: %v", err)
	}
	var ss []reassembly.Segment
	var shift int64
	for i, p := range paths {
		r, err := capture.Open([]string{p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var s reassembly.Segment
		var first, last int64
		for r.Next(&s) {
			if first == 0 {
				first = s.At
			}
			last = s.At
			s.File = i
			s.At += shift - first
			ss = append(ss, s)
		}
		r.Close()
		shift += last - first + int64(2*time.Minute)
	}

	analyse := func(reuse bool) (flows []*Flow, early int, ptrs map[*Flow]bool) {
		ptrs = map[*Flow]bool{}
		a := New(Config{Reuse: reuse, Detail: func(f *Flow) bool { return f.ID%5 != 0 }}, func(f *Flow) {
			ptrs[f] = true
			flows = append(flows, deepCopy(f))
		})
		for i := range ss {
			a.Add(&ss[i])
		}
		early = len(flows)
		a.Close()
		return flows, early, ptrs
	}
	fresh, early, _ := analyse(false)
	reused, _, ptrs := analyse(true)
	if early < len(fresh)/2 {
		t.Errorf("only %d of %d flows were emitted before Close: the settle and TIME_WAIT paths are not covered", early, len(fresh))
	}
	if len(ptrs) > 2 {
		t.Errorf("Reuse: emit got %d distinct Flows, want at most 2", len(ptrs))
	}
	if len(reused) != len(fresh) {
		t.Fatalf("Reuse: %d flows, fresh: %d", len(reused), len(fresh))
	}
	for i := range fresh {
		if !reflect.DeepEqual(reused[i], fresh[i]) {
			t.Errorf("flow %d differs with Reuse:\n got %+v\nwant %+v", fresh[i].ID, reused[i], fresh[i])
		}
	}
}

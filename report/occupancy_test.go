package report

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// emitted is a span as the findings see it: when the analyzer emits its
// flow and the flow's last segment.
type emitted struct {
	interval
	last, at int64
}

// emittedSpans makes n spans over span ns of time, as the analyzer would
// emit the flows they come from: a span ends at or after its flow's last
// segment (TIME_WAIT holds a port for tw more), and the flow comes out
// less than tw+emitSlack after its last segment. long is the share of
// connections that last from one to twenty minutes. They come in the
// order they are emitted.
func emittedSpans(r *rand.Rand, n int, span, tw int64, long float64) []emitted {
	out := make([]emitted, n)
	for i := range out {
		e := &out[i]
		e.start = r.Int64N(span)
		dur := r.Int64N(3 * s)
		if r.Float64() < long {
			dur = 60*s + r.Int64N(1140*s)
		}
		e.last = e.start + dur
		e.end = e.last
		if r.IntN(3) > 0 {
			e.end += tw - r.Int64N(ms) // TIME_WAIT
		}
		e.at = e.last + r.Int64N(tw+emitSlack)
	}
	slices.SortFunc(out, func(a, b emitted) int { return cmp.Compare(a.at, b.at) })
	return out
}

// feed adds the spans to o with the horizon the findings give, and
// returns how many came after the sweep had passed their start. eager
// sweeps after every span, as far as the horizon allows, rather than in
// batches.
func feed(o *occupancy, spans []emitted, tw int64, eager bool) (late int) {
	var lastAt int64
	for _, e := range spans {
		lastAt = max(lastAt, e.last)
		if o.swept && e.start < o.done {
			late++
		}
		o.add(e.start, e.end, lastAt-tw-emitSlack)
		if eager {
			o.sweep(lastAt - tw - emitSlack)
		}
	}
	return late
}

func peakOfSpans(spans []interval) (int, int64) {
	var starts, ends []int64
	for _, x := range spans {
		starts, ends = append(starts, x.start), append(ends, x.end)
	}
	return peakOf(starts, ends)
}

// TestOccupancyExact checks that an occupancy finds what peakOf finds from
// every span, when the spans come as the analyzer emits them, connections
// that outlast the lag included: always when none comes late, and when
// some do, as long as the staircase was not compacted.
func TestOccupancyExact(t *testing.T) {
	tw := 60 * s
	for _, tc := range []struct {
		name  string
		n     int
		span  int64
		long  float64
		eager bool
	}{
		{"short", 20000, 3600 * s, 0, false},
		{"busy", 50000, 600 * s, 0, false},
		{"long-lived", 20000, 3600 * s, 0.02, false},
		{"long-lived-eager", 3000, 3600 * s, 0.05, true},
		{"mostly-long-eager", 800, 3600 * s, 0.5, true},
		{"few", 100, 3600 * s, 0.1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tested := 0 // seeds with late spans and no compaction
			for seed := range uint64(5) {
				r := rand.New(rand.NewPCG(seed, 1))
				spans := emittedSpans(r, tc.n, tc.span, tw, tc.long)
				var o occupancy
				late := feed(&o, spans, tw, tc.eager)
				gotN, gotAt := o.result()
				if late > 0 && o.joins > 0 {
					continue // may differ: see occupancy
				}
				if late > 0 {
					tested++
				}
				all := make([]interval, len(spans))
				for i, e := range spans {
					all[i] = e.interval
				}
				wantN, wantAt := peakOfSpans(all)
				if gotN != wantN || gotAt != wantAt {
					t.Errorf("seed %d (%d late spans, %d compactions): got %d at %d, want %d at %d", seed, late, o.joins, gotN, gotAt, wantN, wantAt)
				}
			}
			if tc.long > 0 && tested == 0 {
				t.Error("no seed had late spans and no compaction: the case does not test the staircase")
			}
		})
	}
}

// TestOccupancyNeverEnds checks that spans that end after the last start,
// given to the occupancy as never ending (math.MaxInt64, as the findings
// do once they know the capture's last timestamp), give peakOf's answer
// from their true ends, and that the occupancy keeps none of those ends.
func TestOccupancyNeverEnds(t *testing.T) {
	tw := 60 * s
	for _, eager := range []bool{false, true} {
		for seed := range uint64(5) {
			r := rand.New(rand.NewPCG(seed, 2))
			spans := emittedSpans(r, 5000, 600*s, tw, 0.05)
			var last int64
			all := make([]interval, len(spans))
			for i, e := range spans {
				last = max(last, e.start)
				all[i] = e.interval
			}
			never := 0
			for i := range spans {
				if spans[i].end > last {
					spans[i].end = math.MaxInt64
					never++
				}
			}
			if never < 100 {
				t.Fatalf("seed %d: %d spans end after the last start: the test does not test", seed, never)
			}
			var o occupancy
			late := feed(&o, spans, tw, eager)
			kept := 0
			for _, e := range append(o.ends.all(), o.late...) {
				if e == math.MaxInt64 {
					kept++
				}
			}
			gotN, gotAt := o.result()
			if late > 0 && o.joins > 0 {
				continue // may differ: see occupancy
			}
			wantN, wantAt := peakOfSpans(all)
			if gotN != wantN || gotAt != wantAt || kept > 0 {
				t.Errorf("eager %v, seed %d (%d never ending, %d late): got %d at %d with %d never-ending ends kept, want %d at %d and none",
					eager, seed, never, late, gotN, gotAt, kept, wantN, wantAt)
			}
		}
	}
}

// TestOccupancySmall covers the edges: nothing, empty spans, one span,
// spans that touch, equal starts and ends.
func TestOccupancySmall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spans []interval
	}{
		{"none", nil},
		{"empty", []interval{{5, 5}, {7, 3}}},
		{"one", []interval{{5, 9}}},
		{"touch", []interval{{1, 5}, {5, 9}, {9, 12}}},
		{"same", []interval{{1, 5}, {1, 5}, {1, 5}, {5, 6}}},
		{"nested", []interval{{1, 100}, {2, 3}, {4, 50}, {10, 20}, {15, 16}}},
		{"empty-at-peak", []interval{{1, 10}, {2, 10}, {5, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o occupancy
			for _, x := range tc.spans {
				o.add(x.start, x.end, 0)
			}
			gotN, gotAt := o.result()
			wantN, wantAt := peakOfSpans(tc.spans)
			if gotN != wantN || gotAt != wantAt {
				t.Errorf("got %d at %d, want %d at %d", gotN, gotAt, wantN, wantAt)
			}
		})
	}
}

// TestOccupancyLate checks spans that come after the sweep passed their
// start, one by one, against peakOf: those open at the horizon exactly,
// and one that ended before it as open up to it.
func TestOccupancyLate(t *testing.T) {
	// Counts: 1 over [0,10), 2 over [10,20), 1 over [20,30) and [40,50),
	// 2 over [50,60), swept to 100.
	base := []interval{{0, 20}, {10, 30}, {40, 60}, {50, 60}}
	for _, tc := range []struct {
		name string
		late interval
		want interval // how it counts
	}{
		{"before all", interval{-5, 200}, interval{-5, 200}},
		{"in the first peak", interval{15, 200}, interval{15, 200}},
		{"between the peaks", interval{35, 200}, interval{35, 200}},
		{"in the second peak", interval{55, 200}, interval{55, 200}},
		{"after the last", interval{70, 200}, interval{70, 200}},
		{"at a start", interval{10, 200}, interval{10, 200}},
		{"at an end", interval{20, 200}, interval{20, 200}},
		{"ended before the horizon", interval{12, 18}, interval{12, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o occupancy
			for _, x := range base {
				o.add(x.start, x.end, 0)
			}
			o.sweep(100)
			o.add(tc.late.start, tc.late.end, 100)
			gotN, gotAt := o.result()
			wantN, wantAt := peakOfSpans(append(slices.Clone(base), tc.want))
			if gotN != wantN || gotAt != wantAt {
				t.Errorf("got %d at %d, want %d at %d", gotN, gotAt, wantN, wantAt)
			}
		})
	}
}

// TestOccupancyCompacted checks what a staircase that had to forget
// counts still promises: the peak it gives was the count at the time it
// gives (of the spans as counted: a late one that ended before the
// horizon as open up to it), and it is not above peakOf's.
func TestOccupancyCompacted(t *testing.T) {
	tw := 60 * s
	joined := 0
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 2))
		// A burst that rises to a peak and falls over half an hour, so
		// that the staircase holds a step per count on the way down, then
		// connections that outlast the lag, reported after it forgot them.
		spans := make([]emitted, 30000)
		for i := range spans {
			e := &spans[i]
			e.start = int64(float64(1800*s) * r.Float64() * r.Float64())
			e.last = e.start + r.Int64N(300*s)
			if i%50 == 0 {
				e.start = 600*s + r.Int64N(1800*s)
				e.last = 3600*s + r.Int64N(1200*s)
			}
			e.end = e.last
			e.at = e.last + r.Int64N(tw+emitSlack)
		}
		slices.SortFunc(spans, func(a, b emitted) int { return cmp.Compare(a.at, b.at) })
		var o occupancy
		var lastAt int64
		counted := make([]interval, 0, len(spans))
		for _, e := range spans {
			lastAt = max(lastAt, e.last)
			x := e.interval
			if o.swept && x.start < o.done {
				x.end = max(x.end, o.done)
			}
			counted = append(counted, x)
			o.add(e.start, e.end, lastAt-tw-emitSlack)
			o.sweep(lastAt - tw - emitSlack)
		}
		n, at := o.result()
		joined += o.joins
		wantN, _ := peakOfSpans(counted)
		countAt := 0
		for _, x := range counted {
			if x.start <= at && at < x.end {
				countAt++
			}
		}
		if n > wantN || countAt != n {
			t.Errorf("seed %d (%d compactions): got %d at %d, where %d were open; peakOf %d", seed, o.joins, n, at, countAt, wantN)
		}
	}
	if joined == 0 {
		t.Error("no staircase forgot a count: the case does not test it")
	}
}

// TestMergeRuns merges two sorted runs of random lengths, with many equal
// values, and wants the sorted whole.
func TestMergeRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 2000 {
		k, n := r.IntN(40), r.IntN(40)
		s := make([]int64, k+n)
		for i := range s {
			s[i] = r.Int64N(20)
		}
		slices.Sort(s[:k])
		slices.Sort(s[k:])
		want := slices.Sorted(slices.Values(s))
		mergeRuns(s, k, cmp.Compare[int64])
		if !slices.Equal(s, want) {
			t.Fatalf("runs of %d and %d: got %v, want %v", k, n, s, want)
		}
	}
}

// all returns the elements of l.
func (l endList) all() []int64 {
	var out []int64
	for ; l.n > 0; l.pop() {
		out = append(out, l.head)
	}
	return out
}

// TestEndList pushes times in order, some far apart, negative, or at the
// ends of int64, pops some, compacts the list or not, merges the rest with
// more, and compares with a sorted slice at each step.
func TestEndList(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for round := range 200 {
		var l endList
		var want []int64
		v := r.Int64N(1<<40) - 1<<39
		switch round % 4 {
		case 1:
			v = math.MinInt64
		case 2:
			v = math.MaxInt64 - 1<<20
		}
		for range r.IntN(300) {
			next := v
			switch r.IntN(8) {
			case 0: // the same time again
			case 1:
				next += r.Int64N(1 << 50) // far apart
			default:
				next += r.Int64N(1 << 20)
			}
			if next < v {
				break // past MaxInt64
			}
			v = next
			l.push(v)
			want = append(want, v)
		}
		drop := r.IntN(len(want) + 1)
		for range drop {
			l.pop()
		}
		want = want[drop:]
		if round%2 == 0 {
			l.compact()
		}
		if got := l.all(); !slices.Equal(got, want) || l.n != len(want) {
			t.Fatalf("round %d: after %d pops got %v (n %d), want %v", round, drop, got, l.n, want)
		}
		more := make([]int64, r.IntN(100))
		for i := range more {
			more[i] = r.Int64()
			if r.IntN(2) == 0 && len(want) > 0 {
				more[i] = want[r.IntN(len(want))]
			}
		}
		slices.Sort(more)
		m := mergeEnds(&l, more)
		want = append(want, more...)
		slices.Sort(want)
		if got := m.all(); !slices.Equal(got, want) || m.n != len(want) {
			t.Fatalf("round %d: merged got %v, want %v", round, got, want)
		}
		if l.n != 0 {
			t.Fatalf("round %d: the merged list still has %d", round, l.n)
		}
	}
}

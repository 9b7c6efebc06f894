package report

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"time"
)

// emitSlack is how long after its TIME_WAIT the analyzer may still hold a
// flow, beyond the TIME_WAIT length itself: a flow without TIME_WAIT
// waits out a settle window of up to 5 s after its last segment, and
// flows come out when the next segment moves the clock.
const emitSlack = int64(10 * time.Second)

// sweepSlack is how many spans past twice those it kept at the last sweep
// an occupancy holds before it sweeps again: a few, so that an address or
// endpoint with few connections holds few spans.
const sweepSlack = 64

// maxSteps is how many steps an occupancy's staircase holds before spans
// come late (see there).
const maxSteps = 256

// occupancy finds the largest number of spans [start, end) that overlap,
// and the first time it is reached, as peakOf does, while the spans come
// in the order the analyzer emits their flows. It keeps what the answer
// can still depend on, not every span.
//
// The analyzer emits a flow at most a TIME_WAIT length and emitSlack
// after its last segment (but for the flows still open at the end of the
// capture, and those it evicts: see below), and a span ends at or after
// its flow's last segment; so the caller can give, with each span, a
// horizon before which no span still to come ends: the latest last
// segment seen, less the TIME_WAIT length and emitSlack. The sweep counts the spans in time order
// up to the horizon, in batches, and keeps the spans not reached yet, the
// ends of the swept spans still open, and a staircase: the stretches of
// time before the horizon at which the count was never exceeded later,
// one step per stretch. Only those can still hold the peak. A span that
// comes after the sweep passed its start (a connection that lasted longer
// than the lag) is open at the horizon, so it adds one to the count from
// its start on: to every step from there, and the steps before it that it
// overtakes go.
//
// This gives peakOf's answer, except:
//   - A span that ends before the horizon when it comes (a flow still open
//     at the end of the capture, or evicted after an idle timeout, that had
//     been idle for longer than the lag) counts as open up to the horizon:
//     the connection had not closed.
//   - The staircase holds maxSteps steps, and, once spans have come late,
//     one more per late span, up to the peak count (the steps of a count
//     that fell from its peak are as many as the levels it fell through).
//     Past that, it joins neighbouring steps at the same count (the count
//     may have been lower in between), keeping the first time and the last
//     start of each; if that is not enough, it forgets the lowest counts
//     but the current one. A late span that then starts inside joined steps
//     moves the peak's time to their last start, a time at which the count
//     was the peak, though maybe not the first; late spans that start where
//     counts were forgotten can make the peak lower than peakOf's. Both take
//     spans that come late after a staircase outgrew that: a load that fell
//     far from its peak, or hovered at it for hundreds of changes, with no
//     late span before.
//
// The memory is the spans that start after the horizon (up to twice as
// many, and sweepSlack, as it sweeps in batches), the ends of the spans
// open at the horizon, and a staircase of at most twice maxSteps and the
// peak count: bounded by the connections open at once, not by the
// connections in the capture.
type occupancy struct {
	pend  []interval // spans that start at or after done: pend[:kept] by start, the rest in no order
	kept  int        // len(pend) after the last sweep
	ends  endList    // the ends of the spans swept and open at done, in order
	late  []int64    // the ends of the late spans since the last sweep, in no order
	cur   int        // the spans open at done: ends.n, len(late) and those that never end
	steps []step     // the staircase, in time order, the count never rising
	done  int64      // the events before done are swept
	swept bool
	lates int // late spans seen
	room  int // len(steps) at which to compact the staircase
	joins int // compactions that joined or forgot steps

	// The last sweep (see result) keeps only the peak.
	final bool
	peak  int
	at    int64
}

// step is a stretch of the staircase: from from to to, the count was at
// its level, and never exceeded it later. Its count is the count of the
// next step plus that step's d, and the last step's is the count at the
// horizon, cur. A step joined from several (see occupancy) may have been
// lower between from and last.
type step struct {
	from int64 // the first time at this count: peakOf's time if it is the peak
	last int64 // from, or the last start of the stretches joined into it
	to   int64 // when the count fell below it; math.MaxInt64 for the current step
	d    int   // how much higher the step before is; 0 for the first
}

// add records the span [start, end). No span still to come may end before
// horizon, which only moves forward. A span that ends at math.MaxInt64
// never ends: it is counted but its end is not kept, as no sweep reaches
// it (see findings.endOf, which gives it to the spans that end after the
// last start).
func (o *occupancy) add(start, end, horizon int64) {
	if end <= start {
		return // open at no time: it changes no count
	}
	if o.swept && start < o.done {
		// The sweep passed its start: raise the count from there on, and
		// count it as open from the horizon.
		o.raise(start)
		if end != math.MaxInt64 {
			o.late = append(o.late, max(end, o.done))
		}
		o.cur++
		o.lates++
		return
	}
	o.pend = append(o.pend, interval{start, end})
	if len(o.pend) > 2*o.kept+sweepSlack {
		o.sweep(horizon)
	}
}

func byStart(a, b interval) int { return cmp.Compare(a.start, b.start) }

// sweep counts the spans up to upTo, the events before it, in time order:
// at each time, the ends before the starts.
func (o *occupancy) sweep(upTo int64) {
	o.begin()
	if upTo <= o.done {
		return
	}
	fresh := o.pend[o.kept:]
	if !slices.IsSortedFunc(fresh, byStart) {
		slices.SortFunc(fresh, byStart)
	}
	if o.kept > 0 && len(fresh) > 0 && fresh[0].start < o.pend[o.kept-1].start {
		mergeRuns(o.pend, o.kept, byStart)
	}
	n, _ := slices.BinarySearchFunc(o.pend, upTo, func(x interval, t int64) int { return cmp.Compare(x.start, t) })
	starts := o.pend[:n]

	// The ends to come: of the spans open at done (a, in order), and of
	// the late spans and the spans started now (b).
	b := append(make([]int64, 0, len(o.late)+len(starts)), o.late...)
	for _, x := range starts {
		if x.end != math.MaxInt64 {
			b = append(b, x.end)
		}
	}
	if !slices.IsSorted(b) {
		slices.Sort(b)
	}
	a := &o.ends
	for i := 0; i < len(starts); {
		t := starts[i].start
		b = o.endThrough(a, b, t)
		before := o.cur
		for ; i < len(starts) && starts[i].start == t; i++ {
			o.cur++
		}
		o.rise(t, before)
	}
	b = o.endThrough(a, b, upTo-1)
	o.done = upTo
	o.late = nil
	if o.final {
		o.ends, o.pend = endList{}, nil
		return
	}
	switch {
	case len(b) == 0:
	case a.n == 0 || b[0] >= a.last:
		// Connections of about the same length end in the order they
		// started: the new ends mostly come after the others.
		for _, v := range b {
			a.push(v)
		}
	default:
		o.ends = mergeEnds(a, b)
	}
	o.ends.compact()
	o.pend = o.pend[:copy(o.pend, o.pend[n:])]
	o.kept = len(o.pend)
	// A burst does not keep its memory: an array more than twice what the
	// spans until the next sweep need goes.
	if need := 2*o.kept + sweepSlack + 1; cap(o.pend) > 2*need {
		o.pend = append(make([]interval, 0, need), o.pend...)
	}
}

// begin sets up the sweep: nothing swept, a staircase of one step at 0.
func (o *occupancy) begin() {
	if !o.swept {
		o.swept, o.done = true, math.MinInt64
		o.steps = append(o.steps, step{from: math.MinInt64, last: math.MinInt64, to: math.MaxInt64})
	}
}

// endThrough counts the ends in a and b, both in order, at or before t,
// and returns what is left of b (a loses them itself).
func (o *occupancy) endThrough(a *endList, b []int64, t int64) []int64 {
	for {
		var u int64
		switch {
		case a.n > 0 && (len(b) == 0 || a.head <= b[0]):
			u = a.head
		case len(b) > 0:
			u = b[0]
		default:
			return b
		}
		if u > t {
			return b
		}
		k := 0
		for ; a.n > 0 && a.head == u; a.pop() {
			k++
		}
		for ; len(b) > 0 && b[0] == u; b = b[1:] {
			k++
		}
		// The current step ends at u; the count is k lower from u on.
		o.cur -= k
		if o.final {
			continue
		}
		o.steps[len(o.steps)-1].to = u
		o.push(step{from: u, last: u, to: math.MaxInt64, d: k})
	}
}

// rise moves the count from before to cur at t, a start: the steps it
// exceeds go, and a step at the new count begins, or goes on if the count
// fell from it only at t.
func (o *occupancy) rise(t int64, before int) {
	if o.final {
		if o.cur > o.peak {
			o.peak, o.at = o.cur, t
		}
		return
	}
	c, v := o.cur, before // v: the count of the last step
	for len(o.steps) > 0 && v < c {
		v += o.steps[len(o.steps)-1].d
		o.steps = o.steps[:len(o.steps)-1]
	}
	n := len(o.steps)
	switch {
	case n == 0:
		o.push(step{from: t, last: t, to: math.MaxInt64})
	case v == c && o.steps[n-1].to == t:
		o.steps[n-1].to = math.MaxInt64
	default:
		o.push(step{from: t, last: t, to: math.MaxInt64, d: v - c})
	}
}

// raise adds one to the count from s to the horizon, for a span that
// starts at s, before the horizon, and is open at it.
func (o *occupancy) raise(s int64) {
	// The first step that lasts past s; the current one at least.
	j, _ := slices.BinarySearchFunc(o.steps, s, func(st step, s int64) int {
		if st.to <= s {
			return -1
		}
		return 1
	})
	st := &o.steps[j]
	if s > st.from {
		// Its times before s are now below those after: the step begins at
		// s, where the count was at its level, unless s falls before the
		// last start of joined stretches, where it may have been lower.
		if s >= st.last {
			st.from, st.last = s, s
		} else {
			st.from = st.last
		}
	}
	if j == 0 {
		return
	}
	// The steps before j that were as high as it was are now below it,
	// and earlier: they go.
	d, i := st.d-1, j
	for d < 0 {
		i--
		if i == 0 {
			d = 0
			break
		}
		d += o.steps[i].d
	}
	st.d = d
	o.steps = slices.Delete(o.steps, i, j)
}

// push appends st to the staircase, compacting it first when it is full.
func (o *occupancy) push(st step) {
	switch n := len(o.steps); {
	case n >= max(o.room, 2*maxSteps):
		o.compact()
	case n == cap(o.steps):
		o.steps = append(make([]step, 0, min(max(2*n, 4), max(o.room, 2*maxSteps))), o.steps...)
	}
	o.steps = append(o.steps, st)
}

// compact shortens the staircase to what it may allow: maxSteps steps,
// and, once spans have come late, one more per late span up to the peak
// count, as a late span adds one to the counts after its start and the
// steps of a count that fell from its peak are as many as the levels it
// fell through. It joins the neighbouring steps at the same count first,
// then forgets the lowest counts but the last one.
func (o *occupancy) compact() {
	peak := o.cur
	for _, st := range o.steps[1:] {
		peak += st.d
	}
	allow := maxSteps + min(o.lates, peak)
	out := o.steps
	if len(out) > allow {
		o.joins++
		out = o.steps[:1]
		for _, st := range o.steps[1:] {
			if st.d == 0 {
				p := &out[len(out)-1]
				p.last, p.to = st.last, st.to
				continue
			}
			out = append(out, st)
		}
	}
	if len(out) > allow {
		cur := out[len(out)-1]
		for _, st := range out[allow-1 : len(out)-1] {
			cur.d += st.d
		}
		out = append(out[:allow-1], cur)
	}
	clear(o.steps[len(out):])
	o.steps = out
	o.room = 2 * len(out)
	if cap(o.steps) > 2*o.room {
		o.steps = append(make([]step, 0, o.room), o.steps...)
	}
}

// result sweeps what is left and returns the peak and the first time it
// is reached, 0 and 0 if no span was ever open. It adds nothing after.
func (o *occupancy) result() (n int, at int64) {
	if !o.final {
		o.begin()
		o.peak, o.at = o.cur, o.steps[0].from
		for _, st := range o.steps[1:] {
			o.peak += st.d
		}
		o.final, o.steps = true, nil
		o.sweep(math.MaxInt64)
	}
	if o.peak == 0 {
		return 0, 0
	}
	return o.peak, o.at
}

// held returns how many spans, ends and steps o holds.
func (o *occupancy) held() int { return len(o.pend) + o.ends.n + len(o.late) + len(o.steps) }

// mergeRuns sorts s, whose s[:k] and s[k:] are each in the order of cmp,
// in place but for a copy of s[:k].
func mergeRuns[T any](s []T, k int, cmp func(T, T) int) {
	a, b := slices.Clone(s[:k]), s[k:]
	w := 0 // w = i + j is behind b's next element, s[k+j]: s[w:] is free to write
	for len(a) > 0 && len(b) > 0 {
		if cmp(b[0], a[0]) < 0 {
			s[w] = b[0]
			b = b[1:]
		} else {
			s[w] = a[0]
			a = a[1:]
		}
		w++
	}
	copy(s[w:], a) // what is left of b is in place
}

// mergeEnds returns, in a new list and in order, the ends of a and of b,
// each in order already.
func mergeEnds(a *endList, b []int64) endList {
	out := endList{b: make([]byte, 0, len(a.b)-a.off+3*len(b)+8)}
	for a.n > 0 && len(b) > 0 {
		if b[0] < a.head {
			out.push(b[0])
			b = b[1:]
		} else {
			out.push(a.head)
			a.pop()
		}
	}
	for ; a.n > 0; a.pop() {
		out.push(a.head)
	}
	for _, v := range b {
		out.push(v)
	}
	return out
}

// endList is a list of times in order, kept as the differences between
// them, in varints: the ends of the spans open at the sweep, which are a
// TIME_WAIT length of connections, take two to four bytes each instead of
// eight.
type endList struct {
	b    []byte // b[off:]: the uvarint difference of each element but the first from the one before it
	off  int
	n    int   // elements
	head int64 // the first element, when n > 0
	last int64 // the last element, when n > 0
}

// push appends v, which is no less than the last element.
func (l *endList) push(v int64) {
	if l.n == 0 {
		l.b, l.off, l.head = l.b[:0], 0, v
	} else {
		// v >= last: the difference fits in a uint64 even across 0.
		l.b = binary.AppendUvarint(l.b, uint64(v)-uint64(l.last))
	}
	l.last = v
	l.n++
}

// compact drops the bytes of the elements popped once they are more than
// half the list's, and gives the list a smaller array when it uses less
// than a quarter of a large one.
func (l *endList) compact() {
	if l.off <= len(l.b)/2 {
		return
	}
	rest := l.b[l.off:]
	if cap(l.b) > 4096 && len(rest) < cap(l.b)/4 {
		l.b = append(make([]byte, 0, 2*len(rest)), rest...)
	} else {
		l.b = l.b[:copy(l.b, rest)]
	}
	l.off = 0
}

// pop drops the first element.
func (l *endList) pop() {
	l.n--
	if l.n == 0 {
		l.b, l.off = l.b[:0], 0
		return
	}
	d, k := binary.Uvarint(l.b[l.off:])
	l.head = int64(uint64(l.head) + d)
	l.off += k
}

// shrink gives s a smaller array when it uses less than a quarter of a
// large one, so that a burst does not keep its memory.
func shrink[T any](s []T) []T {
	if cap(s) > 1024 && len(s) < cap(s)/4 {
		return append(make([]T, 0, 2*len(s)), s...)
	}
	return s
}

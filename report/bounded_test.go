package report

import (
	"bytes"
	"cmp"
	"container/heap"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"teardown/analyzer"
	"teardown/capture"
)

// due is a flow waiting to be emitted.
type due struct {
	at int64 // when the analyzer emits it
	f  *analyzer.Flow
}

type dueHeap []due

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	return cmp.Or(cmp.Compare(h[i].at, h[j].at), cmp.Compare(h[i].f.ID, h[j].f.ID)) < 0
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(due)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// stream makes n flows, one every 250 ms on average, between 8 client
// addresses and 4 servers with 2 ports each, and passes them to emit in
// the order the analyzer emits them, without keeping them: most close
// with a side in TIME_WAIT, some are reset, one in fifty lasts 10 to 30
// minutes, and those still in TIME_WAIT or open at the end come last, in
// id order. However many flows there are, a few hundred are open at once;
// open reports that number as it changes.
func stream(n int, seed uint64, emit func(*analyzer.Flow), open func(int)) {
	r := rand.New(rand.NewPCG(seed, 3))
	tw := int64(60 * s)
	var pending dueHeap
	var now, last int64 = base, base
	flush := func(upTo int64) {
		for len(pending) > 0 && pending[0].at <= upTo {
			emit(heap.Pop(&pending).(due).f)
		}
	}
	for id := 1; id <= n; id++ {
		now += int64(r.ExpFloat64() * float64(250*ms))
		flush(now)
		open(len(pending) + 1)
		c, sv := ap("198.18.1.1:0"), ap("198.18.200.1:8000")
		c.Addr[15] += byte(r.IntN(8))
		c.Port = uint16(32768 + r.IntN(28232))
		sv.Addr[15] += byte(r.IntN(4))
		sv.Port += uint16(r.IntN(2))
		f := &analyzer.Flow{ID: id, Stream: id - 1, Incarnation: 1, Client: c, Server: sv, FirstAt: now}
		dur := r.Int64N(3 * s)
		if r.IntN(50) == 0 {
			dur = 600*s + r.Int64N(1200*s)
		}
		f.LastAt = now + dur
		last = max(last, f.LastAt)
		at := f.LastAt + 1500*ms
		switch k := r.IntN(10); {
		case k < 2:
			f.Class = analyzer.ClassRSTAbort
			f.Reset = &analyzer.ResetInfo{By: analyzer.Client, Cause: "linger-0 abort"}
		default:
			f.Class = analyzer.ClassFourWay
			side := analyzer.Side(k & 1)
			f.FinalState[side] = analyzer.StateTimeWait
			f.TimeWaitUntil[side] = f.LastAt + tw
			at = f.LastAt + tw + r.Int64N(50*ms)
		}
		heap.Push(&pending, due{at, f})
	}
	flush(last)
	rest := make([]*analyzer.Flow, 0, len(pending))
	for len(pending) > 0 {
		rest = append(rest, heap.Pop(&pending).(due).f)
	}
	for len(rest) > 0 { // what is left, at the end, in id order
		i := 0
		for j, f := range rest {
			if f.ID < rest[i].ID {
				i = j
			}
		}
		emit(rest[i])
		rest[i] = rest[len(rest)-1]
		rest = rest[:len(rest)-1]
	}
}

// held counts what w's summary and findings hold for the TIME_WAIT at the
// end and the peaks of TIME_WAIT and port occupancy: sides, spans, ends
// and steps.
func held(w *Writer) int {
	n := w.sum.twHeld + len(w.sum.stuck)
	for _, e := range w.sum.tw {
		n += len(e.sides)
	}
	for _, h := range w.find.tw {
		n += h.peak.held()
	}
	for _, p := range w.find.ports {
		n += p.occ.held()
	}
	for _, c := range w.find.clients {
		n += c.occ.held()
	}
	return n
}

// TestWriterMemoryBounded streams 50,000 and then 200,000 flows with the
// same few hundred open at once through a Writer, and checks that what
// the summary and the findings hold follows the flows open at once, not
// the flows seen: it was a 16-byte span per flow and a 40-byte entry per
// side in TIME_WAIT.
func TestWriterMemoryBounded(t *testing.T) {
	run := func(n int) (maxHeld, maxOpen int) {
		w := NewWriter(io.Discard, Text, Options{Filter: Filter{FlowID: -1}, TimeWait: 60e9})
		stream(n, 1, func(f *analyzer.Flow) {
			if err := w.WriteFlow(f); err != nil {
				t.Fatal(err)
			}
			if f.ID%64 == 0 {
				maxHeld = max(maxHeld, held(w))
			}
		}, func(open int) { maxOpen = max(maxOpen, open) })
		if err := w.Close([]capture.Input{{Name: "x.pcap"}}, analyzer.Stats{}); err != nil {
			t.Fatal(err)
		}
		return maxHeld, maxOpen
	}
	small, smallOpen := run(50000)
	big, bigOpen := run(200000)
	t.Logf("50,000 flows: at most %d open, %d held; 200,000 flows: at most %d open, %d held", smallOpen, small, bigOpen, big)
	if big > small*3/2 {
		t.Errorf("held %d for 200,000 flows, %d for 50,000: it grows with the flows", big, small)
	}
	// 48 occupancies (8 clients, 32 client and server pairs, 8 hosts in
	// TIME_WAIT) hold their slack and a staircase each; the rest is a few
	// items per flow open at once.
	if limit := 48*(sweepSlack+2*maxSteps) + 20*bigOpen; big > limit {
		t.Errorf("held %d for at most %d flows open at once, want at most %d", big, bigOpen, limit)
	}
}

// TestWriterInStartOrder emits flows between one client and one server,
// short ones reset or closed with TIME_WAIT, as the analyzer does, and
// those left at the end in the order they started, as Analyzer.Close does,
// to a Writer not told so, one told so (InStartOrder), and one told also
// the capture's last timestamp. The reports must be the same. The Writers
// told must not hold the spans of the flows emitted at the end, which are
// most of the flows of the last TIME_WAIT length, but sweep them as they
// come; the one told the last timestamp must not keep the ends after it.
func TestWriterInStartOrder(t *testing.T) {
	const n = 20000
	tw := int64(60 * s)
	const (
		notTold = iota
		told
		toldLast
	)
	// run returns the report, the spans pending and the ends kept after
	// the last flow, and the flows emitted at the end.
	run := func(mode int) (report string, pend, ends, rest int) {
		var out bytes.Buffer
		w := NewWriter(&out, Text, Options{TimeWait: time.Duration(tw)})
		r := rand.New(rand.NewPCG(7, 7))
		var pending dueHeap
		now, last := base, int64(0)
		for id := 1; id <= n; id++ {
			now += r.Int64N(20 * ms)
			f := &analyzer.Flow{ID: id, Stream: id - 1, Incarnation: 1, Client: ap("198.18.1.1:0"), Server: ap("198.18.200.1:8000"), FirstAt: now}
			f.Client.Port = uint16(32768 + id%28000)
			f.LastAt = now + r.Int64N(3*s)
			last = max(last, f.LastAt)
			if r.IntN(4) == 0 {
				f.Class = analyzer.ClassRSTAbort
				f.Reset = &analyzer.ResetInfo{By: analyzer.Client, Cause: "linger-0 abort"}
				heap.Push(&pending, due{f.LastAt + 1500*ms, f})
			} else {
				f.Class = analyzer.ClassFourWay
				side := analyzer.Side(r.IntN(2))
				f.FinalState[side] = analyzer.StateTimeWait
				f.TimeWaitUntil[side] = f.LastAt + tw
				heap.Push(&pending, due{f.LastAt + tw, f})
			}
			for len(pending) > 0 && pending[0].at <= now {
				if err := w.WriteFlow(heap.Pop(&pending).(due).f); err != nil {
					t.Fatal(err)
				}
			}
		}
		rest = len(pending)
		left := make([]*analyzer.Flow, 0, rest)
		for len(pending) > 0 {
			left = append(left, heap.Pop(&pending).(due).f)
		}
		slices.SortFunc(left, func(a, b *analyzer.Flow) int { return cmp.Compare(a.ID, b.ID) })
		switch mode {
		case told:
			w.InStartOrder(0)
		case toldLast:
			w.InStartOrder(last)
		}
		for _, f := range left {
			if err := w.WriteFlow(f); err != nil {
				t.Fatal(err)
			}
		}
		count := func(o *occupancy) {
			pend += len(o.pend)
			ends += o.ends.n + len(o.late)
		}
		for _, p := range w.find.ports {
			count(&p.occ)
		}
		for _, c := range w.find.clients {
			count(&c.occ)
		}
		for _, h := range w.find.tw {
			count(&h.peak)
		}
		if err := w.Close([]capture.Input{{Name: "x.pcap"}}, analyzer.Stats{}); err != nil {
			t.Fatal(err)
		}
		return out.String(), pend, ends, rest
	}
	want, pendNot, _, rest := run(notTold)
	got, pendTold, endsTold, _ := run(told)
	gotLast, pendLast, endsLast, _ := run(toldLast)
	if got != want {
		t.Errorf("told, the report is\n%s\nnot told, it is\n%s", got, want)
	}
	if gotLast != want {
		t.Errorf("told the last timestamp, the report is\n%s\nnot told, it is\n%s", gotLast, want)
	}
	if !strings.Contains(want, "at once") {
		t.Errorf("the report has no port peak to compare:\n%s", want)
	}
	t.Logf("%d flows emitted at the end; spans pending after them: %d told, %d not told; ends kept: %d told, %d told the last timestamp",
		rest, pendTold, pendNot, endsTold, endsLast)
	if pendNot < rest {
		t.Errorf("not told, %d spans pending after %d flows emitted at the end: the test does not test", pendNot, rest)
	}
	// Three occupancies (the pair, the client, the host holding TIME_WAIT)
	// sweep when their spans pending pass twice those kept and sweepSlack.
	for _, p := range []int{pendTold, pendLast} {
		if limit := 3 * (3*sweepSlack + 8); p > limit {
			t.Errorf("told, %d spans pending, want at most %d", p, limit)
		}
	}
	// Told the last timestamp, the occupancies keep the ends of the spans
	// pending and of the reset flows, which end before it; not the ends of
	// the TIME_WAITs that outlast the capture.
	if endsTold < 2*rest {
		t.Errorf("told, %d ends kept after %d flows emitted at the end: the test does not test", endsTold, rest)
	}
	if limit := rest/2 + 3*(3*sweepSlack+8); endsLast > limit {
		t.Errorf("told the last timestamp, %d ends kept, want at most %d", endsLast, limit)
	}
}

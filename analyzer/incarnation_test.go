package analyzer

import (
	"slices"
	"strings"
	"testing"

	"teardown/reassembly"
)

// shift moves a script's sequence numbers: client by dc, server by ds.
func shift(ss []reassembly.Segment, dc, ds uint32) []reassembly.Segment {
	for i := range ss {
		s := &ss[i]
		fromClient := s.SrcPort != 80
		if fromClient {
			s.Seq += reassembly.Seq(dc)
			s.Ack += reassembly.Seq(ds)
		} else {
			s.Seq += reassembly.Seq(ds)
			s.Ack += reassembly.Seq(dc)
		}
	}
	return ss
}

func TestLateDuplicate(t *testing.T) {
	// Incarnation 1: a four-way close, client first; then the client's data
	// segment of incarnation 1 (held back by a router) arrives after
	// incarnation 2, reusing the tuple within TIME_WAIT, is established.
	inc1 := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10, tsval: 100, tsecr: 1},
		{dir: "S>C", flags: ".", seq: 1, ack: 11},
		{dir: "C>S", flags: "F.", seq: 11, ack: 1},
		{dir: "S>C", flags: "F.", seq: 1, ack: 12},
		{dir: "C>S", flags: ".", seq: 12, ack: 2},
	}))
	old := inc1[3] // the data segment
	inc2 := shift(segs(40000, 1e18+int64(2e9), with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 5, tsval: 2100, tsecr: 1},
	})), 65537+12, 777777)
	inc2[0].HasTS, inc2[0].TSval = true, 2000
	old.At = inc2[len(inc2)-1].At + 1e6
	answer := inc2[len(inc2)-1]
	answer.Src, answer.SrcPort, answer.Dst, answer.DstPort = srvAddr, 80, cliAddr, 40000
	answer.Flags = reassembly.FlagACK
	answer.Seq, answer.Ack, answer.Len = inc2[1].Seq+1, inc2[len(inc2)-1].End(), 0
	answer.At = old.At + 1e5
	all := append(append(inc1, inc2...), old, answer)
	flows := run(t, all)
	if len(flows) != 2 {
		t.Fatalf("got %d flows, want 2", len(flows))
	}
	if f := flows[0]; f.Class != ClassFourWay || !f.Flags.Has(FlagOldSegment) || f.Incarnation != 1 {
		t.Errorf("incarnation 1: class %s flags %v inc %d, want four-way with old-segment, inc 1", f.Class, f.Flags.Strings(), f.Incarnation)
	}
	f := flows[1]
	if f.Class != ClassLateDuplicate || f.Incarnation != 2 {
		t.Fatalf("incarnation 2: class %s inc %d, want late-duplicate inc 2 (verdict %s)", f.Class, f.Incarnation, f.Verdict)
	}
	if !f.Flags.Has(FlagReuseInTimeWait) {
		t.Errorf("flags %v lack reuse-in-time-wait", f.Flags.Strings())
	}
	if f.LateDuplicate == nil || f.LateDuplicate.Frame.Frame != 13 || f.LateDuplicate.FromIncarnation != 1 ||
		f.LateDuplicate.AnswerFrame == nil || f.LateDuplicate.AnswerFrame.Frame != 14 {
		t.Errorf("late duplicate info %+v, want frame 13 from incarnation 1 answered at 14", f.LateDuplicate)
	}
	for _, want := range []string{"Frame 13", "incarnation 1", "duplicate ACK", "frame 14"} {
		if !strings.Contains(f.Verdict, want) {
			t.Errorf("verdict %q lacks %q", f.Verdict, want)
		}
	}
}

func TestRetransmittedSYNSameIncarnation(t *testing.T) {
	ss := segs(40000, 1e18, []step{
		{dir: "C>S", flags: "S", seq: 0},
		{dir: "C>S", flags: "S", seq: 0, gapMS: 1000},
		{dir: "S>C", flags: "S.", seq: 0, ack: 1},
		{dir: "C>S", flags: ".", seq: 1, ack: 1},
	})
	if flows := run(t, ss); len(flows) != 1 {
		t.Fatalf("got %d flows, want 1", len(flows))
	}
}

func TestTimeWaitExpiryEmitsEarly(t *testing.T) {
	var got []*Flow
	a := New(Config{}, func(f *Flow) { got = append(got, f) })
	ss := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "F.", seq: 1, ack: 1},
		{dir: "S>C", flags: "F.", seq: 1, ack: 2},
		{dir: "C>S", flags: ".", seq: 2, ack: 2},
	}))
	// An unrelated flow 61 s later pushes capture time past TIME_WAIT.
	later := segs(40001, 1e18+61e9, handshake[:1])
	for i := range ss {
		a.Add(&ss[i])
	}
	if len(got) != 0 {
		t.Fatalf("flow emitted before its TIME_WAIT passed")
	}
	a.Add(&later[0])
	if len(got) != 1 || got[0].Class != ClassFourWay {
		t.Fatalf("after TIME_WAIT: got %d flows, want the four-way one", len(got))
	}
	if s := a.Stats(); s.OpenFlows != 1 {
		t.Errorf("open flows = %d, want 1", s.OpenFlows)
	}
	a.Close()
	if len(got) != 2 {
		t.Errorf("after Close: %d flows, want 2", len(got))
	}
}

// Sequence numbers that wrap at 2^32 in the middle of the close compare
// with serial arithmetic.
func TestSequenceWrap(t *testing.T) {
	ss := shift(segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 100},
		{dir: "S>C", flags: ".", seq: 1, ack: 101},
		{dir: "C>S", flags: "F.", seq: 101, ack: 1},
		{dir: "S>C", flags: "F.", seq: 1, ack: 102},
		{dir: "S>C", flags: "F.", seq: 1, ack: 102, gapMS: 200},
		{dir: "C>S", flags: ".", seq: 102, ack: 2},
	})), 1<<32-1050, 1<<32-5001)
	flows := run(t, ss)
	if len(flows) != 1 {
		t.Fatalf("got %d flows, want 1", len(flows))
	}
	f := flows[0]
	if f.Class != ClassFINRetransmit || f.Bytes[Client] != 100 {
		t.Errorf("class %s, client bytes %d; want fin-retransmit and 100 (verdict %s)", f.Class, f.Bytes[Client], f.Verdict)
	}
	if f.FinalState[Client] != StateTimeWait || f.FinalState[Server] != StateClosed {
		t.Errorf("final states %s/%s, want TIME_WAIT/CLOSED", f.FinalState[Client], f.FinalState[Server])
	}
}

// A long flow keeps its handshake, the last data of each side before the
// close and the close itself, with the number of segments left out between.
func TestLongFlowTimeline(t *testing.T) {
	steps := append([]step(nil), handshake...)
	for i := uint32(0); i < 200; i++ {
		steps = append(steps, step{dir: "C>S", flags: "P.", seq: 1 + 10*i, ack: 1, len: 10})
		steps = append(steps, step{dir: "S>C", flags: ".", seq: 1, ack: 11 + 10*i})
	}
	steps = append(steps,
		step{dir: "C>S", flags: "F.", seq: 2001, ack: 1},
		step{dir: "S>C", flags: "F.", seq: 1, ack: 2002},
		step{dir: "C>S", flags: ".", seq: 2002, ack: 2},
	)
	f := run(t, segs(40000, 1e18, steps))[0]
	if f.Class != ClassFourWay {
		t.Fatalf("class %s, want four-way", f.Class)
	}
	var frames []int64
	elided := 0
	for _, e := range f.Events {
		frames = append(frames, e.Frame)
		elided += e.Elided
	}
	want := []int64{1, 2, 3, 402, 404, 405, 406}
	if !slices.Equal(frames, want) {
		t.Errorf("timeline frames %v, want %v", frames, want)
	}
	if got := len(f.Events) + elided; got != len(steps) {
		t.Errorf("events %d + elided %d = %d, want every one of the %d segments accounted for", len(f.Events), elided, got, len(steps))
	}
	if f.Bytes[Client] != 2000 || f.Packets[Client] != 204 {
		t.Errorf("client bytes %d packets %d, want 2000 and 204", f.Bytes[Client], f.Packets[Client])
	}
}

// Two refused connections on one 5-tuple: both RST|ACKs have seq 0, but
// each acknowledges its own SYN, so neither is a late duplicate.
func TestRefusedTwiceOnOneTuple(t *testing.T) {
	first := segs(40000, 1e18, []step{
		{dir: "C>S", flags: "S", seq: 0},
		{dir: "S>C", flags: "R.", seq: 0, ack: 1},
	})
	for i := range first {
		if first[i].SrcPort == 80 {
			first[i].Seq = 0
		}
	}
	second := shift(segs(40000, 1e18+2e9, []step{
		{dir: "C>S", flags: "S", seq: 0},
		{dir: "S>C", flags: "R.", seq: 0, ack: 1},
	}), 7777777, 0)
	for i := range second {
		if second[i].SrcPort == 80 {
			second[i].Seq = 0
		}
	}
	flows := run(t, append(first, second...))
	if len(flows) != 2 {
		t.Fatalf("got %d flows, want 2", len(flows))
	}
	for _, f := range flows {
		if f.Class != ClassRefused {
			t.Errorf("incarnation %d: class %s, want refused (%s)", f.Incarnation, f.Class, f.Verdict)
		}
	}
}

package analyzer

import (
	"strings"
	"testing"
)

// A flow settled after settleWindow gives the same verdict as one emitted
// before it settles, and later segments amend it.
func TestSettledFlow(t *testing.T) {
	close4 := with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
		{dir: "S>C", flags: "P.", seq: 1, ack: 11, len: 20},
		{dir: "C>S", flags: "F.", seq: 11, ack: 21},
		{dir: "S>C", flags: "F.", seq: 21, ack: 12},
		{dir: "C>S", flags: ".", seq: 12, ack: 22},
	})
	fresh := run(t, segs(40000, 1e18, close4))[0]

	// The same close, then an unrelated flow 10 s later settles it.
	ss := append(segs(40000, 1e18, close4), segs(40001, 1e18+10e9, handshake[:1])...)
	settled := run(t, ss)
	if len(settled) != 2 {
		t.Fatalf("got %d flows, want 2", len(settled))
	}
	got := settled[0]
	if got.Class != fresh.Class || got.Verdict != fresh.Verdict || got.Flags != fresh.Flags ||
		got.TimeWaitUntil != fresh.TimeWaitUntil || len(got.Events) != len(fresh.Events) {
		t.Errorf("settled flow differs:\n got %s %v %q\nwant %s %v %q", got.Class, got.Flags.Strings(), got.Verdict, fresh.Class, fresh.Flags.Strings(), fresh.Verdict)
	}

	// A FIN sent again 8 s after the close, re-ACKed from TIME_WAIT, then
	// an RST that ends the TIME_WAIT.
	late := append(segs(40000, 1e18, close4), segs(40001, 1e18+6e9, handshake[:1])...)
	more := segs(40000, 1e18+8e9, []step{
		{dir: "S>C", flags: "F.", seq: 21, ack: 12},
		{dir: "C>S", flags: ".", seq: 12, ack: 22},
		{dir: "S>C", flags: "R", seq: 22},
	})
	late = append(late, more...)
	flows := run(t, late)
	f := flows[0]
	if f.Class != ClassFourWay || !f.Flags.Has(FlagFINRetransmit) || !f.Flags.Has(FlagRSTInTimeWait) {
		t.Errorf("late segments: class %s flags %v, want four-way with fin-retransmit and rst-in-time-wait", f.Class, f.Flags.Strings())
	}
	if f.TimeWaitUntil[Client] != 0 || f.FinalState[Client] != StateClosed {
		t.Errorf("after the RST: client TIME_WAIT until %d, state %s; want 0, CLOSED", f.TimeWaitUntil[Client], f.FinalState[Client])
	}
	for _, want := range []string{"sent its FIN again (frame 10)", "RST from the server (frame 12) ended the client's TIME_WAIT"} {
		if !strings.Contains(f.Verdict, want) {
			t.Errorf("verdict %q lacks %q", f.Verdict, want)
		}
	}
	if f.Last.Frame != 12 || f.Packets[Server] != 5 {
		t.Errorf("last frame %d, server packets %d; want 12 and 5", f.Last.Frame, f.Packets[Server])
	}
}

// A late duplicate reaching a new incarnation after the old one settled is
// still attributed, and the old one still gets old-segment.
func TestLateDuplicateAfterSettle(t *testing.T) {
	inc1 := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
		{dir: "S>C", flags: ".", seq: 1, ack: 11},
		{dir: "C>S", flags: "F.", seq: 11, ack: 1},
		{dir: "S>C", flags: "F.", seq: 1, ack: 12},
		{dir: "C>S", flags: ".", seq: 12, ack: 2},
	}))
	old := inc1[3]
	inc2 := shift(segs(40000, 1e18+int64(8e9), with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 5},
	})), 65537+12, 777777)
	old.At = inc2[len(inc2)-1].At + 1e6
	all := append(append(inc1, inc2...), old)
	flows := run(t, all)
	if len(flows) != 2 || flows[1].Class != ClassLateDuplicate || !flows[0].Flags.Has(FlagOldSegment) {
		t.Fatalf("got %d flows; want incarnation 2 late-duplicate and 1 with old-segment: %v / %v", len(flows), flows[0].Flags.Strings(), flows[1].Class)
	}
}

// A flow closed by RST holds no TIME_WAIT: its verdict comes out once it
// has settled, and a later incarnation of the tuple is still numbered 2.
func TestResetFlowEmittedEarly(t *testing.T) {
	var got []*Flow
	a := New(Config{}, func(f *Flow) { got = append(got, f) })
	ss := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "R.", seq: 1, ack: 1},
	}))
	ss = append(ss, segs(40001, 1e18+6e9, handshake[:1])...) // 6 s later
	ss = append(ss, segs(40000, 1e18+7e9, handshake)...)     // the tuple again
	for i := range ss {
		ss[i].Frame = int64(i + 1)
		a.Add(&ss[i])
		if i == 4 && (len(got) != 1 || got[0].Class != ClassRSTAbort) {
			t.Fatalf("after settling: %d flows emitted, want the rst-abort one", len(got))
		}
	}
	a.Close()
	if len(got) != 3 {
		t.Fatalf("got %d flows, want 3", len(got))
	}
	for _, f := range got {
		if f.Client.Port == 40000 && f.ID == 3 && f.Incarnation != 2 {
			t.Errorf("reused tuple: incarnation %d, want 2", f.Incarnation)
		}
	}
}

// An RST that reaches TIME_WAIT after both FINs were acknowledged (a closed
// host's answer to a re-ACK) ends only the TIME_WAIT: the class stays the
// close's, the flag says the rest.
func TestRSTIntoTimeWait(t *testing.T) {
	ss := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "F.", seq: 1, ack: 1},
		{dir: "S>C", flags: ".", seq: 1, ack: 2},
		{dir: "S>C", flags: "F.", seq: 1, ack: 2},
		{dir: "C>S", flags: ".", seq: 2, ack: 2},
		{dir: "S>C", flags: "F.", seq: 1, ack: 2, gapMS: 200},
		{dir: "C>S", flags: ".", seq: 2, ack: 2},
		{dir: "S>C", flags: "R", seq: 2, gapMS: 100},
	}))
	f := run(t, ss)[0]
	if f.Class != ClassLostACK || !f.Flags.Has(FlagRSTInTimeWait) || !f.Flags.Has(FlagFINRetransmit) {
		t.Fatalf("class %s flags %v, want lost-ack with rst-in-time-wait and fin-retransmit", f.Class, f.Flags.Strings())
	}
	if !strings.Contains(f.Verdict, "ended the client's TIME_WAIT early") || f.TimeWaitUntil[Client] != 0 {
		t.Errorf("verdict %q, client TIME_WAIT until %d", f.Verdict, f.TimeWaitUntil[Client])
	}
}

// The settle window follows the handshake's round trip: a FIN sent again
// 2.5 s after the close still makes a lost-ack verdict on a 300 ms path,
// but only amends the verdict of a LAN flow, whose first retransmission
// would have come within 1.5 s.
func TestSettleWindowFollowsRTT(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rttMS int
		class Class
	}{
		{"lan", 1, ClassFourWay},
		{"slow path", 300, ClassLostACK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := []step{
				{dir: "C>S", flags: "S", seq: 0},
				{dir: "S>C", flags: "S.", seq: 0, ack: 1, gapMS: tc.rttMS},
				{dir: "C>S", flags: ".", seq: 1, ack: 1, gapMS: tc.rttMS},
				{dir: "C>S", flags: "F.", seq: 1, ack: 1},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2},
				{dir: "C>S", flags: ".", seq: 2, ack: 2},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2, gapMS: 2500},
			}
			ss := segs(40000, 1e18, steps[:6])
			// An unrelated flow moves the clock 2 s past the close.
			last := ss[len(ss)-1].At
			ss = append(ss, segs(40001, last+2e9-1e6, handshake[:1])...)
			ss = append(ss, segs(40000, last+2500e6-1e6, steps[6:])...)
			f := run(t, ss)[0]
			if f.Class != tc.class || !f.Flags.Has(FlagFINRetransmit) {
				t.Errorf("class %s flags %v, want %s with fin-retransmit (%s)", f.Class, f.Flags.Strings(), tc.class, f.Verdict)
			}
		})
	}
}

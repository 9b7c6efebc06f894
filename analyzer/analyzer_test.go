package analyzer

import (
	"slices"
	"strings"
	"testing"
	"time"

	"teardown/reassembly"
)

var (
	cliAddr = reassembly.AddrFrom4([4]byte{198, 18, 0, 1})
	srvAddr = reassembly.AddrFrom4([4]byte{198, 18, 0, 2})
)

// step is one scripted segment: dir "C>S" or "S>C", tcpdump-style flags
// ("S", "S.", ".", "P.", "F.", "R.", "R"), seq and ack relative to ISNs
// 1000 (client) and 5000 (server), payload length, the gap in
// milliseconds since the previous step, and optional timestamps.
type step struct {
	dir      string
	flags    string
	seq, ack uint32
	len      uint32
	gapMS    int
	tsval    uint32
	tsecr    uint32
}

func parseFlags(s string) reassembly.Flags {
	var f reassembly.Flags
	for _, c := range s {
		switch c {
		case 'S':
			f |= reassembly.FlagSYN
		case 'F':
			f |= reassembly.FlagFIN
		case 'R':
			f |= reassembly.FlagRST
		case 'P':
			f |= reassembly.FlagPSH
		case '.':
			f |= reassembly.FlagACK
		}
	}
	return f
}

const (
	cISN = 1000
	sISN = 5000
)

// segs turns a script into segments with client port cport.
func segs(cport uint16, start int64, steps []step) []reassembly.Segment {
	at := start
	var out []reassembly.Segment
	for i, st := range steps {
		if st.gapMS == 0 {
			at += int64(time.Millisecond)
		} else {
			at += int64(st.gapMS) * int64(time.Millisecond)
		}
		s := reassembly.Segment{Frame: int64(i + 1), At: at, TTL: 64, PktType: reassembly.PktUnknown, WScale: -1, Win: 512}
		s.Flags = parseFlags(st.flags)
		if st.dir == "C>S" {
			s.Src, s.SrcPort, s.Dst, s.DstPort = cliAddr, cport, srvAddr, 80
			s.Seq, s.Ack = reassembly.Seq(cISN+st.seq), reassembly.Seq(sISN+st.ack)
		} else {
			s.Src, s.SrcPort, s.Dst, s.DstPort = srvAddr, 80, cliAddr, cport
			s.Seq, s.Ack = reassembly.Seq(sISN+st.seq), reassembly.Seq(cISN+st.ack)
		}
		s.Len = st.len
		if st.tsval != 0 {
			s.HasTS, s.TSval, s.TSecr = true, st.tsval, st.tsecr
		}
		out = append(out, s)
	}
	return out
}

func run(t *testing.T, ss []reassembly.Segment) []*Flow {
	t.Helper()
	var got []*Flow
	a := New(Config{}, func(f *Flow) { got = append(got, f) })
	for i := range ss {
		ss[i].Frame = int64(i + 1)
		a.Add(&ss[i])
	}
	a.Close()
	slices.SortFunc(got, func(x, y *Flow) int { return x.ID - y.ID })
	return got
}

var handshake = []step{
	{dir: "C>S", flags: "S", seq: 0},
	{dir: "S>C", flags: "S.", seq: 0, ack: 1},
	{dir: "C>S", flags: ".", seq: 1, ack: 1},
}

// clientCloses exchanges data after the handshake, then the client closes
// first and both FINs are acknowledged: a four-way close that leaves the
// client in TIME_WAIT.
var clientCloses = []step{
	{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
	{dir: "S>C", flags: "P.", seq: 1, ack: 11, len: 20},
	{dir: "C>S", flags: "F.", seq: 11, ack: 21},
	{dir: "S>C", flags: ".", seq: 21, ack: 12},
	{dir: "S>C", flags: "F.", seq: 21, ack: 12},
	{dir: "C>S", flags: ".", seq: 12, ack: 22},
}

func with(steps ...[]step) []step {
	var out []step
	for _, s := range steps {
		out = append(out, s...)
	}
	return out
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		steps      []step
		class      Class
		flags      []string
		closer     Closer
		client     State
		server     State
		verdictHas []string
	}{
		{
			name:  "four-way client first",
			steps: with(handshake, clientCloses),
			class: ClassFourWay, flags: []string{}, closer: CloserClient,
			client: StateTimeWait, server: StateClosed,
			verdictHas: []string{"FIN frame 6", "final ACK (frame 9)", "client 198.18.0.1:40000 holds TIME_WAIT"},
		},
		{
			name: "four-way piggybacked server first",
			steps: with(handshake, []step{
				{dir: "S>C", flags: "F.", seq: 1, ack: 1},
				{dir: "C>S", flags: "F.", seq: 1, ack: 2},
				{dir: "S>C", flags: ".", seq: 2, ack: 2},
			}),
			class: ClassFourWay, flags: []string{"piggybacked-fin"}, closer: CloserServer,
			client: StateClosed, server: StateTimeWait,
		},
		{
			name: "half-close",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1},
				{dir: "S>C", flags: ".", seq: 1, ack: 2},
				{dir: "S>C", flags: "P.", seq: 1, ack: 2, len: 100},
				{dir: "C>S", flags: ".", seq: 2, ack: 101},
				{dir: "S>C", flags: "F.", seq: 101, ack: 2},
				{dir: "C>S", flags: ".", seq: 2, ack: 102},
			}),
			class: ClassFourWay, flags: []string{"half-close"}, closer: CloserClient,
			client: StateTimeWait, server: StateClosed,
		},
		{
			name: "simultaneous",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1},
				{dir: "S>C", flags: "F.", seq: 1, ack: 1},
				{dir: "C>S", flags: ".", seq: 2, ack: 2},
				{dir: "S>C", flags: ".", seq: 2, ack: 2},
			}),
			class: ClassSimultaneous, flags: []string{}, closer: CloserBoth,
			client: StateTimeWait, server: StateTimeWait,
		},
		{
			name: "rst abort linger 0",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
				{dir: "S>C", flags: ".", seq: 1, ack: 11},
				{dir: "C>S", flags: "R.", seq: 11, ack: 1},
			}),
			class: ClassRSTAbort, flags: []string{}, closer: CloserClient,
			client: StateClosed, server: StateClosed,
			verdictHas: []string{"linger-0", "RST frame 6"},
		},
		{
			name: "rst close with unread data",
			steps: with(handshake, []step{
				{dir: "S>C", flags: "P.", seq: 1, ack: 1, len: 100},
				{dir: "C>S", flags: ".", seq: 1, ack: 101},
				{dir: "C>S", flags: "R.", seq: 1, ack: 101},
			}),
			class: ClassRSTAbort, flags: []string{}, closer: CloserClient,
			client: StateClosed, server: StateClosed,
			verdictHas: []string{"close with unread data", "frame 4"},
		},
		{
			name: "rst after close",
			steps: with(handshake, []step{
				{dir: "S>C", flags: "F.", seq: 1, ack: 1},
				{dir: "C>S", flags: ".", seq: 1, ack: 2},
				{dir: "C>S", flags: "P.", seq: 1, ack: 2, len: 5},
				{dir: "S>C", flags: "R", seq: 2},
			}),
			class: ClassRSTAfterClose, flags: []string{"half-close"}, closer: CloserServer,
			client: StateClosed, server: StateClosed,
			verdictHas: []string{"data after close", "frame 6"},
		},
		{
			name: "refused",
			steps: []step{
				{dir: "C>S", flags: "S", seq: 0},
				{dir: "S>C", flags: "R.", seq: 0, ack: 1},
			},
			class: ClassRefused, flags: []string{}, closer: CloserNone,
			client: StateClosed, server: StateClosed,
		},
		{
			name: "lost ack seen before retransmit",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2},
				{dir: "C>S", flags: ".", seq: 2, ack: 2},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2, gapMS: 200},
				{dir: "C>S", flags: ".", seq: 2, ack: 2},
			}),
			class: ClassLostACK, flags: []string{"fin-retransmit", "piggybacked-fin"}, closer: CloserClient,
			client: StateTimeWait, server: StateClosed,
			verdictHas: []string{"frame 7, first at frame 5", "re-ACKed from TIME_WAIT (frame 8)"},
		},
		{
			name: "lost ack by timestamps",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1, tsval: 100, tsecr: 50},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2, tsval: 60, tsecr: 100},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2, gapMS: 200, tsval: 260, tsecr: 100},
				{dir: "C>S", flags: ".", seq: 2, ack: 2, tsval: 300, tsecr: 60},
			}),
			class: ClassLostACK, flags: []string{"fin-retransmit", "piggybacked-fin"}, closer: CloserClient,
			client: StateTimeWait, server: StateClosed,
			verdictHas: []string{"TSecr 60"},
		},
		{
			name: "lost fin by timestamps",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1, tsval: 100, tsecr: 50},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2, tsval: 60, tsecr: 100},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2, gapMS: 200, tsval: 260, tsecr: 100},
				{dir: "C>S", flags: ".", seq: 2, ack: 2, tsval: 300, tsecr: 260},
			}),
			class: ClassLostFIN, flags: []string{"fin-retransmit", "piggybacked-fin"}, closer: CloserClient,
			client: StateTimeWait, server: StateClosed,
		},
		{
			name: "fin retransmit without timestamps",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2},
				{dir: "S>C", flags: "F.", seq: 1, ack: 2, gapMS: 200},
				{dir: "C>S", flags: ".", seq: 2, ack: 2},
			}),
			class: ClassFINRetransmit, flags: []string{"fin-retransmit", "piggybacked-fin"}, closer: CloserClient,
			client: StateTimeWait, server: StateClosed,
			verdictHas: []string{"no TCP timestamps"},
		},
		{
			name: "close-wait",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1},
				{dir: "S>C", flags: ".", seq: 1, ack: 2},
				{dir: "S>C", flags: ".", seq: 0, ack: 2, gapMS: 5000},
			}),
			class: ClassCloseWait, flags: []string{}, closer: CloserClient,
			client: StateFinWait2, server: StateCloseWait,
			verdictHas: []string{"CLOSE_WAIT", "for 5.00"},
		},
		{
			name: "fin-wait",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1},
			}),
			class: ClassFINWait, flags: []string{}, closer: CloserClient,
			client: StateFinWait1, server: StateCloseWait,
		},
		{
			name: "open",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
			}),
			class: ClassOpen, flags: []string{}, closer: CloserNone,
			client: StateEstablished, server: StateEstablished,
		},
		{
			name: "no handshake four-way",
			steps: []step{
				{dir: "C>S", flags: "P.", seq: 100, ack: 200, len: 10},
				{dir: "C>S", flags: "F.", seq: 110, ack: 200},
				{dir: "S>C", flags: "F.", seq: 200, ack: 111},
				{dir: "C>S", flags: ".", seq: 111, ack: 201},
			},
			class: ClassFourWay, flags: []string{"no-handshake", "piggybacked-fin"}, closer: CloserClient,
			client: StateTimeWait, server: StateClosed,
		},
		{
			name: "unseen FIN acknowledged",
			steps: with(handshake, []step{
				{dir: "C>S", flags: "F.", seq: 1, ack: 1},
				// the server's FIN|ACK was not captured
				{dir: "C>S", flags: ".", seq: 2, ack: 2},
			}),
			class: ClassFourWay, flags: []string{}, closer: CloserClient,
			client: StateTimeWait, server: StateClosed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flows := run(t, segs(40000, 1e18, tc.steps))
			if len(flows) != 1 {
				t.Fatalf("got %d flows, want 1", len(flows))
			}
			f := flows[0]
			if f.Class != tc.class {
				t.Errorf("class = %s, want %s (verdict: %s)", f.Class, tc.class, f.Verdict)
			}
			if got := f.Flags.Strings(); !sameSet(got, tc.flags) {
				t.Errorf("flags = %v, want %v", got, tc.flags)
			}
			if f.ActiveCloser != tc.closer {
				t.Errorf("active closer = %s, want %s", f.ActiveCloser, tc.closer)
			}
			if f.FinalState[Client] != tc.client || f.FinalState[Server] != tc.server {
				t.Errorf("final states = %s/%s, want %s/%s", f.FinalState[Client], f.FinalState[Server], tc.client, tc.server)
			}
			for _, s := range tc.verdictHas {
				if !strings.Contains(f.Verdict, s) {
					t.Errorf("verdict %q lacks %q", f.Verdict, s)
				}
			}
			if len(f.Events) == 0 {
				t.Errorf("no timeline events")
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// A segment captured twice within a millisecond (tcpdump -i any on a
// bridge and its port) is one packet, not a FIN retransmission.
func TestCaptureCopiesAreNotRetransmissions(t *testing.T) {
	ss := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "F.", seq: 1, ack: 1},
		{dir: "S>C", flags: "F.", seq: 1, ack: 2},
		{dir: "C>S", flags: ".", seq: 2, ack: 2},
	}))
	var doubled []reassembly.Segment
	for _, s := range ss {
		doubled = append(doubled, s)
		s.At += 20000 // 20 µs later, on the other interface
		doubled = append(doubled, s)
	}
	flows := run(t, doubled)
	if len(flows) != 1 || flows[0].Class != ClassFourWay || flows[0].Flags.Has(FlagFINRetransmit) {
		t.Fatalf("got %d flows, first %s %v; want one four-way without fin-retransmit", len(flows), flows[0].Class, flows[0].Flags.Strings())
	}
}

func TestUnansweredAndOneWay(t *testing.T) {
	syns := run(t, segs(40000, 1e18, []step{
		{dir: "C>S", flags: "S", seq: 0},
		{dir: "C>S", flags: "S", seq: 0, gapMS: 1000},
		{dir: "C>S", flags: "S", seq: 0, gapMS: 2000},
	}))
	if len(syns) != 1 || syns[0].Class != ClassOpen || !strings.Contains(syns[0].Verdict, "never answered although it was sent 3 times") {
		t.Errorf("unanswered SYN: %d flows, %v", len(syns), syns[0].Verdict)
	}
	one := run(t, segs(40000, 1e18, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
		{dir: "C>S", flags: "F.", seq: 11, ack: 1},
	}))
	if len(one) != 1 || one[0].Class != ClassFINWait || !strings.Contains(one[0].Verdict, "only the client's segments were captured") {
		t.Errorf("one-way flow: %d flows, %s: %s", len(one), one[0].Class, one[0].Verdict)
	}
}

// Copies of back-to-back segments interleave on a bridge (ACK in, data in,
// ACK out, data out): each is still one packet.
func TestInterleavedCaptureCopies(t *testing.T) {
	ss := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
		{dir: "S>C", flags: ".", seq: 1, ack: 11},
		{dir: "S>C", flags: "P.", seq: 1, ack: 11, len: 100},
		{dir: "C>S", flags: "F.", seq: 11, ack: 101},
		{dir: "S>C", flags: "F.", seq: 101, ack: 12},
		{dir: "C>S", flags: ".", seq: 12, ack: 102},
	}))
	var doubled []reassembly.Segment
	for i := 0; i < len(ss); i++ {
		if i+1 < len(ss) && ss[i].SrcPort == ss[i+1].SrcPort {
			// Two in a row from one side: a, b, a', b'.
			a, b := ss[i], ss[i+1]
			b.At = a.At + 5000
			a2, b2 := a, b
			a2.At, b2.At = a.At+10000, a.At+15000
			doubled = append(doubled, a, b, a2, b2)
			i++
			continue
		}
		c := ss[i]
		c.At += 10000
		doubled = append(doubled, ss[i], c)
	}
	f := run(t, doubled)[0]
	if f.Class != ClassFourWay || f.Packets[Client]+f.Packets[Server] != int64(len(ss)) || f.CaptureCopies != len(ss) {
		t.Errorf("class %s, %d+%d packets, %d copies; want four-way, %d packets, %d copies",
			f.Class, f.Packets[Client], f.Packets[Server], f.CaptureCopies, len(ss), len(ss))
	}
	for _, e := range f.Events {
		if len(e.Notes) > 0 {
			t.Errorf("frame %d: notes %v, want none", e.Frame, e.Notes)
		}
	}
}

// A settled flow keeps telling capture copies from retransmissions: a FIN
// sent again after the settle window and its re-ACK, each captured twice
// within a millisecond, are one packet each; the FIN sent a third time,
// 2 ms later, is a retransmission.
func TestLateCaptureCopies(t *testing.T) {
	ss := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "F.", seq: 1, ack: 1},
		{dir: "S>C", flags: "F.", seq: 1, ack: 2},
		{dir: "C>S", flags: ".", seq: 2, ack: 2},
		{dir: "S>C", flags: "F.", seq: 1, ack: 2, gapMS: 10000}, // after the settle window
		{dir: "C>S", flags: ".", seq: 2, ack: 2},
		{dir: "S>C", flags: "F.", seq: 1, ack: 2, gapMS: 3},
	}))
	var doubled []reassembly.Segment
	for i, s := range ss {
		doubled = append(doubled, s)
		if i == 6 || i == 7 {
			s.At += 20000 // 20 µs later, on the other interface
			doubled = append(doubled, s)
		}
	}
	// The second FIN sent again differs from the first only in its time.
	doubled[len(doubled)-1].IPID = doubled[6].IPID
	flows := run(t, doubled)
	if len(flows) != 1 {
		t.Fatalf("got %d flows, want 1", len(flows))
	}
	f := flows[0]
	if f.Class != ClassFourWay || !f.Flags.Has(FlagFINRetransmit) {
		t.Errorf("class %s, flags %v; want four-way with fin-retransmit", f.Class, f.Flags.Strings())
	}
	if f.CaptureCopies != 2 || f.Packets[Client]+f.Packets[Server] != int64(len(ss)) {
		t.Errorf("%d copies, %d+%d packets; want 2 copies, %d packets", f.CaptureCopies, f.Packets[Client], f.Packets[Server], len(ss))
	}
	if n := strings.Count(f.Verdict, "sent its FIN again"); n != 2 {
		t.Errorf("verdict tells of %d FINs sent again, want 2: %s", n, f.Verdict)
	}
}

// The evidence for the cause of an RST, for the two causes the lab's
// captures do not show; each sentence is written out by hand from the
// segments.
func TestResetEvidence(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		cause string
		want  string
	}{{
		name: "RST after its own FIN, nothing after it",
		steps: with(handshake, []step{
			{dir: "C>S", flags: "F.", seq: 1, ack: 1}, // 4
			{dir: "S>C", flags: ".", seq: 1, ack: 2},  // 5
			{dir: "C>S", flags: "R.", seq: 2, ack: 1}, // 6
		}),
		cause: "other",
		want:  "the client had sent its FIN (frame 4); no data after it was captured, so the RST has another cause",
	}, {
		name: "server resets on a request it did not read",
		steps: with(handshake, []step{
			{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},    // 4
			{dir: "S>C", flags: "P.", seq: 1, ack: 11, len: 100},  // 5
			{dir: "C>S", flags: "P.", seq: 11, ack: 101, len: 20}, // 6
			{dir: "S>C", flags: ".", seq: 101, ack: 31},           // 7
			{dir: "S>C", flags: "R.", seq: 101, ack: 31},          // 8
		}),
		cause: "close with unread data",
		want: "after its own data (frame 5) the server received 20 more bytes from the client (frame 6), acknowledged them and reset without answering: " +
			"likely a request it never read, for which Linux sends RST instead of FIN; SO_LINGER {on, 0} would send the same RST",
	}}
	for _, tt := range tests {
		flows := run(t, segs(40000, 1e18, tt.steps))
		if len(flows) != 1 || flows[0].Reset == nil {
			t.Fatalf("%s: %d flows, want one with an RST", tt.name, len(flows))
		}
		if r := flows[0].Reset; r.Cause != tt.cause || r.Evidence != tt.want {
			t.Errorf("%s: cause %q, evidence\n%q\nwant %q,\n%q", tt.name, r.Cause, r.Evidence, tt.cause, tt.want)
		}
		if !strings.HasSuffix(flows[0].Verdict, tt.want+".") {
			t.Errorf("%s: verdict %q does not end with the evidence", tt.name, flows[0].Verdict)
		}
	}
}

// A flow can see more than 2³¹ segments in a long live capture: the
// segments left out of its timeline are counted in full. (Feeding four
// billion segments would take too long: the count is moved on by hand
// after the handshake.)
func TestLongFlowOrdinals(t *testing.T) {
	ss := segs(40000, 1e18, with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10},
		{dir: "C>S", flags: "F.", seq: 11, ack: 1},
		{dir: "S>C", flags: "F.", seq: 1, ack: 12},
		{dir: "C>S", flags: ".", seq: 12, ack: 2},
	}))
	var got []*Flow
	a := New(Config{}, func(f *Flow) { got = append(got, f) })
	const skipped = 1<<32 + 5 // segments the capture held between the handshake and the data
	for i := range ss {
		ss[i].Frame = int64(i + 1)
		if i == 3 {
			k, _ := reassembly.KeyOf(&ss[i])
			a.tuples.get(&k).cur.det.n += skipped
		}
		a.Add(&ss[i])
	}
	a.Close()
	if len(got) != 1 || got[0].Class != ClassFourWay {
		t.Fatalf("got %d flows, want one four-way", len(got))
	}
	var frames []int64
	for _, e := range got[0].Events {
		frames = append(frames, e.Frame)
		if want := map[int64]int{4: skipped}[e.Frame]; e.Elided != want {
			t.Errorf("frame %d: %d segments elided before it, want %d", e.Frame, e.Elided, want)
		}
	}
	if want := []int64{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(frames, want) {
		t.Errorf("timeline frames %v, want %v", frames, want)
	}
}

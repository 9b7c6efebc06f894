package report

import (
	"net/netip"
	"time"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

// Hand-built flows, one per class, with timelines that follow DOMAIN.md.
// They test rendering only: the verdict sentences are what an analyzer
// could say, not the output of ours.

// base is 2024-05-01T10:00:00Z in Unix ns.
var base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixNano()

const (
	ms = int64(time.Millisecond)
	us = int64(time.Microsecond)
	s  = int64(time.Second)
)

func ap(s string) reassembly.AddrPort {
	a := netip.MustParseAddrPort(s)
	return reassembly.AddrPort{Addr: a.Addr().As16(), Port: a.Port()}
}

// tf parses tcpdump-style flags: "S", "S.", "F.", "R.", "R", "P.", ".".
func tf(x string) reassembly.Flags {
	var f reassembly.Flags
	for _, c := range x {
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
	C = analyzer.Client
	S = analyzer.Server
)

type st = analyzer.State

const (
	EST  = analyzer.StateEstablished
	FW1  = analyzer.StateFinWait1
	FW2  = analyzer.StateFinWait2
	CLG  = analyzer.StateClosing
	TW   = analyzer.StateTimeWait
	CW   = analyzer.StateCloseWait
	LA   = analyzer.StateLastAck
	CLD  = analyzer.StateClosed
	SS   = analyzer.StateSynSent
	SR   = analyzer.StateSynReceived
	RST  = analyzer.StateReset
	PART = analyzer.StatePartial
	UNK  = analyzer.StateUnknown
)

// ev builds an event; first is the flow's first timestamp, at the event's.
func ev(first int64, frame int64, at int64, from analyzer.Side, flags string, seq, ack, n, win uint32, c, sv st, notes ...string) analyzer.Event {
	return analyzer.Event{
		FrameRef: analyzer.FrameRef{Frame: frame},
		At:       at,
		Rel:      at - first,
		From:     from,
		Flags:    tf(flags),
		Seq:      seq,
		Ack:      ack,
		Len:      n,
		Win:      win,
		Notes:    notes,
		Client:   c,
		Server:   sv,
	}
}

func fr(n int64) analyzer.FrameRef { return analyzer.FrameRef{Frame: n} }

func fixtureFlows() []*analyzer.Flow {
	var flows []*analyzer.Flow

	// 1 four-way, client closes, piggybacked FIN.
	{
		t0 := base
		f := &analyzer.Flow{
			ID: 1, Stream: 0, Incarnation: 1,
			Client: ap("198.18.0.1:40000"), Server: ap("198.18.0.2:80"),
			Class: analyzer.ClassFourWay, ActiveCloser: analyzer.CloserClient,
			Vantage: analyzer.VantageClient, VantageWhy: "SYN/ACK 20.1 ms after SYN, ACK 0.05 ms after SYN/ACK",
			Verdict: "The client closed first (FIN frame 6), the server's FIN rode on its ACK (frame 7) and the client acknowledged it (frame 8): a clean close.",
			First:   fr(1), Last: fr(8), FirstAt: t0, LastAt: t0 + 41*ms,
			Packets: [2]int64{5, 3}, Bytes: [2]uint64{78, 1200},
			FinalState: [2]analyzer.State{TW, CLD},
			Decisive:   map[string]analyzer.FrameRef{"first_fin": fr(6), "last_ack": fr(8)},
		}
		f.Flags.Set(analyzer.FlagPiggybackedFIN)
		f.TimeWaitUntil[C] = t0 + 41*ms + 60*s
		f.Events = []analyzer.Event{
			ev(t0, 5, t0+40*ms, S, "P.", 1, 79, 1200, 65160, EST, EST),
			ev(t0, 6, t0+40*ms+300*us, C, "F.", 79, 1201, 0, 64128, FW1, EST),
			ev(t0, 7, t0+40*ms+900*us, S, "F.", 1201, 80, 0, 65160, FW1, LA),
			ev(t0, 8, t0+41*ms, C, ".", 80, 1202, 0, 64128, TW, CLD),
		}
		flows = append(flows, f)
	}

	// 2 simultaneous close near the end of the capture: both in TIME_WAIT.
	{
		t0 := base + 40*s
		f := &analyzer.Flow{
			ID: 2, Stream: 1, Incarnation: 1,
			Client: ap("198.18.0.1:40002"), Server: ap("198.18.0.3:5000"),
			Class: analyzer.ClassSimultaneous, ActiveCloser: analyzer.CloserBoth,
			Vantage: analyzer.VantageMiddle, VantageWhy: "handshake round trip split 10.2 ms / 9.8 ms",
			Verdict: "Both sides sent FIN before receiving the other's (frames 20 and 21, neither acknowledging the other): a simultaneous close, both ends hold TIME_WAIT.",
			First:   fr(14), Last: fr(23), FirstAt: t0, LastAt: t0 + 10*s + 20*ms,
			Packets: [2]int64{5, 5}, Bytes: [2]uint64{10, 10},
			FinalState: [2]analyzer.State{TW, TW},
			Decisive:   map[string]analyzer.FrameRef{"client_fin": fr(20), "server_fin": fr(21)},
		}
		f.TimeWaitUntil[C] = t0 + 10*s + 20*ms + 60*s
		f.TimeWaitUntil[S] = t0 + 10*s + 19*ms + 60*s
		f.Events = []analyzer.Event{
			ev(t0, 19, t0+10*s, S, "P.", 1, 11, 10, 502, EST, EST),
			ev(t0, 20, t0+10*s+10*ms, C, "F.", 11, 11, 0, 502, FW1, EST),
			ev(t0, 21, t0+10*s+10*ms+5*us, S, "F.", 11, 11, 0, 502, FW1, FW1),
			ev(t0, 22, t0+10*s+19*ms, S, ".", 12, 12, 0, 502, TW, CLG),
			ev(t0, 23, t0+10*s+20*ms, C, ".", 12, 12, 0, 502, TW, TW),
		}
		flows = append(flows, f)
	}

	// 3 rst-abort: close with unread data.
	{
		t0 := base + 2*s
		f := &analyzer.Flow{
			ID: 3, Stream: 2, Incarnation: 1,
			Client: ap("198.18.0.1:40004"), Server: ap("198.18.0.2:80"),
			Class: analyzer.ClassRSTAbort, ActiveCloser: analyzer.CloserServer,
			Vantage: analyzer.VantageServer, VantageWhy: "SYN/ACK 0.04 ms after SYN; TTL of server segments 64",
			Verdict: "The server reset the connection (RST frame 31) without sending FIN; it had acknowledged 512 bytes it had not read (frame 29): likely close() with unread data.",
			First:   fr(24), Last: fr(31), FirstAt: t0, LastAt: t0 + 5*ms,
			Packets: [2]int64{4, 4}, Bytes: [2]uint64{612, 300},
			FinalState: [2]analyzer.State{RST, CLD},
			Decisive:   map[string]analyzer.FrameRef{"rst": fr(31)},
			Reset: &analyzer.ResetInfo{By: S, Frame: fr(31), Cause: "close with unread data",
				Evidence: "512 bytes from the client acknowledged at frame 29, 1.2 ms before the RST, no data read in reply"},
		}
		f.Events = []analyzer.Event{
			ev(t0, 28, t0+3*ms, C, "P.", 101, 301, 512, 502, EST, EST),
			ev(t0, 29, t0+3*ms+800*us, S, ".", 301, 613, 0, 500, EST, EST),
			ev(t0, 31, t0+5*ms, S, "R.", 301, 613, 0, 0, RST, CLD),
		}
		f.Events[2].Elided = 1
		flows = append(flows, f)
	}

	// 4 rst-after-close: the client sent data after the server closed.
	{
		t0 := base + 3*s
		f := &analyzer.Flow{
			ID: 4, Stream: 3, Incarnation: 1,
			Client: ap("198.18.0.1:40006"), Server: ap("198.18.0.2:80"),
			Class: analyzer.ClassRSTAfterClose, ActiveCloser: analyzer.CloserServer,
			Vantage: analyzer.VantageServer, VantageWhy: "SYN/ACK 0.03 ms after SYN",
			Verdict: "The server closed (FIN frame 36) and answered the client's later data (frame 38) with RST (frame 39).",
			First:   fr(32), Last: fr(39), FirstAt: t0, LastAt: t0 + 30*ms,
			Packets: [2]int64{4, 4}, Bytes: [2]uint64{200, 50},
			FinalState: [2]analyzer.State{RST, CLD},
			Decisive:   map[string]analyzer.FrameRef{"first_fin": fr(36), "rst": fr(39)},
			Reset: &analyzer.ResetInfo{By: S, Frame: fr(39), Cause: "data after close",
				Evidence: "100 bytes from the client at frame 38 after the server's FIN at frame 36"},
		}
		f.Flags.Set(analyzer.FlagHalfClose)
		f.Events = []analyzer.Event{
			ev(t0, 35, t0+10*ms, C, "P.", 1, 51, 100, 502, EST, EST),
			ev(t0, 36, t0+11*ms, S, "F.", 51, 101, 0, 509, EST, FW1),
			ev(t0, 37, t0+12*ms, C, ".", 101, 52, 0, 502, CW, FW2),
			ev(t0, 38, t0+29*ms, C, "P.", 101, 52, 100, 502, CW, FW2, "data after peer's FIN"),
			ev(t0, 39, t0+30*ms, S, "R", 52, 0, 0, 0, RST, CLD),
		}
		flows = append(flows, f)
	}

	// 5 refused.
	{
		t0 := base + 4*s
		f := &analyzer.Flow{
			ID: 5, Stream: 4, Incarnation: 1,
			Client: ap("198.18.0.1:40008"), Server: ap("198.18.0.2:81"),
			Class: analyzer.ClassRefused, ActiveCloser: analyzer.CloserNone,
			Vantage: analyzer.VantageClient, VantageWhy: "TTL of client segments 64",
			Verdict: "The SYN (frame 40) was answered by RST (frame 41): nothing listens on 198.18.0.2:81.",
			First:   fr(40), Last: fr(41), FirstAt: t0, LastAt: t0 + 150*us,
			Packets: [2]int64{1, 1}, Bytes: [2]uint64{0, 0},
			FinalState: [2]analyzer.State{CLD, CLD},
			Decisive:   map[string]analyzer.FrameRef{"syn": fr(40), "rst": fr(41)},
		}
		f.Events = []analyzer.Event{
			ev(t0, 40, t0, C, "S", 0, 0, 0, 64240, SS, UNK),
			ev(t0, 41, t0+150*us, S, "R.", 0, 1, 0, 0, CLD, CLD),
		}
		flows = append(flows, f)
	}

	// 6 lost-ack near the end: the client's final ACK was lost, the server
	// sent its FIN again; TSecr of the re-ACK echoes the original FIN.
	{
		t0 := base + 79*s
		f := &analyzer.Flow{
			ID: 6, Stream: 5, Incarnation: 1,
			Client: ap("198.18.0.1:40010"), Server: ap("198.18.0.2:80"),
			Class: analyzer.ClassLostACK, ActiveCloser: analyzer.CloserClient,
			Vantage: analyzer.VantageServer, VantageWhy: "SYN/ACK 0.03 ms after SYN",
			Verdict: "The server sent its FIN again (frame 52, first at frame 50); the client's re-ACK (frame 53) echoes TSval 5001 of the original FIN, so the client had received it: its final ACK was lost.",
			First:   fr(42), Last: fr(53), FirstAt: t0, LastAt: t0 + 1*s + 230*ms,
			Packets: [2]int64{5, 6}, Bytes: [2]uint64{80, 900},
			FinalState: [2]analyzer.State{TW, CLD},
			Decisive:   map[string]analyzer.FrameRef{"first_fin": fr(49), "fin": fr(50), "retransmitted_fin": fr(52), "final_ack": fr(53)},
		}
		f.Flags.Set(analyzer.FlagFINRetransmit)
		f.TimeWaitUntil[C] = t0 + 1*s + 230*ms + 60*s
		f.Events = []analyzer.Event{
			ev(t0, 49, t0+1*s, C, "F.", 81, 901, 0, 502, FW1, EST),
			ev(t0, 50, t0+1*s+100*us, S, "F.", 901, 82, 0, 509, FW1, LA),
			ev(t0, 52, t0+1*s+210*ms, S, "F.", 901, 82, 0, 509, TW, LA, "retransmission"),
			ev(t0, 53, t0+1*s+230*ms, C, ".", 82, 902, 0, 502, TW, CLD, "TIME_WAIT re-ACK", "TSecr = TSval of frame 50"),
		}
		f.Events[0].TSval, f.Events[0].TSecr = 9000, 5000
		f.Events[1].TSval, f.Events[1].TSecr = 5001, 9000
		f.Events[2].TSval, f.Events[2].TSecr = 5211, 9000
		f.Events[3].TSval, f.Events[3].TSecr = 9230, 5001
		f.Events[2].Elided = 1
		flows = append(flows, f)
	}

	// 7 lost-fin.
	{
		t0 := base + 6*s
		f := &analyzer.Flow{
			ID: 7, Stream: 6, Incarnation: 1,
			Client: ap("198.18.0.1:40012"), Server: ap("198.18.0.2:80"),
			Class: analyzer.ClassLostFIN, ActiveCloser: analyzer.CloserClient,
			Vantage: analyzer.VantageClient, VantageWhy: "SYN/ACK 20 ms after SYN",
			Verdict: "The client sent its FIN again (frame 60, first at frame 58) and the server's ACK (frame 61) echoes TSval 7210 of the retransmission: the first FIN was lost.",
			First:   fr(54), Last: fr(63), FirstAt: t0, LastAt: t0 + 450*ms,
			Packets: [2]int64{5, 4}, Bytes: [2]uint64{10, 10},
			FinalState: [2]analyzer.State{TW, CLD},
			Decisive:   map[string]analyzer.FrameRef{"first_fin": fr(58), "retransmitted_fin": fr(60)},
		}
		f.Flags.Set(analyzer.FlagFINRetransmit)
		f.TimeWaitUntil[C] = t0 + 450*ms + 60*s
		f.Events = []analyzer.Event{
			ev(t0, 58, t0+30*ms, C, "F.", 11, 11, 0, 502, FW1, EST),
			ev(t0, 60, t0+240*ms, C, "F.", 11, 11, 0, 502, FW1, EST, "retransmission"),
			ev(t0, 61, t0+260*ms, S, "F.", 11, 12, 0, 509, TW, LA),
			ev(t0, 63, t0+450*ms, C, ".", 12, 12, 0, 502, TW, CLD),
		}
		f.Events[0].TSval, f.Events[0].TSecr = 7000, 300
		f.Events[1].TSval, f.Events[1].TSecr = 7210, 300
		f.Events[2].TSval, f.Events[2].TSecr = 330, 7210
		f.Events[3].TSval, f.Events[3].TSecr = 7400, 330
		flows = append(flows, f)
	}

	// 8 fin-retransmit without timestamps, in the middle.
	{
		t0 := base + 7*s
		f := &analyzer.Flow{
			ID: 8, Stream: 7, Incarnation: 1,
			Client: ap("198.18.0.1:40014"), Server: ap("198.18.0.2:80"),
			Class: analyzer.ClassFINRetransmit, ActiveCloser: analyzer.CloserClient,
			Vantage: analyzer.VantageMiddle, VantageWhy: "handshake round trip split 4.1 ms / 3.9 ms",
			Verdict: "The server sent its FIN twice (frames 70 and 71); without TCP timestamps a capture in the middle cannot tell whether its FIN or the client's ACK was lost.",
			First:   fr(64), Last: fr(72), FirstAt: t0, LastAt: t0 + 900*ms,
			Packets: [2]int64{4, 5}, Bytes: [2]uint64{0, 0},
			FinalState: [2]analyzer.State{TW, CLD},
		}
		f.Flags.Set(analyzer.FlagFINRetransmit)
		f.TimeWaitUntil[C] = t0 + 900*ms + 60*s
		f.Events = []analyzer.Event{
			ev(t0, 68, t0+500*ms, C, "F.", 1, 1, 0, 502, FW1, EST),
			ev(t0, 69, t0+504*ms, S, ".", 1, 2, 0, 509, FW2, CW),
			ev(t0, 70, t0+600*ms, S, "F.", 1, 2, 0, 509, FW2, LA),
			ev(t0, 71, t0+820*ms, S, "F.", 1, 2, 0, 509, FW2, LA, "retransmission"),
			ev(t0, 72, t0+900*ms, C, ".", 2, 2, 0, 502, TW, CLD),
		}
		flows = append(flows, f)
	}

	// 9 late-duplicate on IPv6: incarnation 2 received a FIN of incarnation 1.
	{
		t0 := base + 8*s
		f := &analyzer.Flow{
			ID: 9, Stream: 8, Incarnation: 2,
			Client: ap("[2001:db8::1]:40000"), Server: ap("[2001:db8::2]:443"),
			Class: analyzer.ClassLateDuplicate, ActiveCloser: analyzer.CloserClient,
			Vantage: analyzer.VantageServer, VantageWhy: "SYN/ACK 0.02 ms after SYN",
			Verdict: "Frame 76 carries a FIN of incarnation 1 (its sequence space and an older TSval); the server answered with a challenge ACK (frame 77) and the connection survived.",
			First:   fr(73), Last: fr(82), FirstAt: t0, LastAt: t0 + 2*s,
			Packets: [2]int64{5, 5}, Bytes: [2]uint64{100, 100},
			FinalState: [2]analyzer.State{TW, CLD},
			Decisive:   map[string]analyzer.FrameRef{"old_segment": fr(76), "answer": fr(77)},
			LateDuplicate: &analyzer.LateDupInfo{Frame: fr(76), FromIncarnation: 1, Answer: "challenge ACK",
				AnswerFrame: &analyzer.FrameRef{Frame: 77}},
		}
		f.Flags.Set(analyzer.FlagReuseInTimeWait)
		f.TimeWaitUntil[C] = t0 + 2*s + 60*s
		f.Events = []analyzer.Event{
			ev(t0, 76, t0+1*s, C, "F.", 4294901871, 4294966296, 0, 502, EST, EST, "old incarnation 1"),
			ev(t0, 77, t0+1*s+20*us, S, ".", 1, 101, 0, 509, EST, EST, "challenge ACK"),
			ev(t0, 79, t0+2*s-1*ms, C, "F.", 101, 101, 0, 502, FW1, EST),
			ev(t0, 80, t0+2*s-900*us, S, "F.", 101, 102, 0, 509, FW1, LA),
			ev(t0, 82, t0+2*s, C, ".", 102, 102, 0, 502, TW, CLD),
		}
		f.Events[0].TSval, f.Events[0].TSecr = 1000, 2000
		f.Events[1].TSval, f.Events[1].TSecr = 3050, 4000
		f.Events[2].Elided = 1
		flows = append(flows, f)
	}

	// 10 close-wait: the server never closed.
	{
		t0 := base + 10*s
		f := &analyzer.Flow{
			ID: 10, Stream: 9, Incarnation: 1,
			Client: ap("198.18.0.1:40016"), Server: ap("198.18.0.2:8080"),
			Class: analyzer.ClassCloseWait, ActiveCloser: analyzer.CloserClient,
			Vantage: analyzer.VantageServer, VantageWhy: "SYN/ACK 0.03 ms after SYN",
			Verdict: "The client's FIN (frame 86) was acknowledged (frame 87) and the server never sent its FIN in the 75 s that followed: it sits in CLOSE_WAIT (an application that never called close()).",
			First:   fr(83), Last: fr(90), FirstAt: t0, LastAt: t0 + 75*s + 1*ms,
			Packets: [2]int64{5, 3}, Bytes: [2]uint64{20, 20},
			FinalState: [2]analyzer.State{FW2, CW},
			StuckSide:  S, StuckFor: 75*s + 1*ms - 2*ms,
			Decisive: map[string]analyzer.FrameRef{"first_fin": fr(86)},
		}
		f.Events = []analyzer.Event{
			ev(t0, 86, t0+1*ms, C, "F.", 21, 21, 0, 502, FW1, EST),
			ev(t0, 87, t0+2*ms, S, ".", 21, 22, 0, 509, FW2, CW),
			ev(t0, 90, t0+75*s+1*ms, S, ".", 20, 22, 0, 509, FW2, CW, "keepalive"),
		}
		f.Events[2].Elided = 2
		flows = append(flows, f)
	}

	// 11 fin-wait: a FIN never acknowledged, the peer went silent.
	{
		t0 := base + 20*s
		f := &analyzer.Flow{
			ID: 11, Stream: 10, Incarnation: 1,
			Client: ap("198.18.0.1:40018"), Server: ap("198.18.0.4:22"),
			Class: analyzer.ClassFINWait, ActiveCloser: analyzer.CloserClient,
			Vantage: analyzer.VantageClient, VantageWhy: "SYN/ACK 30 ms after SYN",
			Verdict: "The client's FIN (frame 93, sent again at frame 94) was never acknowledged before the capture ended.",
			First:   fr(91), Last: fr(94), FirstAt: t0, LastAt: t0 + 600*ms,
			Packets: [2]int64{3, 1}, Bytes: [2]uint64{0, 0},
			FinalState: [2]analyzer.State{FW1, EST},
			Decisive:   map[string]analyzer.FrameRef{"first_fin": fr(93)},
		}
		f.Flags.Set(analyzer.FlagFINRetransmit)
		f.Flags.Set(analyzer.FlagZeroWindow)
		f.Events = []analyzer.Event{
			ev(t0, 92, t0+50*ms, S, ".", 1, 1, 0, 0, EST, EST, "zero window"),
			ev(t0, 93, t0+200*ms, C, "F.", 1, 1, 0, 502, FW1, EST),
			ev(t0, 94, t0+600*ms, C, "F.", 1, 1, 0, 502, FW1, EST, "retransmission"),
		}
		flows = append(flows, f)
	}

	// 12 open, caught mid-connection.
	{
		t0 := base + 30*s
		f := &analyzer.Flow{
			ID: 12, Stream: 11, Incarnation: 1, DirGuessed: true,
			Client: ap("198.18.0.5:51000"), Server: ap("198.18.0.2:443"),
			Class: analyzer.ClassOpen, ActiveCloser: analyzer.CloserNone,
			Vantage: analyzer.VantageUnknown, VantageWhy: "no handshake",
			Verdict: "The capture ended before either side closed (last segment frame 97).",
			First:   fr(95), Last: fr(97), FirstAt: t0, LastAt: t0 + 1*s,
			Packets: [2]int64{2, 1}, Bytes: [2]uint64{300, 0},
			FinalState: [2]analyzer.State{PART, PART},
		}
		f.Flags.Set(analyzer.FlagNoHandshake)
		f.Events = []analyzer.Event{}
		flows = append(flows, f)
	}
	return flows
}

// emitOrder is the order a streaming analyzer could emit the fixtures in:
// flows that end early first, the still-open ones at the end.
func emitOrder(flows []*analyzer.Flow) []*analyzer.Flow {
	order := []int{5, 3, 4, 1, 7, 8, 9, 2, 6, 11, 10, 12}
	out := make([]*analyzer.Flow, 0, len(order))
	for _, id := range order {
		out = append(out, flows[id-1])
	}
	return out
}

func fixtureInputs() []capture.Input {
	return []capture.Input{{
		Name: "capture.pcap", Format: "pcap", LinkTypes: []string{"Ethernet"},
		Frames: 100, TCP: 97, NonTCP: 3,
		FirstAt: base, LastAt: base + 90*s,
	}}
}

func fixtureStats() analyzer.Stats {
	return analyzer.Stats{Segments: 97, Flows: 12, PeakOpen: 6}
}

package analyzer

import (
	"teardown/reassembly"
)

// Side is one of the two endpoints of a flow.
type Side uint8

// The sides. Client is the endpoint that sent the SYN, or, without a
// handshake, the one guessed from the ports (see Flow.DirGuessed).
const (
	Client Side = iota
	Server
)

// Other returns the opposite side.
func (s Side) Other() Side { return s ^ 1 }

// String returns "client" or "server".
func (s Side) String() string {
	if s == Client {
		return "client"
	}
	return "server"
}

// FrameRef points at one captured frame: the input it came from and its
// Wireshark frame number there.
type FrameRef struct {
	File  int   `json:"file"`
	Frame int64 `json:"frame"`
}

// Event is one segment on a flow's timeline, with the inferred state of
// both endpoints after it. States are inferred at the capture point: the
// tap sees a segment after its sender and before its receiver.
type Event struct {
	FrameRef
	At     int64            `json:"-"`      // Unix nanoseconds
	Rel    int64            `json:"rel_ns"` // nanoseconds since the flow's first frame
	From   Side             `json:"-"`      // sender
	Flags  reassembly.Flags `json:"-"`      // TCP flags
	Seq    uint32           `json:"seq"`    // relative to the sender's ISN (first seq - 1 without a SYN); for an old-incarnation segment, to that incarnation's
	Ack    uint32           `json:"ack"`    // relative to the receiver's ISN, likewise
	Len    uint32           `json:"len"`    // payload bytes
	Win    uint32           `json:"win"`    // window, scaled when the scale is known
	HasTS  bool             `json:"-"`      // the segment carried TCP timestamps
	TSval  uint32           `json:"tsval,omitempty"`
	TSecr  uint32           `json:"tsecr,omitempty"`
	Notes  []string         `json:"notes,omitempty"`  // "retransmission", "old incarnation 1", "zero window", "ACKs unseen data", ...
	Client State            `json:"client_state"`     // client's state after this segment
	Server State            `json:"server_state"`     // server's state after this segment
	Elided int              `json:"elided,omitempty"` // number of timeline events omitted just before this one
}

// Flow is one incarnation of a 5-tuple with its verdict. It is what the
// analyzer emits and the renderers print.
type Flow struct {
	ID          int                 // 1-based, in order of first frame
	Stream      int                 // tcp.stream index Wireshark would give (0-based)
	Incarnation int                 // 1, 2, ... per 5-tuple
	Client      reassembly.AddrPort // SYN sender (or guessed)
	Server      reassembly.AddrPort
	DirGuessed  bool // no SYN seen: client and server guessed from the ports

	Class        Class
	Flags        Flags
	ActiveCloser Closer
	Vantage      Vantage
	VantageWhy   string // the evidence for the vantage point
	Verdict      string // one sentence that cites frame numbers

	// TimeWaitUntil says, per side (indexed by Side), until when that
	// side holds TIME_WAIT (Unix ns, capture time); 0 when it does not.
	// Both are set after a simultaneous close.
	TimeWaitUntil [2]int64

	// CLOSE_WAIT / FIN_WAIT_2 left at the end of the capture: how long.
	StuckSide Side
	StuckFor  int64 // nanoseconds; 0 if not stuck

	First, Last   FrameRef
	FirstAt       int64 // Unix ns of the first frame
	LastAt        int64
	CaptureCopies int                 // segments captured twice (e.g. tcpdump -i any on a bridge), counted once
	Packets       [2]int64            // segments sent by client, server
	Bytes         [2]uint64           // payload bytes sent by client, server
	FinalState    [2]State            // client, server state at the end
	Decisive      map[string]FrameRef // named decisive frames: "first_fin", "rst", "retransmitted_fin", "old_segment", ...
	Events        []Event             // the timeline: the last data before the first FIN/RST to the end
	Reset         *ResetInfo          // set for rst-abort and rst-after-close
	LateDuplicate *LateDupInfo
}

// ResetInfo explains an RST.
type ResetInfo struct {
	By       Side     // the side that sent the RST
	Frame    FrameRef // the RST
	Cause    string   // "linger-0 abort", "close with unread data", "data after close", "other"
	Evidence string
}

// LateDupInfo explains a segment of an earlier incarnation that arrived in this one.
type LateDupInfo struct {
	Frame           FrameRef // the old segment (or the D-SACK that betrays it)
	FromIncarnation int      // the incarnation it belongs to
	Answer          string   // how the receiver answered: "challenge ACK", "RST", "dropped (no answer)", "D-SACK"
	AnswerFrame     *FrameRef
}

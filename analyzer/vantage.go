package analyzer

import (
	"fmt"

	"teardown/reassembly"
)

// vantageReason is the evidence behind a vantage verdict.
type vantageReason uint8

const (
	whyNone vantageReason = iota
	whyLinkClient
	whyLinkServer
	whyHandshake
	whyTTLClient
	whyTTLServer
	whyInconclusive // a handshake whose timing tells nothing
)

// vantage infers where the capture was taken for this flow:
//   - Linux cooked captures and live AF_PACKET record the direction: a
//     segment the capturing host sent itself is "outgoing".
//   - Handshake timing: near the client, SYN→SYN/ACK takes a round trip
//     and SYN/ACK→ACK is immediate; near the server it is the reverse; in
//     the middle both take part of the round trip.
//   - TTL: a packet captured on the host that sent it still carries the
//     initial TTL (64, 128 or 255).
func (f *flow) vantage() (Vantage, vantageReason) {
	switch {
	case f.d.ttlSeen[Client] && f.d.pktType[Client] == reassembly.PktOutgoing:
		return VantageClient, whyLinkClient
	case f.d.ttlSeen[Server] && f.d.pktType[Server] == reassembly.PktOutgoing:
		return VantageServer, whyLinkServer
	}
	if d1, d2, ok := f.handshakeTimes(); ok {
		// Below tens of microseconds both gaps are host processing, not
		// path: a fast local link tells nothing.
		const path = int64(50e3) // 50 µs
		switch {
		case d1 > 4*d2 && d1 >= path:
			return VantageClient, whyHandshake
		case d2 > 4*d1 && d2 >= path:
			return VantageServer, whyHandshake
		case d1 >= 2*path && d2 >= 2*path:
			return VantageMiddle, whyHandshake
		}
	}
	ci, si := f.d.ttlSeen[Client] && initialTTL(f.d.ttl[Client]), f.d.ttlSeen[Server] && initialTTL(f.d.ttl[Server])
	switch {
	case ci && f.d.ttlSeen[Server] && !si:
		return VantageClient, whyTTLClient
	case si && f.d.ttlSeen[Client] && !ci:
		return VantageServer, whyTTLServer
	}
	if _, _, ok := f.handshakeTimes(); ok {
		return VantageUnknown, whyInconclusive
	}
	return VantageUnknown, whyNone
}

// handshakeTimes returns SYN→SYN/ACK and SYN/ACK→ACK.
func (f *flow) handshakeTimes() (d1, d2 int64, ok bool) {
	if !f.d.syn.ok || !f.d.synAck.ok || !f.d.hsAck.ok {
		return 0, 0, false
	}
	d1, d2 = f.d.synAck.at-f.d.syn.at, f.d.hsAck.at-f.d.synAck.at
	return d1, d2, d1 >= 0 && d2 >= 0
}

// vantageWhy explains a vantage verdict in words.
func (f *flow) vantageWhy(v Vantage, r vantageReason) string {
	switch r {
	case whyLinkClient:
		return "the link layer marks the client's segments as outgoing"
	case whyLinkServer:
		return "the link layer marks the server's segments as outgoing"
	case whyHandshake:
		d1, d2, _ := f.handshakeTimes()
		s := fmt.Sprintf("SYN→SYN/ACK took %s and SYN/ACK→ACK %s", dur(d1), dur(d2))
		if v == VantageMiddle {
			s += ", both part of the round trip"
		}
		return s
	case whyTTLClient:
		return fmt.Sprintf("the client's TTL %d is an initial value, the server's %d is not", f.d.ttl[Client], f.d.ttl[Server])
	case whyTTLServer:
		return fmt.Sprintf("the server's TTL %d is an initial value, the client's %d is not", f.d.ttl[Server], f.d.ttl[Client])
	case whyInconclusive:
		d1, d2, _ := f.handshakeTimes()
		return fmt.Sprintf("SYN→SYN/ACK took %s and SYN/ACK→ACK %s, too close or too short to tell, and no link direction or TTL difference", dur(d1), dur(d2))
	}
	return "no handshake timing, link direction or TTL difference to tell"
}

func initialTTL(t uint8) bool { return t == 64 || t == 128 || t == 255 }

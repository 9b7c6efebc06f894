package analyzer

import (
	"fmt"

	"teardown/reassembly"
)

// vantage infers where the capture was taken for this flow, with the
// evidence:
//   - Linux cooked captures and live AF_PACKET record the direction: a
//     segment the capturing host sent itself is "outgoing".
//   - Handshake timing: near the client, SYN→SYN/ACK takes a round trip
//     and SYN/ACK→ACK is immediate; near the server it is the reverse; in
//     the middle both take part of the round trip.
//   - TTL: a packet captured on the host that sent it still carries the
//     initial TTL (64, 128 or 255).
func (f *flow) vantage() (Vantage, string) {
	pc, ps := f.pktType[Client], f.pktType[Server]
	switch {
	case f.ttlSeen[Client] && pc == reassembly.PktOutgoing:
		return VantageClient, "the link layer marks the client's segments as outgoing"
	case f.ttlSeen[Server] && ps == reassembly.PktOutgoing:
		return VantageServer, "the link layer marks the server's segments as outgoing"
	}
	if f.syn.ok && f.synAck.ok && f.hsAck.ok {
		d1 := f.synAck.at - f.syn.at
		d2 := f.hsAck.at - f.synAck.at
		if d1 >= 0 && d2 >= 0 {
			switch {
			case d1 > 4*d2:
				return VantageClient, fmt.Sprintf("SYN→SYN/ACK took %s and SYN/ACK→ACK %s", dur(d1), dur(d2))
			case d2 > 4*d1:
				return VantageServer, fmt.Sprintf("SYN→SYN/ACK took %s and SYN/ACK→ACK %s", dur(d1), dur(d2))
			case d1 > 0 && d2 > 0:
				return VantageMiddle, fmt.Sprintf("SYN→SYN/ACK took %s and SYN/ACK→ACK %s, both part of the round trip", dur(d1), dur(d2))
			}
		}
	}
	ci, si := f.ttlSeen[Client] && initialTTL(f.ttl[Client]), f.ttlSeen[Server] && initialTTL(f.ttl[Server])
	switch {
	case ci && f.ttlSeen[Server] && !si:
		return VantageClient, fmt.Sprintf("the client's TTL %d is an initial value, the server's %d is not", f.ttl[Client], f.ttl[Server])
	case si && f.ttlSeen[Client] && !ci:
		return VantageServer, fmt.Sprintf("the server's TTL %d is an initial value, the client's %d is not", f.ttl[Server], f.ttl[Client])
	}
	return VantageUnknown, "no handshake timing, link direction or TTL difference to tell"
}

func initialTTL(t uint8) bool { return t == 64 || t == 128 || t == 255 }

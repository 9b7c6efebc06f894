// Package reassembly turns captured frames into TCP segments and keeps the
// per-direction sequence bookkeeping the analyzer needs. It does not
// reassemble payload bytes: teardown needs every pure ACK, RST and
// retransmitted FIN with its timestamp, not the stream contents.
package reassembly

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// TCP header flag bits, as they appear in byte 13 of the header.
const (
	FlagFIN Flags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Flags is the set of TCP header flags of a segment.
type Flags uint8

// Has reports whether every flag in m is set.
func (f Flags) Has(m Flags) bool { return f&m == m }

// Any reports whether any flag in m is set.
func (f Flags) Any(m Flags) bool { return f&m != 0 }

// String writes the flags the way tcpdump does: "S", "S.", "F.", "R.", "P.", "." for a bare ACK.
func (f Flags) String() string {
	var b []byte
	if f&FlagSYN != 0 {
		b = append(b, 'S')
	}
	if f&FlagFIN != 0 {
		b = append(b, 'F')
	}
	if f&FlagRST != 0 {
		b = append(b, 'R')
	}
	if f&FlagPSH != 0 {
		b = append(b, 'P')
	}
	if f&FlagURG != 0 {
		b = append(b, 'U')
	}
	if f&FlagECE != 0 {
		b = append(b, 'E')
	}
	if f&FlagCWR != 0 {
		b = append(b, 'W')
	}
	if f&FlagACK != 0 {
		b = append(b, '.')
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// Addr is an IP address in 16-byte form; IPv4 addresses are stored
// IPv4-mapped (::ffff:a.b.c.d). It is comparable and cheap as a map key,
// unlike netip.Addr whose zone pointer makes hashing slower.
type Addr [16]byte

// AddrFrom4 returns the IPv4-mapped form of a.
func AddrFrom4(a [4]byte) Addr {
	return Addr{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// Is4 reports whether a is an IPv4-mapped address.
func (a Addr) Is4() bool {
	return a[0]|a[1]|a[2]|a[3]|a[4]|a[5]|a[6]|a[7]|a[8]|a[9] == 0 && a[10] == 0xff && a[11] == 0xff
}

// Netip converts a to a netip.Addr (an IPv4 address for mapped addresses).
func (a Addr) Netip() netip.Addr { return netip.AddrFrom16(a).Unmap() }

// String formats a as netip does.
func (a Addr) String() string { return a.Netip().String() }

// AddrPort is an address and a TCP port.
type AddrPort struct {
	Addr Addr
	Port uint16
}

// String gives "198.18.0.1:40000" or "[2001:db8::1]:40000".
func (a AddrPort) String() string { return string(a.AppendTo(make([]byte, 0, 48))) }

// AppendTo appends a as String gives it.
func (a AddrPort) AppendTo(b []byte) []byte {
	ip := a.Addr.Netip()
	if ip.Is4() {
		b = ip.AppendTo(b)
	} else {
		b = append(ip.AppendTo(append(b, '[')), ']')
	}
	return strconv.AppendUint(append(b, ':'), uint64(a.Port), 10)
}

// Less orders endpoints by address, then port.
func (a AddrPort) Less(b AddrPort) bool {
	// The address bytes in order are two big-endian words: comparing those
	// is a byte-by-byte comparison without its loop.
	a0, b0 := binary.BigEndian.Uint64(a.Addr[:8]), binary.BigEndian.Uint64(b.Addr[:8])
	if a0 != b0 {
		return a0 < b0
	}
	a1, b1 := binary.BigEndian.Uint64(a.Addr[8:]), binary.BigEndian.Uint64(b.Addr[8:])
	if a1 != b1 {
		return a1 < b1
	}
	return a.Port < b.Port
}

// Key identifies a 5-tuple independent of direction: Lo is the smaller
// endpoint. The protocol is always TCP.
type Key struct {
	Lo, Hi AddrPort
}

// KeyOf returns the canonical key of the segment's 5-tuple and whether the
// segment travels from Hi to Lo (reversed).
func KeyOf(s *Segment) (k Key, reversed bool) {
	src := AddrPort{s.Src, s.SrcPort}
	dst := AddrPort{s.Dst, s.DstPort}
	if dst.Less(src) {
		return Key{Lo: dst, Hi: src}, true
	}
	return Key{Lo: src, Hi: dst}, false
}

// SACKBlock is one SACK option block: [Left, Right).
type SACKBlock struct {
	Left, Right Seq
}

// Link-layer packet direction, from Linux cooked captures (SLL/SLL2
// packet type) or live AF_PACKET; DirUnknown where the link type has none.
const (
	PktHost      uint8 = 0 // addressed to this host (incoming)
	PktBroadcast uint8 = 1
	PktMulticast uint8 = 2
	PktOtherHost uint8 = 3
	PktOutgoing  uint8 = 4 // sent by this host
	PktUnknown   uint8 = 0xff
)

// Segment is one captured TCP segment, decoded into plain values. It holds
// no reference to the capture buffer, so it stays valid after the next read.
type Segment struct {
	File  int   // index of the input the frame came from (0 for a single file)
	Frame int64 // Wireshark frame number: 1-based, file order, counting every record
	At    int64 // capture timestamp, Unix nanoseconds
	Iface int   // pcapng interface index (0 for pcap)

	Src, Dst         Addr
	SrcPort, DstPort uint16
	V6               bool
	TTL              uint8  // IPv4 TTL or IPv6 hop limit
	IPID             uint16 // IPv4 identification (0 for IPv6)
	PktType          uint8  // PktHost, PktOutgoing, ... or PktUnknown

	Seq, Ack Seq
	Flags    Flags
	Win      uint16 // raw window field, not scaled
	Len      uint32 // TCP payload length from the IP length (not the captured length)

	// TCP options. WScale is -1 when absent.
	HasTS        bool
	TSval, TSecr uint32
	MSS          uint16
	WScale       int8
	SACKPerm     bool
	NSACK        uint8
	SACK         [4]SACKBlock

	// CapTrunc is set when the frame was cut by the snap length inside the
	// TCP header or options (payload cuts are normal and not flagged).
	CapTrunc bool
}

// End returns the sequence number just past the segment: SYN and FIN each
// occupy one number of sequence space.
func (s *Segment) End() Seq {
	n := s.Len
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return s.Seq.Add(n)
}

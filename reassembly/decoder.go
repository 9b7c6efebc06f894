package reassembly

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// LinkType is a pcap/pcapng link-layer header type: a LINKTYPE_ value from
// https://www.tcpdump.org/linktypes.html. It is the same number as
// gopacket's layers.LinkType; reassembly keeps its own type so the hot path
// does not depend on gopacket's decoders.
type LinkType uint16

// The link types Decode understands.
const (
	LinkNull      LinkType = 0   // BSD loopback, address family in the capturing host's byte order
	LinkEthernet  LinkType = 1   // Ethernet II, with any number (bounded) of 802.1Q/802.1ad tags
	LinkRawDLT12  LinkType = 12  // raw IP, DLT_RAW on most BSDs as written by old libpcap
	LinkRawDLT14  LinkType = 14  // raw IP, DLT_RAW on OpenBSD
	LinkRaw       LinkType = 101 // raw IP (IPv4 or IPv6, from the version nibble)
	LinkLoop      LinkType = 108 // OpenBSD loopback, address family in network byte order
	LinkLinuxSLL  LinkType = 113 // Linux cooked capture v1 (tcpdump -i any)
	LinkIPv4      LinkType = 228 // raw IPv4
	LinkIPv6      LinkType = 229 // raw IPv6
	LinkLinuxSLL2 LinkType = 276 // Linux cooked capture v2 (tcpdump -i any, libpcap >= 1.10)
)

// String returns a short name such as "Ethernet" or "Linux SLL2", or
// "LinkType(N)" for a type Decode does not support.
func (l LinkType) String() string {
	switch l {
	case LinkNull:
		return "Null"
	case LinkEthernet:
		return "Ethernet"
	case LinkRawDLT12, LinkRawDLT14, LinkRaw:
		return "Raw IP"
	case LinkLoop:
		return "Loop"
	case LinkLinuxSLL:
		return "Linux SLL"
	case LinkIPv4:
		return "IPv4"
	case LinkIPv6:
		return "IPv6"
	case LinkLinuxSLL2:
		return "Linux SLL2"
	}
	return "LinkType(" + strconv.Itoa(int(l)) + ")"
}

// Supported reports whether Decode understands link type l.
func (l LinkType) Supported() bool {
	switch l {
	case LinkNull, LinkEthernet, LinkRawDLT12, LinkRawDLT14, LinkRaw, LinkLoop,
		LinkLinuxSLL, LinkIPv4, LinkIPv6, LinkLinuxSLL2:
		return true
	}
	return false
}

// Status says what Decode found in a frame.
type Status uint8

// The statuses of a frame. Only StatusTCP fills the TCP fields of the segment.
const (
	// StatusTCP is a TCP segment; the Segment is filled. CapTrunc is set if
	// the snap length cut the TCP options.
	StatusTCP Status = iota
	// StatusNotTCP is a frame that carries something other than TCP (ARP,
	// UDP, ICMP, an unsupported link type, ...). It is counted, not an error.
	StatusNotTCP
	// StatusFragment is a TCP-carrying IPv4 or IPv6 fragment. Fragments are
	// not reassembled; the addresses, TTL and IPID are filled.
	StatusFragment
	// StatusTruncated is a frame the snap length cut before the end of the
	// base (20-byte) TCP header.
	StatusTruncated
	// StatusMalformed is a frame with an impossible header: IPv4 IHL < 5, TCP
	// data offset < 5, an IP length too short for the headers it holds.
	StatusMalformed
)

var statusNames = [...]string{"tcp", "not-tcp", "fragment", "truncated", "malformed"}

// String returns "tcp", "not-tcp", "fragment", "truncated" or "malformed".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Result is the outcome of Decode. Reason is one of the Reason constants
// (never built at run time, so returning it does not allocate); it is
// empty for a complete TCP segment.
type Result struct {
	Status Status
	Reason string
}

// Reasons reported in Result.Reason. They are short, lowercase and fixed, so
// that callers can count them or use them in warnings.
const (
	ReasonLinkType       = "unsupported link type"
	ReasonLinkTrunc      = "link-layer header truncated"
	ReasonVLANDepth      = "too many vlan tags"
	ReasonNotIP          = "not ip"
	ReasonNullFamily     = "loopback address family not ip"
	ReasonIPVersion      = "bad ip version"
	ReasonIPv4Trunc      = "ipv4 header truncated"
	ReasonIPv4IHL        = "ipv4 header length < 20"
	ReasonIPv4Total      = "ipv4 total length < header length"
	ReasonIPv4Frag       = "ipv4 fragment"
	ReasonIPv6Trunc      = "ipv6 header truncated"
	ReasonIPv6ExtTrunc   = "ipv6 extension header truncated"
	ReasonIPv6ExtLen     = "ipv6 extension header beyond payload length"
	ReasonIPv6ExtDepth   = "too many ipv6 extension headers"
	ReasonIPv6Frag       = "ipv6 fragment"
	ReasonNotTCPProto    = "ip protocol not tcp"
	ReasonTCPTrunc       = "tcp header truncated"
	ReasonTCPBeyondIP    = "tcp header beyond ip length"
	ReasonTCPOffset      = "tcp data offset < 5"
	ReasonTCPOptionsCut  = "tcp options truncated"
	ReasonTCPOptionsOver = "tcp data offset beyond ip length"
)

// Bounds on header chains, so hostile frames cannot make Decode loop.
const (
	maxVLANTags  = 8
	maxIPv6Ext   = 16
	maxSACKBlock = len(Segment{}.SACK)
)

// EtherTypes and IP protocol numbers Decode follows.
const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	etherVLAN   = 0x8100 // 802.1Q
	etherQinQ   = 0x88a8 // 802.1ad
	etherQinQ91 = 0x9100 // pre-standard QinQ
	etherQinQ92 = 0x9200

	protoTCP       = 6
	protoHopByHop  = 0
	protoRouting   = 43
	protoFragment  = 44
	protoAH        = 51
	protoDestOpts  = 60
	protoMobility  = 135
	protoHIP       = 139
	protoShim6     = 140
	protoIPv6NoNxt = 59
)

// Decoder turns a captured frame into a Segment. It is hand-written rather
// than built on gopacket's DecodingLayerParser: it only extracts the scalar
// fields teardown needs, allocates nothing and is several times faster (see
// BenchmarkDecode and BenchmarkGopacketParser).
//
// The zero value is ready to use. A Decoder is not safe for concurrent use;
// give each goroutine its own.
type Decoder struct{}

// Decode decodes one frame of link type link into seg. It overwrites every
// field of seg except File, Frame, At and Iface, which belong to the caller
// (the capture reader). It never panics and never allocates; data is not
// retained.
//
// The payload length (seg.Len) comes from the IP total length (IPv4) or
// payload length (IPv6), not from the captured length, so snap-length cuts
// in the payload are invisible. An IP length of 0, as written by captures
// of TSO/GSO traffic and IPv6 jumbograms, means "use the captured length".
// Ethernet padding and trailers beyond the IP length are ignored.
func (d *Decoder) Decode(link LinkType, data []byte, seg *Segment) Result {
	file, frame, at, iface := seg.File, seg.Frame, seg.At, seg.Iface
	*seg = Segment{} // a plain clear: much cheaper than a composite literal
	seg.File, seg.Frame, seg.At, seg.Iface = file, frame, at, iface
	seg.PktType, seg.WScale = PktUnknown, -1
	var etype uint16
	switch link {
	case LinkEthernet:
		if len(data) < 14 {
			return Result{StatusTruncated, ReasonLinkTrunc}
		}
		etype = binary.BigEndian.Uint16(data[12:14])
		data = data[14:]
	case LinkLinuxSLL:
		// packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
		if len(data) < 16 {
			return Result{StatusTruncated, ReasonLinkTrunc}
		}
		if pt := binary.BigEndian.Uint16(data[0:2]); pt < uint16(PktUnknown) {
			seg.PktType = uint8(pt)
		}
		etype = binary.BigEndian.Uint16(data[14:16])
		data = data[16:]
	case LinkLinuxSLL2:
		// protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1)
		// address length(1) address(8)
		if len(data) < 20 {
			return Result{StatusTruncated, ReasonLinkTrunc}
		}
		etype = binary.BigEndian.Uint16(data[0:2])
		seg.PktType = data[10]
		data = data[20:]
	case LinkRaw, LinkRawDLT12, LinkRawDLT14:
		if len(data) < 1 {
			return Result{StatusTruncated, ReasonIPv4Trunc}
		}
		switch data[0] >> 4 {
		case 4:
			return d.ipv4(data, seg)
		case 6:
			return d.ipv6(data, seg)
		}
		return Result{StatusMalformed, ReasonIPVersion}
	case LinkIPv4:
		return d.ipv4(data, seg)
	case LinkIPv6:
		return d.ipv6(data, seg)
	case LinkNull, LinkLoop:
		// A 4-byte address family. NULL uses the byte order of the host
		// that captured, LOOP network order; some writers get it wrong, so
		// accept both: families are small, so a value with high bits set
		// is byte-swapped (as Wireshark does).
		if len(data) < 4 {
			return Result{StatusTruncated, ReasonLinkTrunc}
		}
		fam := binary.LittleEndian.Uint32(data[0:4])
		if fam&0xffff0000 != 0 {
			fam = bits.ReverseBytes32(fam)
		}
		data = data[4:]
		switch fam {
		case 2: // AF_INET everywhere
			return d.ipv4(data, seg)
		case 24, 28, 30, 10: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin, Linux
			return d.ipv6(data, seg)
		}
		return Result{StatusNotTCP, ReasonNullFamily}
	default:
		return Result{StatusNotTCP, ReasonLinkType}
	}

	// EtherType dispatch, shared by Ethernet and the cooked captures (which
	// can carry VLAN tags when the kernel did not strip them).
	for range maxVLANTags + 1 {
		switch etype {
		case etherIPv4:
			return d.ipv4(data, seg)
		case etherIPv6:
			return d.ipv6(data, seg)
		case etherVLAN, etherQinQ, etherQinQ91, etherQinQ92:
			// TCI(2) inner EtherType(2)
			if len(data) < 4 {
				return Result{StatusTruncated, ReasonLinkTrunc}
			}
			etype = binary.BigEndian.Uint16(data[2:4])
			data = data[4:]
		default:
			return Result{StatusNotTCP, ReasonNotIP}
		}
	}
	return Result{StatusMalformed, ReasonVLANDepth}
}

// ipv4 decodes an IPv4 header (with options) and hands the TCP part on.
func (d *Decoder) ipv4(b []byte, seg *Segment) Result {
	if len(b) < 20 {
		return Result{StatusTruncated, ReasonIPv4Trunc}
	}
	if b[0]>>4 != 4 {
		return Result{StatusMalformed, ReasonIPVersion}
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return Result{StatusMalformed, ReasonIPv4IHL}
	}
	seg.TTL = b[8]
	seg.IPID = binary.BigEndian.Uint16(b[4:6])
	// IPv4-mapped, as AddrFrom4 does, written in place into the cleared
	// segment (building the 16-byte array and copying it costs twice as much).
	seg.Src[10], seg.Src[11] = 0xff, 0xff
	seg.Dst[10], seg.Dst[11] = 0xff, 0xff
	copy(seg.Src[12:16], b[12:16])
	copy(seg.Dst[12:16], b[16:20])
	if len(b) < ihl {
		return Result{StatusTruncated, ReasonIPv4Trunc}
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	known := total != 0 // 0: TSO/GSO capture, the length is what was captured
	if !known {
		total = len(b)
	} else if total < ihl {
		return Result{StatusMalformed, ReasonIPv4Total}
	}
	if b[9] != protoTCP {
		return Result{StatusNotTCP, ReasonNotTCPProto}
	}
	if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 { // MF or a fragment offset
		return Result{StatusFragment, ReasonIPv4Frag}
	}
	if total < len(b) {
		b = b[:total] // Ethernet padding or trailer
	}
	return d.tcp(b[ihl:], total-ihl, known, seg)
}

// ipv6 decodes an IPv6 header and its extension headers.
func (d *Decoder) ipv6(b []byte, seg *Segment) Result {
	if len(b) < 40 {
		return Result{StatusTruncated, ReasonIPv6Trunc}
	}
	if b[0]>>4 != 6 {
		return Result{StatusMalformed, ReasonIPVersion}
	}
	seg.V6 = true
	seg.TTL = b[7]
	seg.Src = Addr(b[8:24])
	seg.Dst = Addr(b[24:40])
	total := 40 + int(binary.BigEndian.Uint16(b[4:6]))
	known := total != 40 // 0: jumbogram or TSO/GSO capture
	if !known {
		total = len(b)
	}
	if total < len(b) {
		b = b[:total]
	}
	next := b[6]
	off := 40
	for range maxIPv6Ext {
		var hlen int
		switch next {
		case protoTCP:
			return d.tcp(b[off:], total-off, known, seg)
		case protoHopByHop, protoRouting, protoDestOpts, protoMobility, protoHIP, protoShim6:
			if len(b) < off+2 {
				return extShort(off+2, total, known)
			}
			hlen = (int(b[off+1]) + 1) * 8
		case protoAH:
			if len(b) < off+2 {
				return extShort(off+2, total, known)
			}
			hlen = (int(b[off+1]) + 2) * 4
		case protoFragment:
			if len(b) < off+8 {
				return extShort(off+8, total, known)
			}
			// An atomic fragment (offset 0, M clear; RFC 6946) is a whole
			// packet: carry on with the next header.
			if binary.BigEndian.Uint16(b[off+2:off+4])&0xfff9 != 0 {
				switch b[off] {
				case protoTCP, protoHopByHop, protoRouting, protoDestOpts, protoAH:
					return Result{StatusFragment, ReasonIPv6Frag}
				}
				return Result{StatusNotTCP, ReasonNotTCPProto}
			}
			hlen = 8
		default: // UDP, ICMPv6, ESP, no next header, ...
			return Result{StatusNotTCP, ReasonNotTCPProto}
		}
		if len(b) < off+hlen {
			return extShort(off+hlen, total, known)
		}
		next = b[off]
		off += hlen
	}
	return Result{StatusMalformed, ReasonIPv6ExtDepth}
}

// extShort reports an IPv6 extension header that needs need bytes of the
// packet when fewer were captured: cut by the snap length, or (when the
// payload length is known and too short for it) malformed.
func extShort(need, total int, known bool) Result {
	if known && need > total {
		return Result{StatusMalformed, ReasonIPv6ExtLen}
	}
	return Result{StatusTruncated, ReasonIPv6ExtTrunc}
}

// tcp decodes a TCP header and its options. b holds the captured bytes of
// the segment (never beyond the IP length); l4len is the segment length the
// IP header gives, trusted only when known.
func (d *Decoder) tcp(b []byte, l4len int, known bool, seg *Segment) Result {
	if len(b) < 20 {
		if known && l4len < 20 {
			return Result{StatusMalformed, ReasonTCPBeyondIP}
		}
		return Result{StatusTruncated, ReasonTCPTrunc}
	}
	seg.SrcPort = binary.BigEndian.Uint16(b[0:2])
	seg.DstPort = binary.BigEndian.Uint16(b[2:4])
	seg.Seq = Seq(binary.BigEndian.Uint32(b[4:8]))
	seg.Ack = Seq(binary.BigEndian.Uint32(b[8:12]))
	seg.Flags = Flags(b[13])
	seg.Win = binary.BigEndian.Uint16(b[14:16])
	doff := int(b[12]>>4) * 4
	if doff < 20 {
		return Result{StatusMalformed, ReasonTCPOffset}
	}
	if doff > l4len {
		if known {
			return Result{StatusMalformed, ReasonTCPOptionsOver}
		}
		l4len = doff // unknown IP length and the capture cut the options
	}
	seg.Len = uint32(l4len - doff)
	res := Result{StatusTCP, ""}
	opts := b[20:]
	if doff <= len(b) {
		opts = b[20:doff]
	} else {
		seg.CapTrunc = true
		res.Reason = ReasonTCPOptionsCut
	}
	if len(opts) > 0 {
		parseOptions(opts, seg)
	}
	return res
}

// parseOptions fills the TCP option fields of seg. It stops at End of
// Option List, at an option whose length is below 2 (which would otherwise
// loop) and at an option that runs past the end of the header or the
// capture. Options with the wrong length for their kind are skipped.
func parseOptions(o []byte, seg *Segment) {
	for len(o) > 0 {
		kind := o[0]
		if kind == 0 { // End of Option List
			return
		}
		if kind == 1 { // No-Operation
			o = o[1:]
			continue
		}
		if len(o) < 2 {
			return
		}
		n := int(o[1])
		if n < 2 || n > len(o) {
			return
		}
		switch kind {
		case 2: // MSS
			if n == 4 {
				seg.MSS = binary.BigEndian.Uint16(o[2:4])
			}
		case 3: // Window Scale; RFC 7323 §2.3: a shift above 14 is used as 14
			if n == 3 {
				seg.WScale = int8(min(o[2], 14))
			}
		case 4: // SACK permitted
			if n == 2 {
				seg.SACKPerm = true
			}
		case 5: // SACK: 1 to 4 blocks of two sequence numbers
			blocks := o[2:n]
			k := 0
			for len(blocks) >= 8 && k < maxSACKBlock {
				seg.SACK[k] = SACKBlock{
					Left:  Seq(binary.BigEndian.Uint32(blocks[0:4])),
					Right: Seq(binary.BigEndian.Uint32(blocks[4:8])),
				}
				blocks = blocks[8:]
				k++
			}
			seg.NSACK = uint8(k)
		case 8: // Timestamps
			if n == 10 {
				seg.HasTS = true
				seg.TSval = binary.BigEndian.Uint32(o[2:6])
				seg.TSecr = binary.BigEndian.Uint32(o[6:10])
			}
		}
		o = o[n:]
	}
}

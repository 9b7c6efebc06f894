package reassembly

import (
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Builders for test frames. Valid IP and TCP headers come from gopacket's
// serializers; link-layer headers and hostile mutations are written by hand.

var (
	testSrc4 = net.IP{198, 18, 0, 1}
	testDst4 = net.IP{198, 18, 0, 2}
	testSrc6 = net.ParseIP("2001:db8::1")
	testDst6 = net.ParseIP("2001:db8::2")
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatalf("serializing: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// synTCP is a SYN carrying the options Linux sends.
func synTCP() *layers.TCP {
	return &layers.TCP{
		SrcPort: 40000, DstPort: 80, Seq: 1000, SYN: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0x12, 0x34, 0, 0, 0, 0}},
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
}

// synWant is what Decode must return for synTCP over IPv4 with ttl 64, id 1.
func synWant() Segment {
	return Segment{
		Src: AddrFrom4([4]byte(testSrc4)), Dst: AddrFrom4([4]byte(testDst4)),
		SrcPort: 40000, DstPort: 80, TTL: 64, IPID: 1, PktType: PktUnknown,
		Seq: 1000, Flags: FlagSYN, Win: 64240,
		HasTS: true, TSval: 0x1234, MSS: 1460, WScale: 7, SACKPerm: true,
	}
}

func dataTCP() *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 502}
}

func dataWant(n uint32) Segment {
	return Segment{
		Src: AddrFrom4([4]byte(testSrc4)), Dst: AddrFrom4([4]byte(testDst4)),
		SrcPort: 40000, DstPort: 80, TTL: 64, IPID: 1, PktType: PktUnknown,
		Seq: 1001, Ack: 5001, Flags: FlagACK | FlagPSH, Win: 502, Len: n, WScale: -1,
	}
}

func v4(t testing.TB, tcp *layers.TCP, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: 1, Protocol: layers.IPProtocolTCP, SrcIP: testSrc4, DstIP: testDst4}
	return serialize(t, ip, tcp, gopacket.Payload(payload))
}

func v4opts(t testing.TB, tcp *layers.TCP) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: 1, Protocol: layers.IPProtocolTCP, SrcIP: testSrc4, DstIP: testDst4,
		Options: []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}}} // record route
	return serialize(t, ip, tcp)
}

func v6(t testing.TB, tcp *layers.TCP, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv6{Version: 6, HopLimit: 63, NextHeader: layers.IPProtocolTCP, SrcIP: testSrc6, DstIP: testDst6}
	return serialize(t, ip, tcp, gopacket.Payload(payload))
}

// v6ext builds IPv6 + raw extension header bytes (first next header first)
// + TCP.
func v6ext(t testing.TB, first layers.IPProtocol, ext []byte, tcp *layers.TCP) []byte {
	t.Helper()
	ip := &layers.IPv6{Version: 6, HopLimit: 63, NextHeader: first, SrcIP: testSrc6, DstIP: testDst6}
	return serialize(t, ip, gopacket.Payload(append(append([]byte(nil), ext...), serialize(t, tcp)...)))
}

func want6(s Segment) Segment {
	s.Src, s.Dst = Addr(testSrc6.To16()), Addr(testDst6.To16())
	s.V6, s.TTL, s.IPID = true, 63, 0
	return s
}

func eth(etype uint16, rest []byte) []byte {
	b := make([]byte, 14, 14+len(rest))
	copy(b, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[12:], etype)
	return append(b, rest...)
}

// vlan prepends tags (outer first) before inner.
func vlan(tpids []uint16, inner uint16, rest []byte) []byte {
	var b []byte
	for i, tp := range tpids {
		if i == 0 {
			continue
		}
		b = binary.BigEndian.AppendUint16(b, uint16(100+i))
		b = binary.BigEndian.AppendUint16(b, tp)
	}
	b = binary.BigEndian.AppendUint16(b, 100)
	b = binary.BigEndian.AppendUint16(b, inner)
	return eth(tpids[0], append(b, rest...))
}

func sll(pkttype, proto uint16, rest []byte) []byte {
	b := make([]byte, 16, 16+len(rest))
	binary.BigEndian.PutUint16(b[0:], pkttype)
	binary.BigEndian.PutUint16(b[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(b[4:], 6)
	copy(b[6:], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[14:], proto)
	return append(b, rest...)
}

func sll2(pkttype uint8, proto uint16, rest []byte) []byte {
	b := make([]byte, 20, 20+len(rest))
	binary.BigEndian.PutUint16(b[0:], proto)
	binary.BigEndian.PutUint32(b[4:], 2) // ifindex
	binary.BigEndian.PutUint16(b[8:], 1) // ARPHRD_ETHER
	b[10] = pkttype
	b[11] = 6
	copy(b[12:], []byte{2, 0, 0, 0, 0, 1})
	return append(b, rest...)
}

func null(fam uint32, bigEndian bool, rest []byte) []byte {
	b := make([]byte, 4, 4+len(rest))
	if bigEndian {
		binary.BigEndian.PutUint32(b, fam)
	} else {
		binary.LittleEndian.PutUint32(b, fam)
	}
	return append(b, rest...)
}

// mutate returns a copy of b with f applied.
func mutate(b []byte, f func(b []byte) []byte) []byte {
	return f(append([]byte(nil), b...))
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type decodeCase struct {
	name string
	link LinkType
	data []byte
	want Result
	seg  *Segment // checked when not nil (all fields except File/Frame/At/Iface)
}

func decodeCases(t testing.TB) []decodeCase {
	syn4 := v4(t, synTCP(), nil)
	data4 := v4(t, dataTCP(), []byte("hello"))
	syn6 := v6(t, synTCP(), nil)
	tcpOnly := serialize(t, synTCP())
	ok := Result{StatusTCP, ""}
	p := func(s Segment) *Segment { return &s }
	with := func(s Segment, f func(*Segment)) *Segment { f(&s); return &s }

	// IPv6 extension headers, each 8 bytes, as raw bytes: next header,
	// length (in 8-byte units beyond the first), then padding options.
	hbh := func(next byte) []byte { return []byte{next, 0, 1, 4, 0, 0, 0, 0} } // PadN
	rt := func(next byte) []byte { return []byte{next, 0, 0, 0, 0, 0, 0, 0} }  // type 0, 0 left
	frag := func(next byte, off uint16) []byte {                               // off is offset<<3 | M
		return []byte{next, 0, byte(off >> 8), byte(off), 0, 0, 0, 9}
	}
	ah := func(next byte) []byte { return []byte{next, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1} } // (1+2)*4 = 12 bytes
	chain := append(append(append(append(hbh(60), hbh(43)...), rt(44)...), frag(51, 0)...), ah(6)...)

	sackTCP := &layers.TCP{SrcPort: 80, DstPort: 40000, Seq: 7, Ack: 9, ACK: true, Window: 1,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindSACK, OptionLength: 34, OptionData: mustHex(t,
				"00000010 00000020  00000030 00000040  00000050 00000060  fffffff0 00000010")},
		}}
	sackWant := Segment{
		Src: AddrFrom4([4]byte(testSrc4)), Dst: AddrFrom4([4]byte(testDst4)),
		SrcPort: 80, DstPort: 40000, TTL: 64, IPID: 1, PktType: PktUnknown,
		Seq: 7, Ack: 9, Flags: FlagACK, Win: 1, WScale: -1, NSACK: 4,
		SACK: [4]SACKBlock{{0x10, 0x20}, {0x30, 0x40}, {0x50, 0x60}, {0xfffffff0, 0x10}},
	}

	// TCP header with raw options (data offset set from their length).
	rawOpts := func(opts string) []byte {
		o := mustHex(t, opts)
		h := serialize(t, dataTCP())
		if len(o)%4 != 0 {
			t.Fatalf("options %q are not a multiple of 4 bytes", opts)
		}
		h[12] = byte((20+len(o))/4) << 4
		return append(h, o...)
	}
	v4raw := func(tcp []byte) []byte {
		return serialize(t, &layers.IPv4{Version: 4, TTL: 64, Id: 1, Protocol: layers.IPProtocolTCP, SrcIP: testSrc4, DstIP: testDst4}, gopacket.Payload(tcp))
	}

	var tooManyExt []byte
	for range 17 {
		tooManyExt = append(tooManyExt, hbh(60)...)
	}

	return []decodeCase{
		// Valid frames on every link type.
		{"ethernet_ipv4_syn", LinkEthernet, eth(0x0800, syn4), ok, p(synWant())},
		{"ethernet_ipv4_data", LinkEthernet, eth(0x0800, data4), ok, p(dataWant(5))},
		{"ethernet_padding", LinkEthernet, append(eth(0x0800, v4(t, dataTCP(), nil)), 0, 0, 0, 0, 0, 0), ok, p(dataWant(0))},
		{"ethernet_ipv4_options", LinkEthernet, eth(0x0800, v4opts(t, synTCP())), ok, p(synWant())},
		{"ethernet_ipv6_syn", LinkEthernet, eth(0x86dd, syn6), ok, p(want6(synWant()))},
		{"ethernet_8021q", LinkEthernet, vlan([]uint16{0x8100}, 0x0800, syn4), ok, p(synWant())},
		{"ethernet_qinq", LinkEthernet, vlan([]uint16{0x88a8, 0x8100}, 0x0800, syn4), ok, p(synWant())},
		{"ethernet_8_tags", LinkEthernet, vlan([]uint16{0x88a8, 0x9100, 0x9200, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100}, 0x86dd, syn6), ok, p(want6(synWant()))},
		{"sll_outgoing", LinkLinuxSLL, sll(4, 0x0800, syn4), ok, with(synWant(), func(s *Segment) { s.PktType = PktOutgoing })},
		{"sll_host_vlan", LinkLinuxSLL, sll(0, 0x8100, append([]byte{0, 5, 0x86, 0xdd}, syn6...)), ok, with(want6(synWant()), func(s *Segment) { s.PktType = PktHost })},
		{"sll_pkttype_huge", LinkLinuxSLL, sll(0x1234, 0x0800, syn4), ok, p(synWant())},
		{"sll2_host", LinkLinuxSLL2, sll2(0, 0x0800, syn4), ok, with(synWant(), func(s *Segment) { s.PktType = PktHost })},
		{"sll2_outgoing_v6", LinkLinuxSLL2, sll2(4, 0x86dd, syn6), ok, with(want6(synWant()), func(s *Segment) { s.PktType = PktOutgoing })},
		{"raw_v4", LinkRaw, syn4, ok, p(synWant())},
		{"raw_v6", LinkRaw, syn6, ok, p(want6(synWant()))},
		{"raw_dlt12", LinkRawDLT12, syn4, ok, p(synWant())},
		{"raw_dlt14", LinkRawDLT14, syn6, ok, p(want6(synWant()))},
		{"ipv4_linktype", LinkIPv4, syn4, ok, p(synWant())},
		{"ipv6_linktype", LinkIPv6, syn6, ok, p(want6(synWant()))},
		{"null_le_inet", LinkNull, null(2, false, syn4), ok, p(synWant())},
		{"null_be_inet", LinkNull, null(2, true, syn4), ok, p(synWant())},
		{"null_inet6_bsd", LinkNull, null(24, false, syn6), ok, p(want6(synWant()))},
		{"null_inet6_freebsd", LinkNull, null(28, false, syn6), ok, p(want6(synWant()))},
		{"loop_inet6_darwin", LinkLoop, null(30, true, syn6), ok, p(want6(synWant()))},
		{"loop_le_inet", LinkLoop, null(2, false, syn4), ok, p(synWant())},

		// TCP details.
		{"sack_4_blocks", LinkRaw, serialize(t, &layers.IPv4{Version: 4, TTL: 64, Id: 1, Protocol: layers.IPProtocolTCP, SrcIP: testSrc4, DstIP: testDst4}, sackTCP), ok, &sackWant},
		{"wscale_above_14", LinkRaw, v4raw(rawOpts("030314 00")), ok, with(dataWant(0), func(s *Segment) { s.WScale = 14 })},
		{"option_len_0_stops", LinkRaw, v4raw(rawOpts("0200 0204 05b4 0000")), ok, p(dataWant(0))},
		{"option_len_1_stops", LinkRaw, v4raw(rawOpts("0201 0204 05b4 0000")), ok, p(dataWant(0))},
		{"option_past_header", LinkRaw, v4raw(rawOpts("01 0204 05b4 0a 0800")), ok, with(dataWant(0), func(s *Segment) { s.MSS = 1460 })},
		{"option_wrong_len_skipped", LinkRaw, v4raw(rawOpts("0203 00 0402 080a 00000001 00000002 0000 000000")), ok,
			with(dataWant(0), func(s *Segment) { s.SACKPerm, s.HasTS, s.TSval, s.TSecr = true, true, 1, 2 })},
		{"eol_stops", LinkRaw, v4raw(rawOpts("00 000000 0204 05b4")), ok, p(dataWant(0))},
		{"kind_only_at_end", LinkRaw, v4raw(rawOpts("010101 08")), ok, p(dataWant(0))},
		{"flags_all", LinkRaw, mutate(syn4, func(b []byte) []byte { b[20+13] = 0xff; return b }), ok,
			with(synWant(), func(s *Segment) { s.Flags = 0xff })},
		{"ipv4_total_length_0_tso", LinkRaw, mutate(data4, func(b []byte) []byte { b[2], b[3] = 0, 0; return b }), ok, p(dataWant(5))},
		{"ipv6_payload_length_0", LinkRaw, mutate(v6(t, dataTCP(), []byte("hello!")), func(b []byte) []byte { b[4], b[5] = 0, 0; return b }), ok, p(want6(dataWant(6)))},
		{"ipv4_total_beyond_capture", LinkRaw, data4[:len(data4)-3], ok, p(dataWant(5))},
		{"ipv4_df_not_fragment", LinkRaw, mutate(syn4, func(b []byte) []byte { b[6] = 0x40; return b }), ok, p(synWant())},

		// IPv6 extension headers.
		{"ipv6_hbh", LinkRaw, v6ext(t, 0, hbh(6), synTCP()), ok, p(want6(synWant()))},
		{"ipv6_chain", LinkRaw, v6ext(t, 0, chain, synTCP()), ok, p(want6(synWant()))},
		{"ipv6_atomic_fragment", LinkRaw, v6ext(t, 44, frag(6, 0), dataTCP()), ok, p(want6(dataWant(0)))},
		{"ipv6_fragment_first", LinkRaw, v6ext(t, 44, frag(6, 1), dataTCP()), Result{StatusFragment, ReasonIPv6Frag}, nil},
		{"ipv6_fragment_later", LinkRaw, v6ext(t, 44, frag(6, 0x100), dataTCP()), Result{StatusFragment, ReasonIPv6Frag}, nil},
		{"ipv6_fragment_udp", LinkRaw, v6ext(t, 44, frag(17, 1), dataTCP()), Result{StatusNotTCP, ReasonNotTCPProto}, nil},
		{"ipv6_esp", LinkRaw, v6ext(t, 50, nil, dataTCP()), Result{StatusNotTCP, ReasonNotTCPProto}, nil},
		{"ipv6_no_next", LinkRaw, v6ext(t, 0, hbh(59), dataTCP()), Result{StatusNotTCP, ReasonNotTCPProto}, nil},
		{"ipv6_too_many_ext", LinkRaw, v6ext(t, 0, tooManyExt, dataTCP()), Result{StatusMalformed, ReasonIPv6ExtDepth}, nil},
		{"ipv6_ext_cut", LinkRaw, v6ext(t, 0, chain, dataTCP())[:40+12], Result{StatusTruncated, ReasonIPv6ExtTrunc}, nil},
		{"ipv6_ext_cut_in_len", LinkRaw, v6ext(t, 0, chain, dataTCP())[:41], Result{StatusTruncated, ReasonIPv6ExtTrunc}, nil},
		{"ipv6_ext_beyond_payload", LinkRaw, mutate(v6ext(t, 0, hbh(6), dataTCP()), func(b []byte) []byte { b[4], b[5] = 0, 4; return b[:44] }), Result{StatusMalformed, ReasonIPv6ExtLen}, nil},
		{"ipv6_ext_huge_len", LinkRaw, mutate(v6ext(t, 0, hbh(6), dataTCP()), func(b []byte) []byte { b[41] = 0xff; return b }), Result{StatusMalformed, ReasonIPv6ExtLen}, nil},

		// Not TCP.
		{"arp", LinkEthernet, eth(0x0806, make([]byte, 28)), Result{StatusNotTCP, ReasonNotIP}, nil},
		{"llc_length_field", LinkEthernet, eth(0x0026, make([]byte, 38)), Result{StatusNotTCP, ReasonNotIP}, nil},
		{"udp", LinkRaw, serialize(t, &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: testSrc4, DstIP: testDst4}, &layers.UDP{SrcPort: 53, DstPort: 53}), Result{StatusNotTCP, ReasonNotTCPProto}, nil},
		{"unsupported_link", LinkType(105), syn4, Result{StatusNotTCP, ReasonLinkType}, nil},
		{"null_unknown_family", LinkNull, null(7, false, syn4), Result{StatusNotTCP, ReasonNullFamily}, nil},
		{"null_huge_family", LinkNull, []byte{1, 2, 3, 4, 0x45}, Result{StatusNotTCP, ReasonNullFamily}, nil},

		// Fragments.
		{"ipv4_mf", LinkRaw, mutate(syn4, func(b []byte) []byte { b[6] = 0x20; return b }), Result{StatusFragment, ReasonIPv4Frag}, nil},
		{"ipv4_offset", LinkRaw, mutate(syn4, func(b []byte) []byte { b[7] = 0x10; return b }), Result{StatusFragment, ReasonIPv4Frag}, nil},

		// Hostile and cut frames.
		{"empty_ethernet", LinkEthernet, nil, Result{StatusTruncated, ReasonLinkTrunc}, nil},
		{"short_ethernet", LinkEthernet, eth(0x0800, nil)[:13], Result{StatusTruncated, ReasonLinkTrunc}, nil},
		{"ethernet_no_ip", LinkEthernet, eth(0x0800, nil), Result{StatusTruncated, ReasonIPv4Trunc}, nil},
		{"short_sll", LinkLinuxSLL, sll(0, 0x0800, nil)[:15], Result{StatusTruncated, ReasonLinkTrunc}, nil},
		{"short_sll2", LinkLinuxSLL2, sll2(0, 0x0800, nil)[:19], Result{StatusTruncated, ReasonLinkTrunc}, nil},
		{"short_null", LinkNull, []byte{2, 0, 0}, Result{StatusTruncated, ReasonLinkTrunc}, nil},
		{"empty_raw", LinkRaw, nil, Result{StatusTruncated, ReasonIPv4Trunc}, nil},
		{"raw_version_5", LinkRaw, mutate(syn4, func(b []byte) []byte { b[0] = 0x55; return b }), Result{StatusMalformed, ReasonIPVersion}, nil},
		{"ethertype_v4_carries_v6", LinkEthernet, eth(0x0800, syn6), Result{StatusMalformed, ReasonIPVersion}, nil},
		{"ethertype_v6_carries_v4", LinkEthernet, eth(0x86dd, append(syn4, make([]byte, 40)...)), Result{StatusMalformed, ReasonIPVersion}, nil},
		{"vlan_cut", LinkEthernet, vlan([]uint16{0x8100}, 0x0800, nil)[:16], Result{StatusTruncated, ReasonLinkTrunc}, nil},
		{"nine_vlan_tags", LinkEthernet, vlan([]uint16{0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100}, 0x0800, syn4), Result{StatusMalformed, ReasonVLANDepth}, nil},
		{"ihl_4", LinkRaw, mutate(syn4, func(b []byte) []byte { b[0] = 0x44; return b }), Result{StatusMalformed, ReasonIPv4IHL}, nil},
		{"ihl_0", LinkRaw, mutate(syn4, func(b []byte) []byte { b[0] = 0x40; return b }), Result{StatusMalformed, ReasonIPv4IHL}, nil},
		{"ipv4_options_cut", LinkRaw, v4opts(t, synTCP())[:22], Result{StatusTruncated, ReasonIPv4Trunc}, nil},
		{"ipv4_short", LinkRaw, syn4[:19], Result{StatusTruncated, ReasonIPv4Trunc}, nil},
		{"ipv4_total_lt_ihl", LinkRaw, mutate(syn4, func(b []byte) []byte { b[2], b[3] = 0, 19; return b }), Result{StatusMalformed, ReasonIPv4Total}, nil},
		{"ipv4_total_lt_tcp", LinkRaw, mutate(syn4, func(b []byte) []byte { b[2], b[3] = 0, 30; return b }), Result{StatusMalformed, ReasonTCPBeyondIP}, nil},
		{"ipv4_total_lt_doff", LinkRaw, mutate(syn4, func(b []byte) []byte { b[2], b[3] = 0, 50; return b }), Result{StatusMalformed, ReasonTCPOptionsOver}, nil},
		{"ipv6_short", LinkRaw, syn6[:39], Result{StatusTruncated, ReasonIPv6Trunc}, nil},
		{"tcp_cut_in_base_header", LinkRaw, syn4[:20+19], Result{StatusTruncated, ReasonTCPTrunc}, nil},
		{"tcp_cut_at_ports", LinkRaw, syn4[:22], Result{StatusTruncated, ReasonTCPTrunc}, nil},
		{"doff_4", LinkRaw, mutate(syn4, func(b []byte) []byte { b[20+12] = 0x40; return b }), Result{StatusMalformed, ReasonTCPOffset}, nil},
		{"doff_0", LinkRaw, mutate(syn4, func(b []byte) []byte { b[20+12] = 0; return b }), Result{StatusMalformed, ReasonTCPOffset}, nil},
		{"caplen_cuts_options", LinkRaw, syn4[:20+20+9], Result{StatusTCP, ReasonTCPOptionsCut},
			with(synWant(), func(s *Segment) { s.HasTS, s.TSval, s.WScale, s.CapTrunc = false, 0, -1, true })},
		{"caplen_cuts_options_tso", LinkRaw, mutate(syn4[:20+20+9], func(b []byte) []byte { b[2], b[3] = 0, 0; return b }), Result{StatusTCP, ReasonTCPOptionsCut},
			with(synWant(), func(s *Segment) { s.HasTS, s.TSval, s.WScale, s.CapTrunc = false, 0, -1, true })},
		{"tcp_alone_not_ip", LinkRaw, tcpOnly, Result{StatusMalformed, ReasonIPVersion}, nil},
		{"hex_ipv4_one_byte_short_tcp", LinkIPv4, mustHex(t, `
			45000028 00010000 4006 0000 c6120001 c6120002
			9c400050 000003e8 00000000 5002faf0 0000 00`), Result{StatusTruncated, ReasonTCPTrunc}, nil},
	}
}

func TestDecode(t *testing.T) {
	var d Decoder
	for _, tc := range decodeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			seg := Segment{File: 3, Frame: 42, At: 7, Iface: 1, MSS: 9, NSACK: 3}
			got := d.Decode(tc.link, tc.data, &seg)
			if got != tc.want {
				t.Fatalf("Decode = %+v, want %+v", got, tc.want)
			}
			if seg.File != 3 || seg.Frame != 42 || seg.At != 7 || seg.Iface != 1 {
				t.Errorf("Decode changed the caller's fields: %+v", seg)
			}
			if tc.seg != nil {
				want := *tc.seg
				want.File, want.Frame, want.At, want.Iface = 3, 42, 7, 1
				if seg != want {
					t.Errorf("segment:\n got  %+v\n want %+v", seg, want)
				}
			}
			checkInvariants(t, tc.link, tc.data, got, &seg)
		})
	}
}

// checkInvariants holds for every frame, valid or not.
func checkInvariants(t testing.TB, link LinkType, data []byte, res Result, seg *Segment) {
	t.Helper()
	if res.Status > StatusMalformed {
		t.Fatalf("status %v out of range", res.Status)
	}
	if (res.Reason == "") != (res.Status == StatusTCP && !seg.CapTrunc) {
		t.Fatalf("result %+v with CapTrunc=%v: a reason is given exactly when the segment is not complete TCP", res, seg.CapTrunc)
	}
	if res.Status != StatusTCP {
		return
	}
	if int(seg.NSACK) > len(seg.SACK) {
		t.Fatalf("NSACK = %d", seg.NSACK)
	}
	if seg.WScale < -1 || seg.WScale > 14 {
		t.Fatalf("WScale = %d", seg.WScale)
	}
	// The payload cannot be longer than the IP datagram, which is at most
	// 65535 bytes plus the IPv6 header, or the capture when the IP length
	// was 0.
	if seg.Len > 65535+40 && int(seg.Len) > len(data) {
		t.Fatalf("Len = %d from a %d-byte frame", seg.Len, len(data))
	}
	if !seg.V6 && !seg.Src.Is4() {
		t.Fatalf("IPv4 segment with address %v", seg.Src)
	}
	if seg.V6 && seg.IPID != 0 {
		t.Fatalf("IPv6 segment with IPID %d", seg.IPID)
	}
	switch link {
	case LinkLinuxSLL, LinkLinuxSLL2:
	default:
		if seg.PktType != PktUnknown {
			t.Fatalf("PktType = %d on link %v", seg.PktType, link)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	var d Decoder
	var seg Segment
	cases := decodeCases(t)
	allocs := testing.AllocsPerRun(100, func() {
		for _, tc := range cases {
			d.Decode(tc.link, tc.data, &seg)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %v times per run of %d frames, want 0", allocs, len(cases))
	}
}

func TestLinkTypeString(t *testing.T) {
	for _, tc := range []struct {
		l    LinkType
		want string
	}{
		{LinkEthernet, "Ethernet"}, {LinkLinuxSLL2, "Linux SLL2"}, {LinkRawDLT14, "Raw IP"}, {LinkType(105), "LinkType(105)"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("LinkType(%d).String() = %q, want %q", tc.l, got, tc.want)
		}
	}
	if got := Status(9).String(); got != "Status(9)" {
		t.Errorf("Status(9).String() = %q", got)
	}
}

// TestAddrPortString checks the text form of endpoints, v4 (mapped or not)
// and v6.
func TestAddrPortString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"198.18.0.1:40000", "198.18.0.1:40000"},
		{"[::ffff:198.18.0.1]:7", "198.18.0.1:7"},
		{"[2001:db8::1]:0", "[2001:db8::1]:0"},
		{"[::ffff:0:0]:65535", "0.0.0.0:65535"},
		{"[::]:1", "[::]:1"},
	} {
		p := netip.MustParseAddrPort(tc.in)
		ap := AddrPort{Addr: p.Addr().As16(), Port: p.Port()}
		if got := ap.String(); got != tc.want {
			t.Errorf("String(%s) = %q, want %q", tc.in, got, tc.want)
		}
		if got := string(ap.AppendTo([]byte("x"))); got != "x"+tc.want {
			t.Errorf("AppendTo(%s) = %q, want %q", tc.in, got, "x"+tc.want)
		}
	}
}

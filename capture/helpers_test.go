package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"teardown/reassembly"
)

// rec is one test record: its frame bytes, timestamp and interface.
type rec struct {
	at    int64 // Unix ns
	iface int
	link  reassembly.LinkType
	data  []byte
	tcp   bool   // a TCP segment (others are ARP or UDP)
	seq   uint32 // its sequence number, to recognise it
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano()

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// tcpFrame is an Ethernet IPv4 TCP ACK with timestamps and seq.
func tcpFrame(t testing.TB, seq uint32) []byte {
	return serialize(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Id: uint16(seq), Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}},
		&layers.TCP{SrcPort: 40000, DstPort: 80, Seq: seq, Ack: 1, ACK: true, Window: 100,
			Options: []layers.TCPOption{
				{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
				{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
			}},
		gopacket.Payload(make([]byte, seq%7)))
}

// rawTCP is the same segment as raw IPv6, for other link types.
func rawTCP6(t testing.TB, seq uint32) []byte {
	return serialize(t,
		&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")},
		&layers.TCP{SrcPort: 40000, DstPort: 443, Seq: seq, Ack: 1, ACK: true, Window: 100})
}

func sll2Frame(t testing.TB, seq uint32) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], 0x86dd)
	binary.BigEndian.PutUint16(h[8:], 1)
	h[10] = reassembly.PktOutgoing
	h[11] = 6
	return append(h, rawTCP6(t, seq)...)
}

func arpFrame(t testing.TB) []byte {
	return serialize(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}})
}

// mixed makes n records on Ethernet: mostly TCP, every fourth ARP, at
// 1 ms steps from base.
func mixed(t testing.TB, n int, base int64, seq0 uint32) []rec {
	var out []rec
	for i := range n {
		r := rec{at: base + int64(i)*1e6, link: reassembly.LinkEthernet}
		if i%4 == 3 {
			r.data = arpFrame(t)
		} else {
			r.seq = seq0 + uint32(i)
			r.tcp = true
			r.data = tcpFrame(t, r.seq)
		}
		out = append(out, r)
	}
	return out
}

// pcapBytes writes a pcap by hand, in either byte order and resolution.
func pcapBytes(be, nanos bool, link reassembly.LinkType, snaplen uint32, recs []rec) []byte {
	var o binary.AppendByteOrder = binary.LittleEndian
	if be {
		o = binary.BigEndian
	}
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	b := o.AppendUint32(nil, magic)
	b = o.AppendUint16(b, 2)
	b = o.AppendUint16(b, 4)
	b = o.AppendUint32(b, 0)
	b = o.AppendUint32(b, 0)
	b = o.AppendUint32(b, snaplen)
	b = o.AppendUint32(b, uint32(link))
	for _, r := range recs {
		sec, frac := r.at/1e9, r.at%1e9
		if !nanos {
			frac /= 1e3
		}
		b = o.AppendUint32(b, uint32(sec))
		b = o.AppendUint32(b, uint32(frac))
		b = o.AppendUint32(b, uint32(len(r.data)))
		b = o.AppendUint32(b, uint32(len(r.data)))
		b = append(b, r.data...)
	}
	return b
}

// pcapgoBytes writes a pcap with pcapgo (host byte order).
func pcapgoBytes(t testing.TB, nanos bool, link reassembly.LinkType, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65536, layers.LinkType(link)); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, r.at), CaptureLength: len(r.data), Length: len(r.data)}
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// pcapnggoBytes writes a pcapng with pcapgo: one interface per link type
// given, records on the interface r.iface.
func pcapnggoBytes(t testing.TB, links []reassembly.LinkType, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "if0", LinkType: layers.LinkType(links[0]), SnapLength: 65536, TimestampResolution: 9}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range links[1:] {
		if _, err := w.AddInterface(pcapgo.NgInterface{Name: "if" + string(rune('1'+i)), LinkType: layers.LinkType(l), SnapLength: 65536, TimestampResolution: 9}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, r.at), CaptureLength: len(r.data), Length: len(r.data), InterfaceIndex: r.iface}
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ngWriter writes pcapng blocks by hand, in either byte order, for the
// cases pcapgo cannot write: big-endian sections, Simple and obsolete
// Packet Blocks, odd timestamp resolutions, corrupt blocks.
type ngWriter struct {
	o binary.AppendByteOrder
	b []byte
}

func newNg(be bool) *ngWriter {
	w := &ngWriter{o: binary.LittleEndian}
	if be {
		w.o = binary.BigEndian
	}
	w.section()
	return w
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// block appends a block with the given body (padded).
func (w *ngWriter) block(typ uint32, body []byte) {
	body = pad4(append([]byte(nil), body...))
	total := uint32(12 + len(body))
	w.b = w.o.AppendUint32(w.b, typ)
	w.b = w.o.AppendUint32(w.b, total)
	w.b = append(w.b, body...)
	w.b = w.o.AppendUint32(w.b, total)
}

func (w *ngWriter) section() {
	body := w.o.AppendUint32(nil, 0x1a2b3c4d)
	body = w.o.AppendUint16(body, 1)
	body = w.o.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint64(body, ^uint64(0)) // unknown section length
	w.block(0x0a0d0d0a, body)
}

// iface adds an IDB; tsresol < 0 means no option; offset in seconds.
func (w *ngWriter) iface(link reassembly.LinkType, snaplen uint32, tsresol int, offset int64) {
	body := w.o.AppendUint16(nil, uint16(link))
	body = w.o.AppendUint16(body, 0)
	body = w.o.AppendUint32(body, snaplen)
	if tsresol >= 0 {
		body = w.o.AppendUint16(body, 9)
		body = w.o.AppendUint16(body, 1)
		body = append(body, byte(tsresol), 0, 0, 0)
	}
	if offset != 0 {
		body = w.o.AppendUint16(body, 14)
		body = w.o.AppendUint16(body, 8)
		body = w.o.AppendUint64(body, uint64(offset))
	}
	body = w.o.AppendUint32(body, 0) // opt_endofopt
	w.block(1, body)
}

// epb adds an Enhanced Packet Block; ts is in interface units.
func (w *ngWriter) epb(id uint32, ts uint64, data []byte) {
	body := w.o.AppendUint32(nil, id)
	body = w.o.AppendUint32(body, uint32(ts>>32))
	body = w.o.AppendUint32(body, uint32(ts))
	body = w.o.AppendUint32(body, uint32(len(data)))
	body = w.o.AppendUint32(body, uint32(len(data)))
	w.block(6, append(body, data...))
}

// pb adds an obsolete Packet Block.
func (w *ngWriter) pb(id uint16, ts uint64, data []byte) {
	body := w.o.AppendUint16(nil, id)
	body = w.o.AppendUint16(body, 0)
	body = w.o.AppendUint32(body, uint32(ts>>32))
	body = w.o.AppendUint32(body, uint32(ts))
	body = w.o.AppendUint32(body, uint32(len(data)))
	body = w.o.AppendUint32(body, uint32(len(data)))
	w.block(2, append(body, data...))
}

// spb adds a Simple Packet Block.
func (w *ngWriter) spb(data []byte) {
	w.block(3, append(w.o.AppendUint32(nil, uint32(len(data))), data...))
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// got is what a Reader returned.
type got struct {
	segs     []reassembly.Segment
	warnings []Warning
	inputs   []Input
	err      error
}

// readAll reads every segment from srcs.
func readAll(t testing.TB, srcs ...Source) (got, error) {
	t.Helper()
	var g got
	r, err := OpenReaders(srcs, func(w Warning) { g.warnings = append(g.warnings, w) })
	if err != nil {
		return g, err
	}
	defer r.Close()
	var seg reassembly.Segment
	for r.Next(&seg) {
		g.segs = append(g.segs, seg)
	}
	g.err = r.Err()
	g.inputs = r.Inputs()
	return g, nil
}

func src(name string, b []byte) Source { return Source{Name: name, R: bytes.NewReader(b)} }

// checkCounters checks the invariants of an Input.
func checkCounters(t testing.TB, in Input) {
	t.Helper()
	if sum := in.TCP + in.NonTCP + in.Fragments + in.Truncated + in.Malformed; sum != in.Frames {
		t.Errorf("%s: frames %d != tcp %d + non-tcp %d + fragments %d + truncated %d + malformed %d",
			in.Name, in.Frames, in.TCP, in.NonTCP, in.Fragments, in.Truncated, in.Malformed)
	}
	if in.OptionsCut > in.TCP {
		t.Errorf("%s: options cut %d > tcp %d", in.Name, in.OptionsCut, in.TCP)
	}
	if in.FirstAt > in.LastAt {
		t.Errorf("%s: first %d > last %d", in.Name, in.FirstAt, in.LastAt)
	}
}

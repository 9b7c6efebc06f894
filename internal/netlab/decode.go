//go:build linux

package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TCP flag bits as in byte 13 of the TCP header.
const (
	TCPFin uint8 = 1 << 0
	TCPSyn uint8 = 1 << 1
	TCPRst uint8 = 1 << 2
	TCPPsh uint8 = 1 << 3
	TCPAck uint8 = 1 << 4
)

// Link types the lab writes and reads back.
const (
	LinkEthernet = layers.LinkTypeEthernet
	LinkSLL2     = layers.LinkType(276) // LINKTYPE_LINUX_SLL2, what `tcpdump -i any` writes
)

// Packet is a decoded TCP segment: what the router's rules match on and
// what the generator searches when it names decisive frames. It is a plain
// value: decoding never keeps a reference to the frame buffer.
type Packet struct {
	Frame int       // Wireshark frame number (1-based, every record counted); 0 on the router
	At    time.Time // capture timestamp
	VLAN  int       // 802.1Q VLAN ID, -1 when untagged
	V6    bool
	Src   netip.AddrPort
	Dst   netip.AddrPort
	TTL   uint8
	Flags uint8
	Seq   uint32
	Ack   uint32
	Win   uint16
	Len   uint32 // TCP payload length from the IP header

	HasTS        bool
	TSval, TSecr uint32
	SACK         [][2]uint32 // SACK blocks (left, right)
}

// Has reports whether every bit of f is set in the packet's TCP flags.
func (p *Packet) Has(f uint8) bool { return p.Flags&f == f }

// End is the sequence number just past the segment (SYN and FIN count one).
func (p *Packet) End() uint32 {
	n := p.Len
	if p.Flags&TCPSyn != 0 {
		n++
	}
	if p.Flags&TCPFin != 0 {
		n++
	}
	return p.Seq + n
}

// PureACK reports whether the packet is an ACK without payload, SYN, FIN or RST.
func (p *Packet) PureACK() bool {
	return p.Flags&(TCPSyn|TCPFin|TCPRst) == 0 && p.Flags&TCPAck != 0 && p.Len == 0
}

// String formats the packet like a short tcpdump line.
func (p *Packet) String() string {
	return fmt.Sprintf("#%d %s > %s [%s] seq=%d ack=%d len=%d", p.Frame, p.Src, p.Dst, FlagString(p.Flags), p.Seq, p.Ack, p.Len)
}

// FlagString writes TCP flags the way tcpdump does ("S.", "F.", "R.", ".").
func FlagString(f uint8) string {
	var b []byte
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{TCPSyn, 'S'}, {TCPFin, 'F'}, {TCPRst, 'R'}, {TCPPsh, 'P'}, {TCPAck, '.'}} {
		if f&x.bit != 0 {
			b = append(b, x.c)
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// errNotTCP is returned by DecodeFrame for frames that carry no TCP segment.
var errNotTCP = errors.New("not a TCP segment")

// errSnapTCP is returned by DecodeFrame for a TCP segment whose header is
// not all in the frame (or longer than the IP header says the segment is).
var errSnapTCP = errors.New("TCP header cut by the snap length")

// frameDecoder is gopacket's DecodingLayerParser over the layers the lab
// writes, one parser per link type, sharing the layer values. It is not
// safe for concurrent use: DecodeFrame takes one from a pool.
type frameDecoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll2    layers.LinuxSLL2
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	byLink  map[layers.LinkType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newFrameDecoder() *frameDecoder {
	d := &frameDecoder{decoded: make([]gopacket.LayerType, 0, 8)}
	d.byLink = map[layers.LinkType]*gopacket.DecodingLayerParser{}
	for lt, first := range map[layers.LinkType]gopacket.LayerType{LinkEthernet: layers.LayerTypeEthernet, LinkSLL2: layers.LayerTypeLinuxSLL2} {
		p := gopacket.NewDecodingLayerParser(first, &d.eth, &d.dot1q, &d.sll2, &d.ip4, &d.ip6, &d.tcp)
		// Stop quietly at the first layer that is none of these: what was
		// decoded up to there says whether the frame is a TCP segment.
		p.IgnoreUnsupported = true
		d.byLink[lt] = p
	}
	return d
}

var decoders = sync.Pool{New: func() any { return newFrameDecoder() }}

// DecodeFrame decodes an Ethernet (optionally 802.1Q-tagged) or Linux SLL2
// frame holding IPv4 or IPv6 and TCP, with gopacket's layers (a decoder
// independent of teardown's own). Payload may be cut by the snap length;
// the TCP header must be complete. Only plain stacks are TCP segments here:
// link header(s), one IPv4 header (not a fragment) or one IPv6 header with
// TCP as its next header (no extension headers), TCP.
//
// It decodes every frame of the committed captures, and every prefix of
// them, exactly as the hand-written decoder it replaced (kept in
// decode_ref_test.go). It parts from it only on frames Linux veths and the
// lab never produce, where gopacket is stricter: an SLL2 header with an
// address length over 8 or an ARPHRD type that is not plain (IPGRE, FRAD,
// radiotap) and an IPv4 header with a malformed option are not segments,
// and TCP options after a malformed MPTCP option are not read
// (TestDecodeFrameKnownDifferences).
func DecodeFrame(lt layers.LinkType, b []byte) (Packet, error) {
	d := decoders.Get().(*frameDecoder)
	defer decoders.Put(d)
	return d.decode(lt, b)
}

func (d *frameDecoder) decode(lt layers.LinkType, b []byte) (Packet, error) {
	p := Packet{VLAN: -1}
	parser, ok := d.byLink[lt]
	if !ok {
		return p, fmt.Errorf("link type %d not supported", lt)
	}
	d.decoded = d.decoded[:0]
	err := parser.DecodeLayers(b, &d.decoded)
	// The link layer: Ethernet with any number of 802.1Q tags, or SLL2.
	n := 0
	if lt == LinkEthernet {
		for n < len(d.decoded) && (n == 0 && d.decoded[n] == layers.LayerTypeEthernet || n > 0 && d.decoded[n] == layers.LayerTypeDot1Q) {
			n++
		}
		if n > 1 {
			p.VLAN = int(d.dot1q.VLANIdentifier) // the innermost tag
		}
	} else if len(d.decoded) > 0 && d.decoded[0] == layers.LayerTypeLinuxSLL2 {
		n = 1
	}
	if n == 0 || n == len(d.decoded) {
		return p, errNotTCP
	}
	// One IP header, whose next header is TCP.
	var l int // TCP length (header and payload) from the IP header
	switch d.decoded[n] {
	case layers.LayerTypeIPv4:
		ip := &d.ip4
		// A total length of 0 is "TSO" to gopacket, which takes the frame's
		// length instead; here it is not a segment.
		raw := int(binary.BigEndian.Uint16(ip.Contents[2:4]))
		if ip.Version != 4 || raw == 0 || ip.Protocol != layers.IPProtocolTCP {
			return p, errNotTCP
		}
		p.TTL = ip.TTL
		p.Src = netip.AddrPortFrom(addr(ip.SrcIP), 0)
		p.Dst = netip.AddrPortFrom(addr(ip.DstIP), 0)
		l = raw - int(ip.IHL)*4
	case layers.LayerTypeIPv6:
		ip := &d.ip6
		if ip.Version != 6 || ip.NextHeader != layers.IPProtocolTCP {
			return p, errNotTCP // the lab sends no extension headers
		}
		p.V6 = true
		p.TTL = ip.HopLimit
		p.Src = netip.AddrPortFrom(addr(ip.SrcIP), 0)
		p.Dst = netip.AddrPortFrom(addr(ip.DstIP), 0)
		l = int(ip.Length)
	default:
		return p, errNotTCP
	}
	n++
	if n == len(d.decoded) || d.decoded[n] != layers.LayerTypeTCP {
		if err != nil {
			// TCP's fixed header or its options are not all in the frame.
			return p, fmt.Errorf("%w: %v", errSnapTCP, err)
		}
		return p, errNotTCP // nothing after the IP header
	}
	t := &d.tcp
	off := int(t.DataOffset) * 4
	if l < off {
		return p, errSnapTCP
	}
	p.Src = netip.AddrPortFrom(p.Src.Addr(), uint16(t.SrcPort))
	p.Dst = netip.AddrPortFrom(p.Dst.Addr(), uint16(t.DstPort))
	p.Seq, p.Ack, p.Win = t.Seq, t.Ack, t.Window
	for _, f := range []struct {
		set bool
		bit uint8
	}{{t.FIN, TCPFin}, {t.SYN, TCPSyn}, {t.RST, TCPRst}, {t.PSH, TCPPsh}, {t.ACK, TCPAck},
		{t.URG, 1 << 5}, {t.ECE, 1 << 6}, {t.CWR, 1 << 7}} {
		if f.set {
			p.Flags |= f.bit
		}
	}
	p.Len = uint32(l - off)
	for _, o := range t.Options {
		switch o.OptionType {
		case layers.TCPOptionKindTimestamps:
			if len(o.OptionData) == 8 {
				p.HasTS = true
				p.TSval = binary.BigEndian.Uint32(o.OptionData[0:4])
				p.TSecr = binary.BigEndian.Uint32(o.OptionData[4:8])
			}
		case layers.TCPOptionKindSACK:
			for i := 0; i+8 <= len(o.OptionData); i += 8 {
				p.SACK = append(p.SACK, [2]uint32{binary.BigEndian.Uint32(o.OptionData[i:]), binary.BigEndian.Uint32(o.OptionData[i+4:])})
			}
		}
	}
	return p, nil
}

// addr converts a 4- or 16-byte address as gopacket gives it.
func addr(b net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ReadCapture reads a pcap or pcapng file and returns its TCP segments with
// their Wireshark frame numbers (records that are not TCP are counted but
// not returned).
func ReadCapture(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var next func() ([]byte, time.Time, layers.LinkType, error)
	if binary.LittleEndian.Uint32(magic[:]) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("reading pcapng %s: %w", path, err)
		}
		next = func() ([]byte, time.Time, layers.LinkType, error) {
			d, ci, err := r.ReadPacketData()
			if err != nil {
				return nil, time.Time{}, 0, err
			}
			lt := r.LinkType()
			if intf, e := r.Interface(ci.InterfaceIndex); e == nil {
				lt = intf.LinkType
			}
			return d, ci.Timestamp, lt, nil
		}
	} else {
		r, err := pcapgo.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("reading pcap %s: %w", path, err)
		}
		next = func() ([]byte, time.Time, layers.LinkType, error) {
			d, ci, err := r.ReadPacketData()
			return d, ci.Timestamp, r.LinkType(), err
		}
	}
	var out []Packet
	for frame := 1; ; frame++ {
		d, ts, lt, err := next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("reading %s frame %d: %w", path, frame, err)
		}
		p, err := DecodeFrame(lt, d)
		if err != nil {
			continue
		}
		p.Frame = frame
		p.At = ts
		out = append(out, p)
	}
}

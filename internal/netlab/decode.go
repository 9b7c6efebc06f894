package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

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

// DecodeFrame decodes an Ethernet (optionally 802.1Q-tagged) or Linux SLL2
// frame holding IPv4 or IPv6 and TCP. Payload may be cut by the snap length;
// the TCP header must be complete.
func DecodeFrame(lt layers.LinkType, b []byte) (Packet, error) {
	p := Packet{VLAN: -1}
	var etype uint16
	switch lt {
	case LinkEthernet:
		if len(b) < 14 {
			return p, errNotTCP
		}
		etype = binary.BigEndian.Uint16(b[12:14])
		b = b[14:]
		for etype == 0x8100 || etype == 0x88a8 {
			if len(b) < 4 {
				return p, errNotTCP
			}
			p.VLAN = int(binary.BigEndian.Uint16(b[0:2]) & 0x0fff)
			etype = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		}
	case LinkSLL2:
		if len(b) < 20 {
			return p, errNotTCP
		}
		etype = binary.BigEndian.Uint16(b[0:2])
		b = b[20:]
	default:
		return p, fmt.Errorf("link type %d not supported", lt)
	}
	var proto uint8
	switch etype {
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			return p, errNotTCP
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < 20 || len(b) < ihl || total < ihl {
			return p, errNotTCP
		}
		if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
			return p, errNotTCP // fragment
		}
		proto = b[9]
		p.TTL = b[8]
		src, _ := netip.AddrFromSlice(b[12:16])
		dst, _ := netip.AddrFromSlice(b[16:20])
		p.Src, p.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		l := total - ihl
		b = b[ihl:]
		if proto != 6 {
			return p, errNotTCP
		}
		return decodeTCP(p, b, l)
	case 0x86dd:
		if len(b) < 40 || b[0]>>4 != 6 {
			return p, errNotTCP
		}
		p.V6 = true
		proto = b[6]
		p.TTL = b[7]
		l := int(binary.BigEndian.Uint16(b[4:6]))
		src, _ := netip.AddrFromSlice(b[8:24])
		dst, _ := netip.AddrFromSlice(b[24:40])
		p.Src, p.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		if proto != 6 {
			return p, errNotTCP // the lab sends no extension headers
		}
		return decodeTCP(p, b[40:], l)
	}
	return p, errNotTCP
}

// decodeTCP decodes the TCP header in b; l is the TCP length from the IP header.
func decodeTCP(p Packet, b []byte, l int) (Packet, error) {
	if len(b) < 20 {
		return p, errNotTCP
	}
	p.Src = netip.AddrPortFrom(p.Src.Addr(), binary.BigEndian.Uint16(b[0:2]))
	p.Dst = netip.AddrPortFrom(p.Dst.Addr(), binary.BigEndian.Uint16(b[2:4]))
	p.Seq = binary.BigEndian.Uint32(b[4:8])
	p.Ack = binary.BigEndian.Uint32(b[8:12])
	off := int(b[12]>>4) * 4
	p.Flags = b[13]
	p.Win = binary.BigEndian.Uint16(b[14:16])
	if off < 20 || len(b) < off || l < off {
		return p, fmt.Errorf("TCP header cut by the snap length")
	}
	p.Len = uint32(l - off)
	opts := b[20:off]
	for len(opts) > 0 {
		kind := opts[0]
		if kind == 0 {
			break
		}
		if kind == 1 {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) < 2 || int(opts[1]) > len(opts) {
			break
		}
		o := opts[:opts[1]]
		switch {
		case kind == 8 && len(o) == 10:
			p.HasTS = true
			p.TSval = binary.BigEndian.Uint32(o[2:6])
			p.TSecr = binary.BigEndian.Uint32(o[6:10])
		case kind == 5:
			for i := 2; i+8 <= len(o); i += 8 {
				p.SACK = append(p.SACK, [2]uint32{binary.BigEndian.Uint32(o[i:]), binary.BigEndian.Uint32(o[i+4:])})
			}
		}
		opts = opts[len(o):]
	}
	return p, nil
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

//go:build linux

package netlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// refDecodeFrame is DecodeFrame as it was before gopacket/layers: the
// hand-written decoder, kept as the reference the new one must agree with.
// It decodes an Ethernet (optionally 802.1Q-tagged) or Linux SLL2 frame
// holding IPv4 or IPv6 and TCP. Payload may be cut by the snap length; the
// TCP header must be complete.
func refDecodeFrame(lt layers.LinkType, b []byte) (Packet, error) {
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
		return refDecodeTCP(p, b, l)
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
		return refDecodeTCP(p, b[40:], l)
	}
	return p, errNotTCP
}

// decodeTCP decodes the TCP header in b; l is the TCP length from the IP header.
func refDecodeTCP(p Packet, b []byte, l int) (Packet, error) {
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

package reassembly

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The interop tests decode the same frames with Decode and with gopacket's
// layers and compare every field.

// frame is one captured frame for the interop tests and fuzz seeds.
type frame struct {
	link LinkType
	data []byte
}

// pcapFrames reads every frame of every capture in testdata/pcaps (gzip
// allowed) with pcapgo, independently of the capture package.
func pcapFrames(t testing.TB) map[string][]frame {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join("..", "testdata", "pcaps", "*"))
	out := make(map[string][]frame)
	for _, name := range names {
		if base := strings.TrimSuffix(name, ".gz"); !strings.HasSuffix(base, ".pcap") && !strings.HasSuffix(base, ".pcapng") {
			continue // the lab keeps expectations and notes beside the captures
		}
		fr, err := readWithPcapgo(name)
		if err != nil {
			t.Logf("%s: %v (frames before the error are used)", name, err)
		}
		if len(fr) > 0 {
			out[filepath.Base(name)] = fr
		}
	}
	return out
}

func readWithPcapgo(name string) ([]frame, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		br = bufio.NewReader(zr)
	}
	magic, err := br.Peek(4)
	if err != nil {
		return nil, err
	}
	var (
		next func() ([]byte, gopacket.CaptureInfo, error)
		link func(ci gopacket.CaptureInfo) LinkType
	)
	if binary.BigEndian.Uint32(magic) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, err
		}
		next = r.ReadPacketData
		link = func(ci gopacket.CaptureInfo) LinkType {
			iface, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				return 0xffff
			}
			return LinkType(iface.LinkType)
		}
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, err
		}
		r.SetSnaplen(1 << 18)
		next = r.ReadPacketData
		link = func(gopacket.CaptureInfo) LinkType { return LinkType(r.LinkType()) }
	}
	var out []frame
	for {
		data, ci, err := next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, frame{link(ci), data})
	}
}

// gopacketDecode decodes a frame with gopacket and fills a Segment the way
// Decode should. ok is false when gopacket finds no complete TCP header or
// the frame is a fragment.
func gopacketDecode(link LinkType, data []byte) (seg Segment, ok bool) {
	var first gopacket.Decoder = layers.LinkType(link)
	switch link {
	case LinkRawDLT12, LinkRawDLT14, LinkIPv4, LinkIPv6:
		first = layers.LinkTypeRaw
	}
	p := gopacket.NewPacket(data, first, gopacket.DecodeOptions{NoCopy: true})
	tcpL, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcpL == nil || p.ErrorLayer() != nil {
		return seg, false
	}
	seg.PktType, seg.WScale = PktUnknown, -1
	var l4len int
	if sl, ok := p.Layer(layers.LayerTypeLinuxSLL).(*layers.LinuxSLL); ok && sl.PacketType < 255 {
		seg.PktType = uint8(sl.PacketType)
	}
	if sl, ok := p.Layer(layers.LayerTypeLinuxSLL2).(*layers.LinuxSLL2); ok {
		seg.PktType = uint8(sl.PacketType)
	}
	if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			return seg, false
		}
		seg.Src, seg.Dst = AddrFrom4([4]byte(ip.SrcIP.To4())), AddrFrom4([4]byte(ip.DstIP.To4()))
		seg.TTL, seg.IPID = ip.TTL, ip.Id
		l4len = int(ip.Length) - int(ip.IHL)*4
	} else if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		seg.V6 = true
		seg.Src, seg.Dst = Addr(ip.SrcIP.To16()), Addr(ip.DstIP.To16())
		seg.TTL = ip.HopLimit
		l4len = int(ip.Length)
		if ip.Length == 0 {
			l4len = len(ip.Payload)
		}
		for _, l := range p.Layers() {
			switch l.LayerType() {
			case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination, layers.LayerTypeIPSecAH:
				l4len -= len(l.LayerContents())
			case layers.LayerTypeIPv6Fragment:
				fr := l.(*layers.IPv6Fragment)
				if fr.FragmentOffset != 0 || fr.MoreFragments {
					return seg, false
				}
				l4len -= len(l.LayerContents())
			}
		}
	} else {
		return seg, false
	}
	seg.SrcPort, seg.DstPort = uint16(tcpL.SrcPort), uint16(tcpL.DstPort)
	seg.Seq, seg.Ack, seg.Win = Seq(tcpL.Seq), Seq(tcpL.Ack), tcpL.Window
	seg.Flags = Flags(tcpL.Contents[13])
	seg.Len = uint32(l4len - int(tcpL.DataOffset)*4)
	for _, o := range tcpL.Options {
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			if o.OptionLength == 4 {
				seg.MSS = binary.BigEndian.Uint16(o.OptionData)
			}
		case layers.TCPOptionKindWindowScale:
			if o.OptionLength == 3 {
				seg.WScale = int8(min(o.OptionData[0], 14))
			}
		case layers.TCPOptionKindSACKPermitted:
			if o.OptionLength == 2 {
				seg.SACKPerm = true
			}
		case layers.TCPOptionKindSACK:
			d := o.OptionData
			seg.NSACK = 0
			for len(d) >= 8 && int(seg.NSACK) < len(seg.SACK) {
				seg.SACK[seg.NSACK] = SACKBlock{Seq(binary.BigEndian.Uint32(d)), Seq(binary.BigEndian.Uint32(d[4:]))}
				seg.NSACK++
				d = d[8:]
			}
		case layers.TCPOptionKindTimestamps:
			if o.OptionLength == 10 {
				seg.HasTS = true
				seg.TSval = binary.BigEndian.Uint32(o.OptionData)
				seg.TSecr = binary.BigEndian.Uint32(o.OptionData[4:])
			}
		}
	}
	return seg, true
}

// compareWithGopacket decodes f both ways. It returns whether gopacket
// found TCP.
func compareWithGopacket(t *testing.T, where string, f frame) bool {
	t.Helper()
	var d Decoder
	var got Segment
	res := d.Decode(f.link, f.data, &got)
	want, ok := gopacketDecode(f.link, f.data)
	switch {
	case ok && res.Status != StatusTCP:
		t.Errorf("%s: Decode = %+v, gopacket decodes TCP %+v", where, res, want)
	case !ok && res.Status == StatusTCP && !got.CapTrunc:
		t.Errorf("%s: Decode = TCP %+v, gopacket does not", where, got)
	case ok && got != want:
		t.Errorf("%s: segments differ:\n Decode   %+v\n gopacket %+v", where, got, want)
	}
	return ok
}

func TestDecodeInteropPcaps(t *testing.T) {
	files := pcapFrames(t)
	if len(files) == 0 {
		t.Skip("no captures in testdata/pcaps yet")
	}
	for name, frames := range files {
		tcp := 0
		for i, f := range frames {
			if compareWithGopacket(t, name+" frame "+strconv.Itoa(i+1), f) {
				tcp++
			}
		}
		t.Logf("%s: %d frames, %d TCP per gopacket", name, len(frames), tcp)
	}
}

// TestDecodeInteropGenerated compares the decoders on random valid frames
// over every link type, with VLAN tags, IPv4 options, IPv6 extension
// headers and random TCP options.
func TestDecodeInteropGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	frames := generatedFrames(t, r, 3000)
	for i, f := range frames {
		where := "generated " + strconv.Itoa(i) + " (" + f.link.String() + ")"
		if !compareWithGopacket(t, where, f) {
			t.Errorf("%s: gopacket does not decode a generated TCP frame", where)
		}
	}
}

// generatedFrames makes n random valid TCP frames.
func generatedFrames(t testing.TB, r *rand.Rand, n int) []frame {
	links := []LinkType{LinkEthernet, LinkLinuxSLL, LinkLinuxSLL2, LinkRaw, LinkNull, LinkLoop, LinkIPv4, LinkIPv6}
	out := make([]frame, 0, n)
	for range n {
		link := links[r.IntN(len(links))]
		is6 := r.IntN(2) == 0
		switch link {
		case LinkIPv4:
			is6 = false
		case LinkIPv6:
			is6 = true
		}
		tcp := randomTCP(r)
		payload := make([]byte, r.IntN(3)*r.IntN(1400))
		var ip []byte
		if is6 {
			ipl := &layers.IPv6{Version: 6, HopLimit: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff,
				NextHeader: layers.IPProtocolTCP, SrcIP: randIP(r, 16), DstIP: randIP(r, 16)}
			ls := []gopacket.SerializableLayer{ipl}
			if r.IntN(3) == 0 {
				ipl.NextHeader = layers.IPProtocolIPv6HopByHop
				hbh := &layers.IPv6HopByHop{}
				hbh.NextHeader = layers.IPProtocolTCP
				hbh.Options = []*layers.IPv6HopByHopOption{
					{OptionType: 5, OptionLength: 2, OptionData: []byte{0, 0}}, // router alert
					{OptionType: 1, OptionLength: 0},                           // PadN
				}
				ls = append(ls, hbh)
			}
			ip = serialize(t, append(ls, tcp, gopacket.Payload(payload))...)
		} else {
			ipl := &layers.IPv4{Version: 4, TTL: uint8(r.Uint32()), Id: uint16(r.Uint32()), Protocol: layers.IPProtocolTCP,
				SrcIP: randIP(r, 4), DstIP: randIP(r, 4)}
			if r.IntN(2) == 0 {
				ipl.Flags = layers.IPv4DontFragment
			}
			if r.IntN(4) == 0 {
				ipl.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}}
			}
			ip = serialize(t, ipl, tcp, gopacket.Payload(payload))
		}
		etype := uint16(0x0800)
		fam := uint32(2)
		if is6 {
			etype = 0x86dd
			fam = []uint32{24, 28, 30}[r.IntN(3)]
		}
		var data []byte
		switch link {
		case LinkEthernet:
			switch r.IntN(3) {
			case 0:
				data = eth(etype, ip)
			case 1:
				data = vlan([]uint16{0x8100}, etype, ip)
			default:
				data = vlan([]uint16{0x88a8, 0x8100}, etype, ip)
			}
		case LinkLinuxSLL:
			data = sll(uint16(r.IntN(5)), etype, ip)
		case LinkLinuxSLL2:
			data = sll2(uint8(r.IntN(5)), etype, ip)
		case LinkNull:
			data = null(fam, false, ip)
		case LinkLoop:
			data = null(fam, true, ip)
		default:
			data = ip
		}
		out = append(out, frame{link, data})
	}
	return out
}

func randIP(r *rand.Rand, n int) net.IP {
	ip := make(net.IP, n)
	for i := range ip {
		ip[i] = byte(r.Uint32())
	}
	if n == 16 && ip[0] == 0 { // keep clear of IPv4-mapped and other special forms
		ip[0] = 0x20
	}
	return ip
}

func randomTCP(r *rand.Rand) *layers.TCP {
	f := byte(r.Uint32())
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
		Seq: r.Uint32(), Ack: r.Uint32(), Window: uint16(r.Uint32()),
		FIN: f&1 != 0, SYN: f&2 != 0, RST: f&4 != 0, PSH: f&8 != 0, ACK: f&16 != 0, URG: f&32 != 0, ECE: f&64 != 0, CWR: f&128 != 0,
	}
	var o []layers.TCPOption
	add := func(kind layers.TCPOptionKind, data ...byte) {
		o = append(o, layers.TCPOption{OptionType: kind, OptionLength: uint8(2 + len(data)), OptionData: data})
	}
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	room := 40
	for _, i := range r.Perm(6) {
		switch i {
		case 0:
			if room >= 4 && r.IntN(2) == 0 {
				add(layers.TCPOptionKindMSS, byte(r.Uint32()), byte(r.Uint32()))
				room -= 4
			}
		case 1:
			if room >= 3 && r.IntN(2) == 0 {
				add(layers.TCPOptionKindWindowScale, byte(r.IntN(20)))
				room -= 3
			}
		case 2:
			if room >= 2 && r.IntN(2) == 0 {
				add(layers.TCPOptionKindSACKPermitted)
				room -= 2
			}
		case 3:
			if room >= 10 && r.IntN(2) == 0 {
				add(layers.TCPOptionKindTimestamps, append(be32(r.Uint32()), be32(r.Uint32())...)...)
				room -= 10
			}
		case 4:
			if n := min((room-2)/8, 4, r.IntN(5)); n > 0 {
				var b []byte
				for range 2 * n {
					b = append(b, be32(r.Uint32())...)
				}
				add(layers.TCPOptionKindSACK, b...)
				room -= 2 + 8*n
			}
		case 5:
			if room >= 1 && r.IntN(2) == 0 {
				o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1})
				room--
			}
		}
	}
	tcp.Options = o
	return tcp
}

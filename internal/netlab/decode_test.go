//go:build linux

package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// rawFrames reads every record of a pcap or pcapng file with its link type.
func rawFrames(t *testing.T, path string) (frames [][]byte, lts []layers.LinkType) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint32(magic[:]) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		for {
			d, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			intf, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				t.Fatal(err)
			}
			frames, lts = append(frames, d), append(lts, intf.LinkType)
		}
	}
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		frames, lts = append(frames, d), append(lts, r.LinkType())
	}
}

// sameDecode reports how DecodeFrame and the old hand-written decoder
// (refDecodeFrame) differ on a frame, or "".
func sameDecode(lt layers.LinkType, b []byte) string {
	got, gerr := DecodeFrame(lt, b)
	want, werr := refDecodeFrame(lt, b)
	if (gerr == nil) != (werr == nil) {
		return "error " + errString(gerr) + ", old decoder " + errString(werr)
	}
	if gerr == nil && !reflect.DeepEqual(got, want) {
		return "decoded " + got.String() + " " + dump(got) + ", old decoder " + dump(want)
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

func dump(p Packet) string { return fmt.Sprintf("%+v", p) }

// DecodeFrame (gopacket's layers) decodes every frame of every committed
// capture exactly as the hand-written decoder it replaced did, and every
// prefix of it too (a frame cut at each length, as a snap length would).
func TestDecodeFrameAgreesWithOldDecoder(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "pcaps")
	var paths []string
	for _, g := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join(dir, g))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 40 {
		t.Fatalf("only %d captures in %s", len(paths), dir)
	}
	links := map[layers.LinkType]int{}
	total, tcp, prefixes := 0, 0, 0
	for _, path := range paths {
		frames, lts := rawFrames(t, path)
		bad := 0
		for i, b := range frames {
			total++
			links[lts[i]]++
			if _, err := refDecodeFrame(lts[i], b); err == nil {
				tcp++
			}
			if d := sameDecode(lts[i], b); d != "" {
				t.Errorf("%s frame %d: %s", filepath.Base(path), i+1, d)
				bad++
			}
			for n := range len(b) {
				prefixes++
				if d := sameDecode(lts[i], b[:n]); d != "" && bad < 5 {
					t.Errorf("%s frame %d cut to %d bytes: %s", filepath.Base(path), i+1, n, d)
					bad++
				}
			}
		}
	}
	if links[LinkEthernet] == 0 || links[LinkSLL2] == 0 {
		t.Errorf("link types seen: %v", links)
	}
	t.Logf("%d captures, %d frames (%d TCP; link types %v), %d prefixes: the same", len(paths), total, tcp, links, prefixes)
}

// withOpts is an Ethernet/IPv4 frame with a TCP header (ACK) carrying the
// given options, padded with zeros (end of list) to a multiple of 4.
func withOpts(opts ...byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	tcp := []byte{0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 2, byte((20+len(opts))/4) << 4, 0x10, 0, 1, 0, 0, 0, 0}
	tcp = append(append(tcp, opts...), "data"...)
	b := []byte{2, 0, 0x5e, 0, 0, 2, 2, 0, 0x5e, 0, 0, 1, 8, 0, 0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	binary.BigEndian.PutUint16(b[16:], uint16(20+len(tcp)))
	return append(b, tcp...)
}

// Frames the lab never writes, built by hand: both decoders agree on them.
func TestDecodeFrameOddFrames(t *testing.T) {
	tcpHdr := []byte{
		0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 100, 0, 0, 0, 200,
		0x80, 0xd1, 0xff, 0xff, 0, 0, 0, 0, // doff 8, CWR|ECE|ACK|FIN
		1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0, // NOP, SACK 1-2 (cut: len 10 of 11 left)
	}
	payload := []byte("hello")
	ip4 := func(proto byte, total int, frag uint16, ihl int) []byte {
		h := make([]byte, ihl)
		h[0] = 0x40 | byte(ihl/4)
		binary.BigEndian.PutUint16(h[2:], uint16(total))
		binary.BigEndian.PutUint16(h[6:], frag)
		h[8], h[9] = 64, proto
		copy(h[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
		for i := 20; i < ihl; i++ {
			h[i] = 1 // NOP options
		}
		return h
	}
	ip6 := func(next byte, plen int) []byte {
		h := make([]byte, 40)
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(plen))
		h[6], h[7] = next, 64
		h[8], h[23] = 0x20, 1
		h[24], h[39] = 0x20, 2
		return h
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	eth := func(etype ...uint16) []byte {
		b := []byte{2, 0, 0x5e, 0, 0, 2, 2, 0, 0x5e, 0, 0, 1}
		for i, e := range etype {
			b = binary.BigEndian.AppendUint16(b, e)
			if i < len(etype)-1 {
				b = binary.BigEndian.AppendUint16(b, uint16(10+i)) // the tag's VLAN ID
			}
		}
		return b
	}
	sll2 := func(proto uint16) []byte {
		b := binary.BigEndian.AppendUint16(nil, proto)
		return append(b, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0x5e, 0, 0, 1, 0, 0)
	}
	seg := cat(tcpHdr, payload)
	n4 := 20 + len(seg)
	hbh := []byte{6, 0, 1, 4, 0, 0, 0, 0} // hop-by-hop, next TCP, PadN
	cases := map[string]struct {
		lt     layers.LinkType
		b      []byte
		wantOK bool
	}{
		"ipv4":                       {LinkEthernet, cat(eth(0x0800), ip4(6, n4, 0x4000, 20), seg), true},
		"ipv4 ethernet padding":      {LinkEthernet, cat(eth(0x0800), ip4(6, n4, 0, 20), seg, make([]byte, 30)), true},
		"ipv4 cut payload":           {LinkEthernet, cat(eth(0x0800), ip4(6, n4+100, 0, 20), seg), true},
		"ipv4 options":               {LinkEthernet, cat(eth(0x0800), ip4(6, n4+8, 0, 28), seg), true},
		"802.1Q":                     {LinkEthernet, cat(eth(0x8100, 0x0800), ip4(6, n4, 0, 20), seg), true},
		"QinQ":                       {LinkEthernet, cat(eth(0x88a8, 0x8100, 0x0800), ip4(6, n4, 0, 20), seg), true},
		"ipv6":                       {LinkEthernet, cat(eth(0x86dd), ip6(6, len(seg)), seg), true},
		"sll2 ipv6":                  {LinkSLL2, cat(sll2(0x86dd), ip6(6, len(seg)), seg), true},
		"sll2 ipv4":                  {LinkSLL2, cat(sll2(0x0800), ip4(6, n4, 0, 20), seg), true},
		"ipv4 total length 0":        {LinkEthernet, cat(eth(0x0800), ip4(6, 0, 0, 20), seg), false},
		"ipv4 total below header":    {LinkEthernet, cat(eth(0x0800), ip4(6, 10, 0, 20), seg), false},
		"ipv4 segment below TCP":     {LinkEthernet, cat(eth(0x0800), ip4(6, 30, 0, 20), seg), false},
		"ipv4 first fragment":        {LinkEthernet, cat(eth(0x0800), ip4(6, n4, 0x2000, 20), seg), false},
		"ipv4 later fragment":        {LinkEthernet, cat(eth(0x0800), ip4(6, n4, 0x0010, 20), seg), false},
		"ipv4 udp":                   {LinkEthernet, cat(eth(0x0800), ip4(17, n4, 0, 20), seg), false},
		"ipv4 in ipv4":               {LinkEthernet, cat(eth(0x0800), ip4(4, n4+20, 0, 20), ip4(6, n4, 0, 20), seg), false},
		"ipv6 in ipv4":               {LinkEthernet, cat(eth(0x0800), ip4(41, n4+40, 0, 20), ip6(6, len(seg)), seg), false},
		"ipv6 hop-by-hop":            {LinkEthernet, cat(eth(0x86dd), ip6(0, len(seg)+8), hbh, seg), false},
		"ipv6 payload length 0":      {LinkEthernet, cat(eth(0x86dd), ip6(6, 0), seg), false},
		"ipv6 in ethertype ipv4":     {LinkEthernet, cat(eth(0x0800), ip6(6, len(seg)), seg), false},
		"ipv4 in ethertype ipv6":     {LinkEthernet, cat(eth(0x86dd), ip4(6, n4, 0, 20), make([]byte, 20), seg), false},
		"802.3 length":               {LinkEthernet, cat(eth(0x0040), ip4(6, n4, 0, 20), seg), false},
		"arp":                        {LinkEthernet, cat(eth(0x0806), ip4(6, n4, 0, 20), seg), false},
		"sll2 802.1Q":                {LinkSLL2, cat(sll2(0x8100), []byte{0, 20, 8, 0}, ip4(6, n4+4, 0, 20), seg), false},
		"tcp data offset 4":          {LinkEthernet, cat(eth(0x0800), ip4(6, n4, 0, 20), seg[:12], []byte{0x40}, seg[13:]), false},
		"tcp header past snap":       {LinkEthernet, cat(eth(0x0800), ip4(6, n4, 0, 20), seg[:25]), false},
		"tcp header below 20":        {LinkEthernet, cat(eth(0x0800), ip4(6, n4, 0, 20), seg[:19]), false},
		"no tcp header":              {LinkEthernet, cat(eth(0x0800), ip4(6, n4, 0, 20)), false},
		"unsupported link type":      {layers.LinkTypeRaw, cat(ip4(6, n4, 0, 20), seg), false},
		"empty":                      {LinkSLL2, nil, false},
		"tcp options end of list":    {LinkEthernet, withOpts(0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2), true},
		"tcp option length 1":        {LinkEthernet, withOpts(2, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2), true},
		"tcp option past the header": {LinkEthernet, withOpts(1, 1, 3, 9, 8), true},
		"tcp ts then eol":            {LinkEthernet, withOpts(8, 10, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0), true},
		"tcp ts of wrong length":     {LinkEthernet, withOpts(8, 12, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0), true},
		"tcp two ts":                 {LinkEthernet, withOpts(8, 10, 0, 0, 0, 3, 0, 0, 0, 4, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6), true},
		"tcp two sack options":       {LinkEthernet, withOpts(5, 10, 0, 0, 0, 5, 0, 0, 0, 6, 5, 10, 0, 0, 0, 7, 0, 0, 0, 8), true},
		"tcp sack with a half block": {LinkEthernet, withOpts(5, 14, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7), true},
		"tcp sack of 4 blocks":       {LinkEthernet, withOpts(1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8), true},
	}
	for name, c := range cases {
		if d := sameDecode(c.lt, c.b); d != "" {
			t.Errorf("%s: %s", name, d)
		}
		if _, err := DecodeFrame(c.lt, c.b); (err == nil) != c.wantOK {
			t.Errorf("%s: error %v, want a segment: %v", name, err, c.wantOK)
		}
	}
}

// Where gopacket's layers and the old decoder part, on frames no Linux
// veth or the lab writes; DecodeFrame's comment lists them.
func TestDecodeFrameKnownDifferences(t *testing.T) {
	seg := []byte{0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x10, 0, 1, 0, 0, 0, 0}
	ip := []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	sll2 := func(hatype uint16, halen byte) []byte {
		h := []byte{8, 0, 0, 0, 0, 0, 0, 2, byte(hatype >> 8), byte(hatype), 0, halen, 0, 0, 0, 0, 0, 0, 0, 0}
		return append(append(h, ip...), seg...)
	}
	eth := []byte{2, 0, 0x5e, 0, 0, 2, 2, 0, 0x5e, 0, 0, 1, 8, 0}
	ipOpt := append([]byte{0x46, 0, 0, 44, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 7, 1, 0, 0}, seg...)
	for name, c := range map[string]struct {
		lt layers.LinkType
		b  []byte
	}{
		"SLL2 address length 9":        {LinkSLL2, sll2(1, 9)},
		"SLL2 ARPHRD_IPGRE":            {LinkSLL2, sll2(778, 0)},
		"IPv4 option of length 1":      {LinkEthernet, append(eth, ipOpt...)},
		"bad MPTCP option, then TSopt": {LinkEthernet, withOpts(30, 3, 0x70, 8, 10, 0, 0, 0, 3, 0, 0, 0, 4)},
	} {
		old, oerr := refDecodeFrame(c.lt, c.b)
		got, err := DecodeFrame(c.lt, c.b)
		if oerr != nil || !old.HasTS && name[:3] == "bad" {
			t.Fatalf("%s: the old decoder: %+v, %v", name, old, oerr)
		}
		if name[:3] == "bad" {
			if err != nil || got.HasTS {
				t.Errorf("%s: %+v, %v; want the segment without the timestamp (gopacket stops at the bad option)", name, got, err)
			}
		} else if err == nil {
			t.Errorf("%s: decoded %+v; want gopacket to refuse it", name, got)
		}
	}
}

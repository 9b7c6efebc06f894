package capture

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"teardown/reassembly"
)

// filterExprs are checked against tcpdump on every capture.
var filterExprs = []string{
	"tcp",
	"udp",
	"ip",
	"ip6",
	"not tcp",
	"tcp port 8080",
	"port 8080",
	"tcp src port 8080",
	"dst port 8080",
	"host 198.18.0.1",
	"host 198.18.0.1 and tcp",
	"src host 198.18.0.2",
	"dst host 198.18.0.2 and tcp",
	"host 2001:db8::1",
	"ip6 and tcp",
	"net 198.18.0.0/15",
	"src net 198.18.0.0/24",
	"tcp and (port 8080 or port 40000)",
	"not port 8080",
	"tcp portrange 8000-8010",
	"ip and not host 198.18.0.9",
	"tcp and host 198.18.0.1",
	"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
	"tcp[13] & 4 != 0",
	"vlan and tcp",
	"icmp or arp",
	"not (tcp and port 8080)",
	"port 8080 or 40000",
	"ip6 and tcp and dst port 8080",
}

// fltMixed writes a pcap of Ethernet frames of many kinds: TCP over IPv4
// and IPv6 on several ports and hosts, UDP, ICMP, ARP, a VLAN-tagged TCP
// segment, an IPv4 fragment.
func fltMixed(t *testing.T, path string) {
	t.Helper()
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0x5e, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0x5e, 0, 0, 2}, EthernetType: et}
	}
	ip4 := func(src, dst string, p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	}
	ip6 := func(src, dst string, p layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	}
	tcp := func(sp, dp uint16, fin, rst bool) *layers.TCP {
		return &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: 1, ACK: true, FIN: fin, RST: rst, Window: 100, DataOffset: 5}
	}
	udp := func(sp, dp uint16) *layers.UDP {
		return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	}
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	pay := gopacket.Payload([]byte("x"))
	frames := [][]byte{
		ser(eth(layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolTCP), tcp(40000, 8080, false, false), pay),
		ser(eth(layers.EthernetTypeIPv4), ip4("198.18.0.2", "198.18.0.1", layers.IPProtocolTCP), tcp(8080, 40000, true, false)),
		ser(eth(layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.9", layers.IPProtocolTCP), tcp(40001, 8005, false, true)),
		ser(eth(layers.EthernetTypeIPv4), ip4("198.18.1.7", "198.18.0.2", layers.IPProtocolTCP), tcp(40002, 443, false, false)),
		ser(eth(layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolUDP), udp(5353, 8080), pay),
		ser(eth(layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}),
		ser(eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: []byte{2, 0, 0x5e, 0, 0, 1}, SourceProtAddress: []byte{198, 18, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{198, 18, 0, 2}}),
		ser(eth(layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolTCP), tcp(40000, 8080, false, false)),
		ser(eth(layers.EthernetTypeIPv6), ip6("2001:db8::2", "2001:db8::1", layers.IPProtocolTCP), tcp(8080, 40000, true, false)),
		ser(eth(layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::3", layers.IPProtocolUDP), udp(40000, 8080)),
		ser(eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv4},
			ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolTCP), tcp(40000, 8080, false, false)),
		ser(eth(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: 0, FragOffset: 100,
			SrcIP: net.ParseIP("198.18.0.1").To4(), DstIP: net.ParseIP("198.18.0.2").To4()}, pay),
	}
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: at.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fltFrame is one frame of a capture file.
type fltFrame struct {
	at   int64
	link reassembly.LinkType
	data []byte
}

// fltRead reads every frame of a pcap or pcapng file with pcapgo.
func fltRead(t *testing.T, path string) []fltFrame {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []fltFrame
	if bytes.HasPrefix(raw, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ifc, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fltFrame{ci.Timestamp.UnixNano(), reassembly.LinkType(ifc.LinkType), data})
		}
		return out
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fltFrame{ci.Timestamp.UnixNano(), reassembly.LinkType(r.LinkType()), data})
	}
	return out
}

// TestFilterMatchesTcpdump checks, for every expression and every capture
// of the lab plus a capture of mixed traffic, that the frames Filter.Match
// keeps are exactly those `tcpdump -r FILE -w - EXPR` keeps (same count,
// same timestamps, in order).
func TestFilterMatchesTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed: the filter cannot be compared with libpcap's")
	}
	dir := t.TempDir()
	mixed := filepath.Join(dir, "mixed.pcap")
	fltMixed(t, mixed)
	// One capture of each format and link type of the lab, and the busy
	// one: comparing all of them takes much longer and shows nothing more.
	files := []string{mixed}
	for _, name := range []string{"formats.client.pcapng", "formats.middle-vlan.pcap", "formats.server-any-sll2.pcap",
		"busy.server.pcap", "fourway-ipv6.client.pcap", "lost-ack.server.pcap", "refused.client.pcap"} {
		path := filepath.Join("..", "testdata", "pcaps", name)
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	kept := 0
	for _, expr := range filterExprs {
		f, err := CompileFilter(expr)
		if err != nil {
			t.Errorf("CompileFilter(%q): %v", expr, err)
			continue
		}
		for _, file := range files {
			frames := fltRead(t, file)
			var got []int64
			for _, fr := range frames {
				if f.Match(fr.link, fr.data) {
					got = append(got, fr.at)
				}
			}
			out := filepath.Join(dir, "out.pcap")
			cmd := exec.Command(tcpdump, "--time-stamp-precision=nano", "-r", file, "-w", out, expr)
			if msg, err := cmd.CombinedOutput(); err != nil {
				// tcpdump cannot apply it to this link type: neither may we.
				if len(frames) > 0 {
					if _, ferr := f.Program(frames[0].link); ferr == nil {
						t.Errorf("%s: tcpdump rejects %q (%v: %s), the filter compiled it", filepath.Base(file), expr, err, msg)
					}
				}
				continue
			}
			var want []int64
			for _, fr := range fltRead(t, out) {
				want = append(want, fr.at)
			}
			if !equalInt64(got, want) {
				t.Errorf("%s: filter %q keeps %d frames, tcpdump %d\n got %v\nwant %v", filepath.Base(file), expr, len(got), len(want), got, want)
			}
			kept += len(got)
		}
	}
	t.Logf("%d expressions × %d captures agree with tcpdump (%d frames kept in all)", len(filterExprs), len(files), kept)
}

func equalInt64(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFilterErrors(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	for _, expr := range []string{"", "  ", "tcp and", "(tcp", "tcp[", "nosuchproto"} {
		f, err := CompileFilter(expr)
		if err == nil {
			t.Errorf("CompileFilter(%q) succeeded; want an error", expr)
			continue
		}
		if f != nil {
			t.Errorf("CompileFilter(%q) returned a filter and an error", expr)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || msg != strings.ToLower(msg[:1])+msg[1:] {
			t.Errorf("CompileFilter(%q): error %q: want one lowercase line", expr, msg)
		}
	}
}

func TestFilterWithoutTcpdump(t *testing.T) {
	old := tcpdumpPath
	tcpdumpPath = "/nonexistent/tcpdump"
	t.Cleanup(func() { tcpdumpPath = old })
	if _, err := CompileFilter("tcp port 80"); err == nil || !strings.Contains(err.Error(), "install tcpdump") {
		t.Errorf("CompileFilter without tcpdump: %v, want a hint to install it", err)
	}
	// The default filter needs no tcpdump, for any link type.
	f := DefaultFilter()
	if _, err := f.Program(reassembly.LinkEthernet); err != nil {
		t.Fatal(err)
	}
	if !f.Match(reassembly.LinkRaw, []byte{0x45}) || f.Err() != nil {
		t.Errorf("default filter on raw IP: Match false or error %v", f.Err())
	}
}

func TestKernelProgram(t *testing.T) {
	f := DefaultFilter()
	prog, err := f.kernelProgram(96)
	if err != nil {
		t.Fatal(err)
	}
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("kernel program does not disassemble")
	}
	// The user-space VM has no ancillary loads; check the jumps land on
	// the Ethernet program and the returns were lowered.
	if len(ins) != 7+len(tcpEthernet) {
		t.Fatalf("got %d instructions", len(ins))
	}
	for i, in := range ins[7:] {
		if r, ok := in.(bpf.RetConstant); ok && r.Val != 0 && r.Val != 96 {
			t.Errorf("instruction %d returns %d, want 0 or the snap length 96", 7+i, r.Val)
		}
	}
	if _, err := bpf.NewVM(ins[7:]); err != nil {
		t.Errorf("Ethernet part: %v", err)
	}
}

package bench

import (
	"bufio"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"teardown/capture"
	"teardown/reassembly"
)

// The two benchmarks here do no analysis at all. They measure what the
// speed target leaves for it: the target is 5 M packets/s, 200 ns a
// packet for everything.

// refKey is a 5-tuple as the reference program keys it: the addresses and
// ports of the two ends, the lower end first.
type refKey struct {
	a, b   [16]byte
	pa, pb uint16
}

// refFlow is all the reference program keeps of a flow.
type refFlow struct {
	packets, bytes int
	fin, rst       bool
}

// count adds a packet of n payload bytes to the flow of k in flows.
func count[K comparable](flows map[K]*refFlow, k K, n int, fin, rst bool) {
	f := flows[k]
	if f == nil {
		f = &refFlow{}
		flows[k] = f
	}
	f.packets++
	f.bytes += n
	f.fin = f.fin || fin
	f.rst = f.rst || rst
}

// BenchmarkReference is the program issue 3 quotes as its reference
// ("pcapgo with gopacket's DecodingLayerParser and a Go map of flows",
// about 3.9 M packets/s there): pcapgo's zero-copy reads, a
// DecodingLayerParser, and a Go map from each 5-tuple to its packet and
// byte counts and whether a FIN or RST was seen.
func BenchmarkReference(b *testing.B) {
	path := benchPcap(b)
	var frames, flows int64
	for b.Loop() {
		n, m := reference(b, path)
		frames += n
		flows += m
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/pkt")
	b.ReportMetric(float64(flows)/float64(b.N), "tuples")
}

// reference runs the reference program once over path and returns the
// frames read and the 5-tuples seen.
func reference(b *testing.B, path string) (frames, tuples int64) {
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(fh, 1<<20))
	if err != nil {
		b.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		b.Skipf("%s: link type %v; the reference program reads Ethernet only", path, r.LinkType())
	}
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &payload)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	flows := map[refKey]*refFlow{}
	for {
		pkt, _, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatalf("%s: frame %d: %v", path, frames+1, err)
		}
		frames++
		_ = parser.DecodeLayers(pkt, &decoded) // errors: the layers decoded so far stand
		var k refKey
		isTCP := false
		for _, l := range decoded {
			switch l {
			case layers.LayerTypeIPv4:
				copy(k.a[:], ip4.SrcIP)
				copy(k.b[:], ip4.DstIP)
			case layers.LayerTypeIPv6:
				copy(k.a[:], ip6.SrcIP)
				copy(k.b[:], ip6.DstIP)
			case layers.LayerTypeTCP:
				isTCP = true
				k.pa, k.pb = uint16(tcp.SrcPort), uint16(tcp.DstPort)
			}
		}
		if !isTCP {
			continue
		}
		if string(k.a[:]) > string(k.b[:]) || (k.a == k.b && k.pa > k.pb) {
			k.a, k.b, k.pa, k.pb = k.b, k.a, k.pb, k.pa
		}
		count(flows, k, len(tcp.Payload), tcp.FIN, tcp.RST)
	}
	return frames, int64(len(flows))
}

// BenchmarkFloor is the reference program on teardown's own reader and
// decoder (BenchmarkRead) with reassembly.Key as the map's key: the
// cheapest flow tracking over teardown's input path. Every analysis that
// looks each segment's flow up costs at least this.
func BenchmarkFloor(b *testing.B) {
	path := benchPcap(b)
	var frames, tuples int64
	for b.Loop() {
		r, err := capture.Open([]string{path}, nil)
		if err != nil {
			b.Fatal(err)
		}
		flows := map[reassembly.Key]*refFlow{}
		var seg reassembly.Segment
		for r.Next(&seg) {
			k, _ := reassembly.KeyOf(&seg)
			count(flows, k, int(seg.Len), seg.Flags&reassembly.FlagFIN != 0, seg.Flags&reassembly.FlagRST != 0)
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		frames += r.Inputs()[0].Frames
		tuples += int64(len(flows))
		r.Close()
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/pkt")
	b.ReportMetric(float64(tuples)/float64(b.N), "tuples")
}

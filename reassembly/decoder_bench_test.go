package reassembly

import (
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// benchFrames is a mix of typical frames: Ethernet IPv4 data segments and
// pure ACKs with timestamps, some VLAN-tagged, some IPv6, some SLL2.
func benchFrames(b *testing.B) []frame {
	r := rand.New(rand.NewPCG(3, 4))
	return generatedFrames(b, r, 1024)
}

func BenchmarkDecode(b *testing.B) {
	frames := benchFrames(b)
	var d Decoder
	var seg Segment
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := &frames[i&1023]
		d.Decode(f.link, f.data, &seg)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkDecodeEthernetIPv4 is the common case alone: an Ethernet IPv4
// ACK with timestamps.
func BenchmarkDecodeEthernetIPv4(b *testing.B) {
	tcp := &layers.TCP{SrcPort: 443, DstPort: 50000, Seq: 1, Ack: 2, ACK: true, Window: 500,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
		}}
	data := eth(0x0800, v4(b, tcp, nil))
	var d Decoder
	var seg Segment
	b.ReportAllocs()
	for b.Loop() {
		d.Decode(LinkEthernet, data, &seg)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkGopacketParser measures gopacket's DecodingLayerParser on the
// same frames as BenchmarkDecode (Ethernet, IPv4 and IPv6 only, the cheapest
// configuration), without even copying fields out, to justify the
// hand-written decoder.
func BenchmarkGopacketParser(b *testing.B) {
	var frames []frame
	for _, f := range benchFrames(b) {
		if f.link == LinkEthernet {
			frames = append(frames, f)
		}
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
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := &frames[i%len(frames)]
		_ = parser.DecodeLayers(f.data, &decoded)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkDecodeEthernetOnly runs Decode on the same Ethernet-only frames
// as BenchmarkGopacketParser.
func BenchmarkDecodeEthernetOnly(b *testing.B) {
	var frames []frame
	for _, f := range benchFrames(b) {
		if f.link == LinkEthernet {
			frames = append(frames, f)
		}
	}
	var d Decoder
	var seg Segment
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := &frames[i%len(frames)]
		d.Decode(f.link, f.data, &seg)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

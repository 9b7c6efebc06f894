package capture

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"teardown/reassembly"
)

const benchPackets = 1_000_000

var (
	benchOnce sync.Once
	benchData []byte
)

// benchPcap returns a pcap of benchPackets typical frames: Ethernet IPv4
// TCP with timestamps and small payloads, every fourth an ARP (non-TCP)
// frame.
func benchPcap(tb testing.TB) []byte {
	benchOnce.Do(func() { benchData = makeBenchPcap(tb) })
	return benchData
}

func makeBenchPcap(tb testing.TB) []byte {
	recs := mixed(tb, 1024, t0, 1)
	var buf bytes.Buffer
	buf.Write(pcapBytes(false, false, reassembly.LinkEthernet, 65535, nil))
	for i := range benchPackets {
		r := recs[i%len(recs)]
		r.at = t0 + int64(i)*1000
		buf.Write(pcapBytes(false, false, reassembly.LinkEthernet, 65535, []rec{r})[24:])
	}
	return buf.Bytes()
}

// BenchmarkRead reads a 1M-packet in-memory pcap through OpenReaders/Next:
// record reading, decoding and counting.
func BenchmarkRead(b *testing.B) {
	data := benchPcap(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		r, err := OpenReaders([]Source{src("bench.pcap", data)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		var seg reassembly.Segment
		for r.Next(&seg) {
		}
		frames += int(r.Inputs()[0].Frames)
		if frames == 0 || r.Err() != nil {
			b.Fatal("nothing read", r.Err())
		}
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkReadMerge4 reads the same pcap as four inputs merged.
func BenchmarkReadMerge4(b *testing.B) {
	data := benchPcap(b)
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		srcs := []Source{src("a", data), src("b", data), src("c", data), src("d", data)}
		r, err := OpenReaders(srcs, nil)
		if err != nil {
			b.Fatal(err)
		}
		var seg reassembly.Segment
		for r.Next(&seg) {
		}
		for _, in := range r.Inputs() {
			frames += int(in.Frames)
		}
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkReadPcapgo is the same work with pcapgo's reader
// (ZeroCopyReadPacketData) in place of the hand-written one, for
// comparison.
func BenchmarkReadPcapgo(b *testing.B) {
	data := benchPcap(b)
	b.ReportAllocs()
	frames := 0
	var d reassembly.Decoder
	for b.Loop() {
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		var seg reassembly.Segment
		for {
			pkt, _, err := r.ZeroCopyReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			d.Decode(reassembly.LinkEthernet, pkt, &seg)
			frames++
		}
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "packets/s")
}

// TestReadAllocs checks that reading does not allocate per packet: the
// allocations of a whole read do not grow with the number of packets.
func TestReadAllocs(t *testing.T) {
	recs := mixed(t, 64, t0, 1)
	small := pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs[:4])
	big := pcapBytes(false, false, reassembly.LinkEthernet, 65535, append(append(append([]rec(nil), recs...), recs...), recs...))
	ng := ngMixed(t, false, append(append([]rec(nil), recs...), recs...))
	ngSmall := ngMixed(t, false, recs[:4])
	count := func(data []byte) float64 {
		return testing.AllocsPerRun(20, func() {
			r, err := OpenReaders([]Source{src("x", data)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var seg reassembly.Segment
			for r.Next(&seg) {
			}
		})
	}
	if a, b := count(small), count(big); a != b {
		t.Errorf("pcap: %v allocations for 4 packets, %v for %d", a, b, 3*len(recs))
	}
	if a, b := count(ngSmall), count(ng); a != b {
		t.Errorf("pcapng: %v allocations for 4 packets, %v for %d", a, b, 2*len(recs))
	}
}

// BenchmarkReadFile reads the 1M-packet pcap from a file through Open.
func BenchmarkReadFile(b *testing.B) {
	benchFile(b, "bench.pcap", benchPcap(b))
}

// BenchmarkReadGzip reads the 1M-packet pcap gzip-compressed from a file.
func BenchmarkReadGzip(b *testing.B) {
	benchFile(b, "bench.pcap.gz", gz(b, benchPcap(b)))
}

func benchFile(b *testing.B, name string, data []byte) {
	path := writeFile(b, name, data)
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		r, err := Open([]string{path}, nil)
		if err != nil {
			b.Fatal(err)
		}
		var seg reassembly.Segment
		for r.Next(&seg) {
		}
		frames += int(r.Inputs()[0].Frames)
		r.Close()
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "packets/s")
}

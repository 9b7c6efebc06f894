package analyzer

import (
	"testing"

	"teardown/reassembly"
)

// shortConns builds n short connections of 9 segments each (handshake,
// request, response, four-way close), 64 open at a time, ports cycling
// so that tuples are reused only long after TIME_WAIT.
func shortConns(n int) []reassembly.Segment {
	var out []reassembly.Segment
	script := with(handshake, []step{
		{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 100},
		{dir: "S>C", flags: "P.", seq: 1, ack: 101, len: 300},
		{dir: "C>S", flags: "F.", seq: 101, ack: 301},
		{dir: "S>C", flags: "F.", seq: 301, ack: 102},
		{dir: "C>S", flags: ".", seq: 102, ack: 302},
	})
	const conc = 64
	var at int64 = 1e18
	for base := 0; base < n; base += conc {
		group := make([][]reassembly.Segment, 0, conc)
		for i := 0; i < conc && base+i < n; i++ {
			port := uint16(10000 + (base+i)%50000)
			group = append(group, segs(port, at, script))
		}
		for k := range script {
			for _, g := range group {
				s := g[k]
				s.At = at
				at += 1000
				out = append(out, s)
			}
		}
	}
	for i := range out {
		out[i].Frame = int64(i + 1)
	}
	return out
}

func BenchmarkAnalyzer(b *testing.B) {
	ss := shortConns(20000)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		a := New(Config{}, func(*Flow) {})
		for i := range ss {
			a.Add(&ss[i])
		}
		a.Close()
		n += len(ss)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/pkt")
}

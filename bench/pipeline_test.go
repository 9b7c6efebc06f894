package bench

import (
	"os"
	"runtime"
	"testing"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

// defaultPcap is where benchgen writes the capture by default.
const defaultPcap = "/tmp/teardown-bench/big.pcap"

// benchPcap returns the capture to benchmark on, or skips.
func benchPcap(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("TEARDOWN_BENCH_PCAP"); p != "" {
		if _, err := os.Stat(p); err != nil {
			b.Fatalf("TEARDOWN_BENCH_PCAP: %v", err)
		}
		return p
	}
	if _, err := os.Stat(defaultPcap); err != nil {
		b.Skipf("no benchmark capture: set TEARDOWN_BENCH_PCAP or make %s with "+
			"`go run ./internal/netlab/cmd/benchgen` as root (or scripts/bench.sh)", defaultPcap)
	}
	return defaultPcap
}

// mallocs returns the number of heap allocations so far.
func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// BenchmarkPipeline runs the whole analysis in-process, as the teardown
// command does minus the rendering: read and decode every frame, feed
// every segment to the analyzer, and drop the finished flows without
// asking for their sentences and timelines, each made in the memory of
// the one before, as the command has them made (Config.Reuse). One op is
// the whole capture.
func BenchmarkPipeline(b *testing.B) {
	path := benchPcap(b)
	b.ReportAllocs()
	var frames, flows int64
	peak := 0
	m0 := mallocs()
	for b.Loop() {
		r, err := capture.Open([]string{path}, nil)
		if err != nil {
			b.Fatal(err)
		}
		a := analyzer.New(analyzer.Config{Detail: func(*analyzer.Flow) bool { return false }, Reuse: true}, func(*analyzer.Flow) {})
		var seg reassembly.Segment
		for r.Next(&seg) {
			a.Add(&seg)
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		a.Close()
		frames += r.Inputs()[0].Frames
		st := a.Stats()
		flows += st.Flows
		peak = max(peak, st.PeakOpen)
		r.Close()
	}
	allocs := mallocs() - m0
	if frames == 0 {
		b.Fatal("no frames read")
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/pkt")
	b.ReportMetric(float64(allocs)/float64(frames), "allocs/pkt")
	b.ReportMetric(float64(flows)/float64(b.N), "flows")
	b.ReportMetric(float64(peak), "peak-open-flows")
}

// BenchmarkRead is BenchmarkPipeline without the analyzer: reading and
// decoding only, to tell the two costs apart.
func BenchmarkRead(b *testing.B) {
	path := benchPcap(b)
	b.ReportAllocs()
	var frames int64
	m0 := mallocs()
	for b.Loop() {
		r, err := capture.Open([]string{path}, nil)
		if err != nil {
			b.Fatal(err)
		}
		var seg reassembly.Segment
		for r.Next(&seg) {
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		frames += r.Inputs()[0].Frames
		r.Close()
	}
	allocs := mallocs() - m0
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/pkt")
	b.ReportMetric(float64(allocs)/float64(frames), "allocs/pkt")
}

// BenchmarkPeakHeap measures the analyzer's live memory per open flow at
// the moment the most flows are open, the figure the memory target is
// about (16 MiB + 200 B per open flow): its live heap plus the chunks it
// maps outside the heap for flows and 5-tuples. A first pass finds the
// peak; the second collects garbage when it is reached and reads both. The
// sub-benchmarks ask for no flow's details (text mode: four-way flows are
// not printed) and for every flow's (json, ndjson, markdown, html).
func BenchmarkPeakHeap(b *testing.B) {
	path := benchPcap(b)
	for _, mode := range []struct {
		name   string
		detail bool
	}{{"summary", false}, {"detail", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var perFlow, heap float64
			for b.Loop() {
				peak := peakHeapPass(b, path, mode.detail, 0, nil)
				var live uint64
				peakHeapPass(b, path, mode.detail, peak, &live)
				heap = float64(live)
				perFlow = float64(live) / float64(peak)
			}
			b.ReportMetric(heap/(1<<20), "MiB-live-at-peak")
			b.ReportMetric(perFlow, "B/open-flow")
		})
	}
}

// peakHeapPass analyses path once and returns the peak number of open
// flows. With at > 0 it collects garbage when that many flows are open and
// stores the live heap and off-heap bytes in live.
func peakHeapPass(b *testing.B, path string, detail bool, at int, live *uint64) int {
	r, err := capture.Open([]string{path}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	a := analyzer.New(analyzer.Config{Detail: func(*analyzer.Flow) bool { return detail }, Reuse: true}, func(*analyzer.Flow) {})
	var seg reassembly.Segment
	for r.Next(&seg) {
		a.Add(&seg)
		if at > 0 && a.Stats().OpenFlows == at {
			at = 0
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			*live = m.HeapAlloc + uint64(a.Stats().OffHeap)
		}
	}
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
	peak := a.Stats().PeakOpen
	a.Close()
	return peak
}

package report

import (
	"io"
	"path/filepath"
	"testing"

	"teardown/analyzer"
	"teardown/capture"
)

// benchCapture is the lab capture the benchmarks render: 320 flows of
// every common class, with their timelines.
var benchCapture = filepath.Join("..", "testdata", "pcaps", "busy.server.pcap")

// benchFlows returns the flows of benchCapture, fully detailed, in the
// order the analyzer emits them.
func benchFlows(b *testing.B) []*analyzer.Flow {
	b.Helper()
	var flows []*analyzer.Flow
	analyzeFile(b, benchCapture, func(f *analyzer.Flow) { flows = append(flows, cloneFlow(f)) })
	return flows
}

// benchRender writes flows through a new Writer per iteration and closes
// it, reporting flows per second.
func benchRender(b *testing.B, flows []*analyzer.Flow, format Format, opts Options, write func(w *Writer, f *analyzer.Flow)) {
	b.Helper()
	inputs := []capture.Input{{Name: opts.Inputs[0], Format: "pcap", Frames: 2940, TCP: 2940}}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		w := NewWriter(io.Discard, format, opts)
		for _, f := range flows {
			write(w, f)
		}
		if err := w.Close(inputs, analyzer.Stats{}); err != nil {
			b.Fatal(err)
		}
		n += len(flows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
}

func writeFlow(b *testing.B) func(w *Writer, f *analyzer.Flow) {
	return func(w *Writer, f *analyzer.Flow) {
		if err := w.WriteFlow(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkText renders every flow of benchCapture (--all) in the text
// format, ladders, summary and findings included: streamed, as on a
// capture too big to hold, and held back to print the summary first.
func BenchmarkText(b *testing.B) {
	flows := benchFlows(b)
	opts := Options{Inputs: []string{filepath.Base(benchCapture)}, All: true}
	b.Run("stream", func(b *testing.B) {
		o := opts
		o.TextBuffer = -1
		benchRender(b, flows, Text, o, writeFlow(b))
	})
	b.Run("held", func(b *testing.B) {
		benchRender(b, flows, Text, opts, writeFlow(b))
	})
}

// BenchmarkFindings feeds every flow of benchCapture to the findings
// bookkeeping and computes the findings, as Writer.Close does.
func BenchmarkFindings(b *testing.B) {
	flows := benchFlows(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		var fs findings
		for _, f := range flows {
			fs.add(f)
		}
		if len(fs.compute()) == 0 {
			b.Fatal("no findings")
		}
		n += len(flows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
}

// Package bench holds teardown's end-to-end speed and memory benchmark: the
// whole pipeline (capture.Open, Reader.Next, analyzer.Add) over a large
// capture of real-kernel short connections made by
// internal/netlab/cmd/benchgen, and the analyzer's live heap per open flow
// at the peak (BenchmarkPeakHeap). Two benchmarks without any analysis
// put the figures in scale: the reference program issue 3 quotes
// (BenchmarkReference: pcapgo, DecodingLayerParser, a Go map of flows) and
// the same map over teardown's reader (BenchmarkFloor). scripts/bench.sh
// builds that capture, runs these benchmarks and times the teardown
// command against tshark.
//
//	go run ./internal/netlab/cmd/benchgen   # as root, writes /tmp/teardown-bench/big.pcap
//	go test ./bench -run '^$' -bench . -benchtime 3x
//
// TEARDOWN_BENCH_PCAP names another capture; without one the benchmarks
// skip.
package bench

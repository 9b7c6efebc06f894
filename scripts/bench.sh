#!/usr/bin/env bash
# bench.sh: teardown's speed and memory benchmark on a large real-kernel
# capture of short connections, against tshark -q -z conv,tcp.
#
#   scripts/bench.sh            # as root: builds, generates the capture if missing, times, profiles
#
# Steps:
#   1. build teardown into $BENCH_DIR;
#   2. make $BENCH_PCAP with internal/netlab/cmd/benchgen if it is missing
#      (needs root: network namespaces and AF_PACKET);
#   3. warm the page cache with the capture;
#   4. time, best of $BENCH_RUNS, pinned to one core (taskset -c 0):
#      teardown -F ndjson, teardown (text) and tshark -q -z conv,tcp, with
#      /usr/bin/time for the peak RSS; print packets/s, the teardown/tshark
#      ratio, peak RSS, the peak number of concurrently open flows (from
#      the ndjson summary) and whether RSS <= 16 MiB + 200 B x peak open flows;
#   5. unless BENCH_GO=0: go test -bench over the in-process pipeline
#      (bench/, built with teardown's PGO profile), one CPU, with the
#      analyzer's live heap per open flow at the peak and a CPU profile
#      split into reader, decoder, analyzer and garbage collector.
#
# Environment: BENCH_DIR (/tmp/teardown-bench), BENCH_PCAP ($BENCH_DIR/big.pcap),
# BENCH_CONNS (350000, for a new capture), BENCH_RUNS (3), BENCH_GO (1),
# BENCH_CPU (0, the core to pin to), TEARDOWN_BIN (a teardown binary to
# time instead of building one).
set -euo pipefail

cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp/teardown-bench}
pcap=${BENCH_PCAP:-$dir/big.pcap}
conns=${BENCH_CONNS:-350000}
runs=${BENCH_RUNS:-3}
cpu=${BENCH_CPU:-0}
mkdir -p "$dir"

die() { echo "bench.sh: $*" >&2; exit 1; }

if [[ ! -x /usr/bin/time ]]; then
	[[ $(id -u) == 0 ]] || die "GNU time (/usr/bin/time) is missing: apt-get install time"
	echo "bench.sh: installing GNU time"
	apt-get install -y -qq time >/dev/null || die "could not install GNU time"
fi
command -v taskset >/dev/null || die "taskset (util-linux) is missing"

# 1. teardown
if [[ -n ${TEARDOWN_BIN:-} ]]; then
	td=$TEARDOWN_BIN
else
	td=$dir/teardown
	go build -o "$td" ./cmd/teardown || die "building teardown failed"
fi

# 2. the capture
if [[ ! -s $pcap ]]; then
	[[ $(id -u) == 0 ]] || die "$pcap is missing and making it needs root"
	echo "bench.sh: generating $pcap ($conns connections)"
	go run ./internal/netlab/cmd/benchgen -out "$pcap" -conns "$conns" || die "benchgen failed"
fi

# 3. page cache
cat "$pcap" >/dev/null
cat "$pcap" >/dev/null

# Counts from teardown's ndjson summary line.
summary=$("$td" -F ndjson "$pcap" | tail -n 1)
num() { grep -o "\"$1\":[0-9]*" <<<"$summary" | head -n 1 | cut -d: -f2; }
frames=$(num frames)
flows=$(num flows)
peak=$(num peak_open_flows)
[[ -n $frames && $frames -gt 0 ]] || die "no frame count in teardown's ndjson summary"
size=$(stat -c %s "$pcap")
printf 'capture  %s: %d frames, %d flows, %.1f MB\n' "$pcap" "$frames" "$flows" "$(bc -l <<<"$size/1000000")"
if [[ -n $peak ]]; then
	echo "peak open flows (teardown summary): $peak"
else
	echo "peak open flows: not in teardown's summary (no peak_open_flows key)"
fi

# 4. timings. best NAME CMD...: best wall time of $runs runs and the
# largest peak RSS, in globals wall and rss (KiB).
best() {
	local name=$1
	shift
	local out=$dir/time.out i t0 t1 w m
	wall='' rss=0
	for ((i = 0; i < runs; i++)); do
		t0=$EPOCHREALTIME
		/usr/bin/time -f '%e %M' -o "$out" taskset -c "$cpu" "$@" >/dev/null 2>"$dir/$name.stderr" ||
			die "$name failed: $(tail -n 3 "$dir/$name.stderr")"
		t1=$EPOCHREALTIME
		w=$(bc -l <<<"$t1 - $t0")
		m=$(tail -n 1 "$out" | cut -d' ' -f2)
		if [[ -z $wall ]] || (($(bc -l <<<"$w < $wall"))); then wall=$w; fi
		if ((m > rss)); then rss=$m; fi
	done
	return 0
}

declare -A W R
names=(teardown-ndjson teardown-text tshark)
best teardown-ndjson "$td" -F ndjson "$pcap"
W[teardown-ndjson]=$wall R[teardown-ndjson]=$rss
best teardown-text "$td" "$pcap"
W[teardown-text]=$wall R[teardown-text]=$rss
if command -v tshark >/dev/null; then
	best tshark tshark -q -z conv,tcp -r "$pcap"
	W[tshark]=$wall R[tshark]=$rss
else
	echo "tshark not installed: no comparison (apt-get install tshark)"
	names=(teardown-ndjson teardown-text)
fi

echo
echo "one core (taskset -c $cpu), page cache warm, best of $runs:"
printf '  %-16s %9s %12s %11s\n' "" "wall s" "packets/s" "peak RSS"
for n in "${names[@]}"; do
	printf '  %-16s %9.3f %12.0f %7.1f MiB\n' "$n" "${W[$n]}" "$(bc -l <<<"$frames / ${W[$n]}")" "$(bc -l <<<"${R[$n]} / 1024")"
done
if [[ -n ${W[tshark]:-} ]]; then
	for n in teardown-ndjson teardown-text; do
		printf '  %s / tshark speed: %.1fx\n' "$n" "$(bc -l <<<"${W[tshark]} / ${W[$n]}")"
	done
fi
for n in teardown-text teardown-ndjson; do
	printf '  speed target 5,000,000 packets/s: %s %s\n' "$n" \
		"$( (($(bc -l <<<"$frames / ${W[$n]} >= 5000000"))) && echo met || echo NOT met)"
done
if [[ -n $peak ]]; then
	budget=$(bc <<<"16 * 1024 + 200 * $peak / 1024") # KiB
	for n in teardown-ndjson teardown-text; do
		r=${R[$n]}
		printf '  memory budget 16 MiB + 200 B x %d open flows = %.1f MiB: %s %.1f MiB, %s (%.0f B per open flow above 16 MiB)\n' \
			"$peak" "$(bc -l <<<"$budget / 1024")" "$n" "$(bc -l <<<"$r / 1024")" \
			"$( ((r <= budget)) && echo met || echo NOT met)" "$(bc -l <<<"($r - 16384) * 1024 / $peak")"
	done
else
	echo "  memory budget: cannot check without the peak number of open flows"
fi

# 5. in-process benchmark and profile
[[ ${BENCH_GO:-1} == 0 ]] && exit 0
echo
echo "go test -bench (bench/, GOMAXPROCS=1, one op = the whole capture):"
prof=$dir/prof
mkdir -p "$prof"
# The in-process benchmarks are built with the profile teardown is built
# with (see scripts/pgo.sh), so that they measure the same code.
pgo=off
[[ -s cmd/teardown/default.pgo ]] && pgo=$PWD/cmd/teardown/default.pgo
TEARDOWN_BENCH_PCAP=$pcap taskset -c "$cpu" go test -pgo="$pgo" ./bench -run '^$' -bench . -benchtime "${runs}x" -cpu 1 |
	grep -E '^Benchmark|^ok|FAIL'
# Profiles of the pipeline alone, its CPU time split by cumulative time
# (Reader.Next includes the decoder it calls).
TEARDOWN_BENCH_PCAP=$pcap taskset -c "$cpu" go test -pgo="$pgo" ./bench -run '^$' -bench Pipeline -benchtime "${runs}x" -cpu 1 \
	-cpuprofile "$prof/cpu.out" -memprofile "$prof/mem.out" -o "$prof/bench.test" >/dev/null
go tool pprof -top -cum -nodecount 400 "$prof/bench.test" "$prof/cpu.out" 2>/dev/null | awk '
	/Total samples/ { for (i = 1; i <= NF; i++) if ($i == "=") total = sec($(i+1)) }
	function sec(s) { if (s ~ /ms$/) { sub("ms", "", s); return s / 1000 } sub("s", "", s); return s + 0 }
	$6 == "teardown/capture.(*Reader).Next" { next_ = sec($4) }
	$6 == "teardown/reassembly.(*Decoder).Decode" { dec = sec($4) }
	$6 == "teardown/analyzer.(*Analyzer).Add" { add = sec($4) }
	$6 == "teardown/analyzer.(*Analyzer).Close" { cls = sec($4) }
	$6 == "runtime.gcBgMarkWorker" { gc = sec($4) }
	END {
		if (total == 0) { print "  no profile"; exit }
		printf "  profile split (%.2fs of samples):\n", total
		printf "    reader   (capture, without decoding) %6.2fs %5.1f%%\n", next_ - dec, 100 * (next_ - dec) / total
		printf "    decoder  (reassembly.Decode)          %6.2fs %5.1f%%\n", dec, 100 * dec / total
		printf "    analyzer (Add + Close, with its mallocs) %3.2fs %5.1f%%\n", add + cls, 100 * (add + cls) / total
		printf "    GC background marking                 %6.2fs %5.1f%%\n", gc, 100 * gc / total
	}'
/usr/bin/time -f '%M' -o "$dir/time.out" taskset -c "$cpu" env TEARDOWN_BENCH_PCAP="$pcap" \
	"$prof/bench.test" -test.run '^$' -test.bench Pipeline -test.benchtime 1x -test.cpu 1 >/dev/null
printf '  in-process pipeline alone (no rendering): peak RSS %.1f MiB\n' "$(bc -l <<<"$(tail -n 1 "$dir/time.out") / 1024")"
echo "  top functions (go tool pprof -top $prof/bench.test $prof/cpu.out):"
go tool pprof -top -nodecount 25 "$prof/bench.test" "$prof/cpu.out" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/    /'
echo "  allocated space (go tool pprof -sample_index=alloc_space -top $prof/bench.test $prof/mem.out):"
go tool pprof -sample_index=alloc_space -top -nodecount 10 "$prof/bench.test" "$prof/mem.out" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/    /'

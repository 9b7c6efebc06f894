#!/usr/bin/env bash
# pgo.sh: regenerate cmd/teardown/default.pgo, the CPU profile that go build
# uses for profile-guided optimisation of teardown (inlining and layout of
# the hot paths; about 8% of the text run's time on the benchmark capture).
#
#   scripts/pgo.sh      # needs the benchmark capture: scripts/bench.sh makes it (root)
#
# The profile is the sum of teardown's runs on the benchmark capture: text
# twice and ndjson once, so that both renderings weigh about the same. Run it
# again after changes to the hot paths, and commit the new profile.
#
# Environment: BENCH_DIR (/tmp/teardown-bench), BENCH_PCAP ($BENCH_DIR/big.pcap).
set -euo pipefail

cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp/teardown-bench}
pcap=${BENCH_PCAP:-$dir/big.pcap}
die() { echo "pgo.sh: $*" >&2; exit 1; }
[[ -s $pcap ]] || die "$pcap is missing: scripts/bench.sh makes it (as root)"
mkdir -p "$dir"

td=$dir/teardown-pgo
go build -o "$td" ./cmd/teardown || die "building teardown failed"
cat "$pcap" >/dev/null # page cache
"$td" --cpuprofile "$dir/text1.pprof" "$pcap" >/dev/null
"$td" --cpuprofile "$dir/text2.pprof" "$pcap" >/dev/null
"$td" --cpuprofile "$dir/ndjson.pprof" -F ndjson "$pcap" >/dev/null
go tool pprof -proto "$dir/text1.pprof" "$dir/text2.pprof" "$dir/ndjson.pprof" >"$dir/default.pgo" ||
	die "merging the profiles failed"
mv "$dir/default.pgo" cmd/teardown/default.pgo
echo "pgo.sh: wrote cmd/teardown/default.pgo ($(stat -c %s cmd/teardown/default.pgo) bytes)"

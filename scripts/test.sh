#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (as root) and runs
# every test. The capture-lab and live-capture tests build network
# namespaces, so they need root and iproute2; tcpdump compiles -f filters
# and is the oracle of the filter test; tshark checks frame numbering and
# the evidence pcapng; chromium renders the HTML report. CI runs this script
# as root.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg_cmd in iproute2:ip nftables:nft ethtool:ethtool tcpdump:tcpdump tshark:tshark chromium:chromium; do
	pkg=${pkg_cmd%%:*} cmd=${pkg_cmd#*:}
	command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "scripts/test.sh: missing ${need[*]}; run as root to install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

go vet ./...
# -p 1: the lab and live-capture tests time real TCP stacks through a Go
# router; running packages side by side on a 2-core machine only adds
# scheduling noise to them.
go test -count=1 -p 1 ./... "$@"

#!/bin/sh
# Wall time of `gpumigrate topo --json` on the saved topologies (median of 20 runs), side by
# side with `lstopo` reading the same XML file (the peer: it parses the file with the same
# hwloc and prints the tree; we parse it and derive the whole matrix).
# usage: bench/topo.sh [BINARY]
set -eu
bin=${1:-build/gpumigrate}
root=$(cd "$(dirname "$0")/.." && pwd)
runs=20

. "$(dirname "$0")/lib.sh"

printf '%-22s %12s %12s %8s\n' "topology" "gpumigrate" "lstopo" "ratio"
for f in dgx-a100 hgx-h100 pcie-8gpu-rdma gce-vm; do
	xml=$root/tests/fixtures/topo/$f.xml
	ours=$(GPUMIGRATE_NVML_LIBRARY=/nonexistent median_ms "$bin" topo --json -x "$xml")
	peer=$(median_ms lstopo -i "$xml" --of console)
	printf '%-22s %10s ms %10s ms %8s\n' "$f" "$ours" "$peer" \
		"$(awk -v a="$ours" -v b="$peer" 'BEGIN {printf "%.2f", a / b}')"
done

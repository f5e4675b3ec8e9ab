#!/bin/sh
# Wall time of the main job, `gpumigrate assess` on the example plans with the HTML report
# (median of 20 runs). Target: under 200 ms. usage: bench/assess.sh [BINARY]
set -eu
bin=${1:-build/gpumigrate}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$(dirname "$0")/lib.sh"
out=$(mktemp -d)
printf '%-28s %s\n' "plan" "median ms (n=${runs:-20})"
for plan in gke-a100-to-l40s t4-fleet-to-l4; do
	ms=$(median_ms "$bin" assess -p "$root/examples/$plan.yaml" --html "$out/$plan.html")
	printf '%-28s %s\n' "$plan (+html)" "$ms"
	ms=$(median_ms "$bin" assess --json -p "$root/examples/$plan.yaml")
	printf '%-28s %s\n' "$plan (--json)" "$ms"
done
rm -rf "$out"

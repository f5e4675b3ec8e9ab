#!/bin/sh
# The exporter against node_exporter, side by side in one run, on loopback: scrape latency
# under wrk (2 connections, 10 s, closed loop: as fast as each answers), resident memory after
# the load, and CPU used while idle at a 1 s sampling interval (10 s). gpumigrate serves 8 fake
# GPUs (tests/fixtures/nvml/exporter-8gpu.yaml through the fake NVML); node_exporter serves
# this host. usage: bench/exporter.sh [BINARY] [BUILD_DIR]
set -eu
bin=${1:-build/gpumigrate}
build=${2:-$(dirname "$bin")}
root=$(cd "$(dirname "$0")/.." && pwd)
port_gm=19400
port_ne=19100

GPUMIGRATE_NVML_LIBRARY=$build/tests/fakes/nvml/libnvidia-ml-fake.so \
GPUMIGRATE_FAKE_NVML=$root/tests/fixtures/nvml/exporter-8gpu.yaml \
	"$bin" exporter --listen 127.0.0.1:$port_gm --interval 1s 2>/dev/null &
gm=$!
prometheus-node-exporter --web.listen-address=127.0.0.1:$port_ne >/dev/null 2>&1 &
ne=$!
trap 'kill $gm $ne 2>/dev/null' EXIT
sleep 2

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

measure() { # name pid url
	p99=$(wrk -t1 -c2 -d10s --latency "$3" | awk '/^ +99%/ {print $2}')
	rps=$(wrk -t1 -c2 -d5s "$3" | awk '/Requests\/sec/ {print $2}')
	rss=$(rss_kib "$2")
	t0=$(ticks "$2")
	sleep 10
	t1=$(ticks "$2")
	cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz / 10 * 100}')
	bytes=$(curl -s "$3" | wc -c)
	printf '%-16s %10s %10s %10s %12s %10s\n' "$1" "$p99" "$rps" "$((rss / 1024)) MiB" "$cpu %" "$bytes"
}

printf '%-16s %10s %10s %10s %12s %10s\n' exporter "p99" "req/s" "RSS" "idle CPU" "bytes"
measure gpumigrate $gm http://127.0.0.1:$port_gm/metrics
measure node_exporter $ne http://127.0.0.1:$port_ne/metrics

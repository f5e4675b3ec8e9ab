#!/bin/sh
# `gpumigrate bench http` against wrk, side by side in one run, on loopback: both with one
# connection (wrk: one thread), closed loop, against the same fast keep-alive server
# node_exporter (Go net/http): its landing page / (150 bytes, about 20 µs: the worst case
# for a client's own overhead) and /metrics (a real scrape). Rounds alternate the two tools
# (3 rounds of 10 s each by default) and the medians are compared; targets: requests/s
# ≥ 0.8 × wrk's, p50 within 10 % of wrk's. (`gpumigrate exporter` is not used as the server:
# it answers with "Connection: close", and wrk leaves the reconnect out of its latency while
# a libcurl client counts it.) usage: bench/http.sh [BINARY] [SECONDS] [ROUNDS]
set -eu
bin=${1:-build/gpumigrate}
secs=${2:-10}
rounds=${3:-3}
port=19102

prometheus-node-exporter --web.listen-address=127.0.0.1:$port >/dev/null 2>&1 &
srv=$!
out=$(mktemp -d)
trap 'kill $srv 2>/dev/null; rm -rf "$out"' EXIT
sleep 2

# wrk prints "50%   52.00us"; → microseconds
to_us() { awk '{v=$1; u=$1; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u);
	m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : 1;
	printf "%.1f", v * m}'; }

run_wrk() { # url → "rps p50_us"
	wrk -t1 -c1 -d"${secs}s" --latency "$1" >"$out/wrk.txt"
	rps=$(awk '/Requests\/sec/ {print $2}' "$out/wrk.txt")
	p50=$(awk '$1 == "50%" {print $2}' "$out/wrk.txt" | to_us)
	echo "$rps $p50"
}

run_gm() { # url → "rps p50_us"
	"$bin" bench http -c 1 -d "${secs}s" --no-inventory --json "$1" >"$out/gm.json" 2>/dev/null || true
	python3 - "$out/gm.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = d["figures"]
print("%.2f %.1f" % (f["requests_per_second"]["samples"][0], f["latency"]["summary"]["p50"] * 1e6))
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

for path in / /metrics; do
url=http://127.0.0.1:$port$path
echo "server: node_exporter $url, $rounds rounds of ${secs}s per tool, 1 connection"
printf '%-6s %-11s %12s %10s\n' round tool "req/s" "p50 µs"
: >"$out/w" ; : >"$out/g"
i=1
while [ $i -le "$rounds" ]; do
	set -- $(run_wrk "$url")
	echo "$1 $2" >>"$out/w"
	printf '%-6s %-11s %12s %10s\n' "$i" wrk "$1" "$2"
	set -- $(run_gm "$url")
	echo "$1 $2" >>"$out/g"
	printf '%-6s %-11s %12s %10s\n' "$i" gpumigrate "$1" "$2"
	i=$((i + 1))
done
w_rps=$(awk '{print $1}' "$out/w" | median); w_p50=$(awk '{print $2}' "$out/w" | median)
g_rps=$(awk '{print $1}' "$out/g" | median); g_p50=$(awk '{print $2}' "$out/g" | median)
printf '%-6s %-11s %12s %10s\n' median wrk "$w_rps" "$w_p50"
printf '%-6s %-11s %12s %10s\n' median gpumigrate "$g_rps" "$g_p50"
awk -v gr="$g_rps" -v wr="$w_rps" -v gp="$g_p50" -v wp="$w_p50" 'BEGIN {
	r = gr / wr; d = (gp - wp) / wp * 100;
	printf "req/s ratio %.3f (target >= 0.8: %s); p50 %+.1f %% vs wrk (target within 10 %%: %s)\n\n",
		r, (r >= 0.8 ? "ok" : "MISSED"), d, (d <= 10 && d >= -10 ? "ok" : "MISSED") }'
done

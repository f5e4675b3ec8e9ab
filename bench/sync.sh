#!/bin/sh
# gpumigrate sync against rsync, side by side in one run, on the data the issue names:
# ../shared/bench/mkdata.py's "mixed" tree (20,000 files of 1-16 KiB in 200 directories,
# 4 × 256 MiB, a symlink) on tmpfs at both ends, and the same over SSH on loopback through a
# private sshd (bench/sshd.sh). Prints one line per case with both medians and the ratio
# (ours / rsync; below 1 is faster), then the resume, delta and memory figures.
# usage: bench/sync.sh [BINARY] [MKDATA]   (as root: it starts sshd; needs ~6 GiB of /dev/shm,
# rsync and GNU time)
# Set CASES to a subset ("local norun ssh-small ssh-big resume delta memory") to run fewer.
set -eu
bin=$(realpath "${1:-build/gpumigrate}")
here=$(cd "$(dirname "$0")" && pwd)
mkdata=${2:-$here/../../shared/bench/mkdata.py}
cases=${CASES:-local norun ssh-small ssh-big resume delta memory}
work=${BENCH_DIR:-/dev/shm/gm-bench-sync}

. "$here/lib.sh"
. "$here/sshd.sh"

rm -rf "$work"
mkdir -p "$work"
trap 'stop_sshd "$work/ssh"; rm -rf "$work"' EXIT

want() { case " $cases " in *" $1 "*) return 0 ;; esac; return 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-34s %12s %12s %8s\n' "$1" "$2" "$3" "$4"; }
# Max resident set of a command in KiB, by GNU time (Debian package "time"): it forks a copy
# of itself, which is small, so the figure is the command's own (a child of python or of a
# big shell would start from its parent's size).
maxrss_kib() {
	/usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null
	tail -1 "$work/rss"
}
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "rsync: $(rsync --version | head -1)"
row case "rsync ms" "gpumigrate ms" ratio

python3 "$mkdata" mixed "$work/src" >/dev/null

if want local; then
	runs=3
	r=$(prepare="rm -rf '$work/dr'" median_ms rsync -a "$work/src/" "$work/dr/")
	g=$(prepare="rm -rf '$work/dg'" median_ms "$bin" sync -q "$work/src/" "$work/dg/")
	row "local full copy (mixed)" "$r" "$g" "$(ratio "$g" "$r")"
	rm -rf "$work/dr" "$work/dg"
fi

if want norun; then
	rsync -a "$work/src/" "$work/dr/"
	"$bin" sync -q "$work/src/" "$work/dg/"
	runs=10
	r=$(median_ms rsync -a "$work/src/" "$work/dr/")
	g=$(median_ms "$bin" sync -q "$work/src/" "$work/dg/")
	row "no-change re-run (mixed)" "$r" "$g" "$(ratio "$g" "$r")"
	rm -rf "$work/dr" "$work/dg"
fi

if want ssh-small || want ssh-big || want delta || want memory; then
	start_sshd "$work/ssh"
fi

if want ssh-small; then
	python3 - "$work/small4k" <<'PY'
import os, random, sys
root, rng = sys.argv[1], random.Random(7)
for i in range(20000):
    d = os.path.join(root, f"d{i % 200:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}"), "wb") as f:
        f.write(rng.randbytes(4096))
PY
	runs=3
	r=$(prepare="rm -rf '$work/dr'" median_ms rsync -a -e "$SSH_CMD" "$work/small4k/" "$SSH_HOST:$work/dr/")
	g=$(prepare="rm -rf '$work/dg'" median_ms "$bin" sync -q -e "$SSH_CMD" --remote-bin "$bin" "$work/small4k/" "$SSH_HOST:$work/dg/")
	row "ssh 20,000 x 4 KiB" "$r" "$g" "$(ratio "$g" "$r")"
	rm -rf "$work/dr" "$work/dg" "$work/small4k"
fi

if want ssh-big || want delta; then
	mkdir -p "$work/big"
	head -c $((1 << 30)) /dev/urandom >"$work/big/one.bin"
fi

if want ssh-big; then
	runs=3
	r=$(prepare="rm -rf '$work/dr'" median_ms rsync -a -e "$SSH_CMD" "$work/big/" "$SSH_HOST:$work/dr/")
	g=$(prepare="rm -rf '$work/dg'" median_ms "$bin" sync -q -e "$SSH_CMD" --remote-bin "$bin" "$work/big/" "$SSH_HOST:$work/dg/")
	row "ssh one 1 GiB file" "$r" "$g" "$(ratio "$g" "$r")"
	rm -rf "$work/dr" "$work/dg"
fi

if want delta; then
	# The destination holds the old file; 1 MiB in the middle of the source then changes.
	cp -a "$work/big" "$work/dr"
	cp -a "$work/big" "$work/dg"
	python3 - "$work/big/one.bin" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(512 << 20)
    f.write(os.urandom(1 << 20))
PY
	r_out=$(rsync -a --stats -e "$SSH_CMD" "$work/big/" "$SSH_HOST:$work/dr/")
	r_wire=$(printf '%s\n' "$r_out" | awk -F': ' '/Total bytes sent/ {gsub(",", "", $2); s=$2} /Total bytes received/ {gsub(",", "", $2); r=$2} END {print s + r}')
	g_wire=$("$bin" sync --json -e "$SSH_CMD" --remote-bin "$bin" "$work/big/" "$SSH_HOST:$work/dg/" | json_field wire_bytes)
	cmp "$work/big/one.bin" "$work/dg/one.bin"
	printf '%-34s %12s %12s %8s\n' "1 MiB changed in 1 GiB, wire MiB" \
		"$(awk -v b="$r_wire" 'BEGIN {printf "%.2f", b / 1048576}')" \
		"$(awk -v b="$g_wire" 'BEGIN {printf "%.2f", b / 1048576}')" "$(ratio "$g_wire" "$r_wire")"
	rm -rf "$work/dr" "$work/dg"
fi
rm -rf "$work/big"

if want resume; then
	mkdir -p "$work/one"
	head -c $((1 << 30)) /dev/urandom >"$work/one/ckpt.bin"
	runs=3
	fresh=$(prepare="rm -rf '$work/dg'" median_ms "$bin" sync -q "$work/one/" "$work/dg/")
	total=0
	n=0
	for i in 1 2 3; do
		rm -rf "$work/dg"
		"$bin" sync -q "$work/one/" "$work/dg/" &
		pid=$!
		# Kill it once 40% of the file is in its temporary file.
		python3 - "$work/dg" $((1 << 30)) <<'PY'
import os, sys, time
root, size = sys.argv[1], int(sys.argv[2])
while True:
    for d, _, files in os.walk(os.path.join(root, ".gpumigrate")):
        for f in files:
            try:
                if os.stat(os.path.join(d, f)).st_size >= size * 0.4:
                    sys.exit(0)
            except FileNotFoundError:
                pass
    time.sleep(0.002)
PY
		kill -9 $pid
		wait $pid 2>/dev/null || true
		s=$(date +%s%N)
		sent=$("$bin" sync --json "$work/one/" "$work/dg/" | json_field bytes_sent)
		e=$(date +%s%N)
		cmp "$work/one/ckpt.bin" "$work/dg/ckpt.bin"
		total=$((total + (e - s) / 1000))
		n=$((n + 1))
		echo "  resume $i: re-sent $((sent >> 20)) MiB of 1024 MiB"
	done
	res=$(awk -v t="$total" -v n="$n" 'BEGIN {printf "%.2f", t / n / 1000}')
	row "resume 1 GiB killed at 40% (vs fresh)" "$fresh" "$res" "$(ratio "$res" "$fresh")"
	rm -rf "$work/one" "$work/dg"
fi

if want memory; then
	python3 - "$work/million" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(1000):
    p = os.path.join(root, f"d{d:03d}")
    os.makedirs(p)
    for f in range(1000):
        with open(os.path.join(p, f"f{f:03d}"), "wb") as fh:
            fh.write(b"%d\n" % (d * 1000 + f))
PY
	kib=$(maxrss_kib "$bin" sync -q "$work/million/" "$work/dg/")
	echo "1,000,000 files, local: peak RSS $((kib / 1024)) MiB = $((kib * 1024 / 1000000)) bytes per file"
	kib=$(maxrss_kib rsync -a "$work/million/" "$work/dr/")
	echo "1,000,000 files, rsync -a: peak RSS $((kib / 1024)) MiB = $((kib * 1024 / 1000000)) bytes per file"
	# Over ssh, each side on its own: the server through a wrapper that records its peak.
	printf '#!/bin/sh\nexec /usr/bin/time -f %%M -o %s "%s" "$@"\n' "$work/srv-rss" "$bin" >"$work/srv.sh"
	chmod +x "$work/srv.sh"
	rm -rf "$work/dg"
	kib=$(maxrss_kib "$bin" sync -q -e "$SSH_CMD" --remote-bin "$work/srv.sh" --streams 1 \
		"$work/million/" "$SSH_HOST:$work/dg/")
	srv=$(tail -1 "$work/srv-rss")
	echo "1,000,000 files over ssh: client peak RSS $((kib / 1024)) MiB = $((kib * 1024 / 1000000)) bytes per file; server $((srv / 1024)) MiB = $((srv * 1024 / 1000000)) bytes per file"
	rm -rf "$work/million" "$work/dg" "$work/dr"
fi

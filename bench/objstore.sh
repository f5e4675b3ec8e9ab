#!/bin/sh
# gpumigrate sync to and from S3 against rclone copy, side by side in one run, on the same
# local S3 server: s3rver (npm, node; it checks SigV4), its store on tmpfs. The data is
# ../shared/bench/mkdata.py's "mixed" tree (20,000 files of 1-16 KiB in 200 directories,
# 4 × 256 MiB, a symlink), also on tmpfs. Prints one line per case with both medians and the
# ratio (ours / rclone; below 1 is faster), then peak memory, then (case "requests") how many
# requests of each kind each tool sent, counted by a logging s3rver.
# usage: bench/objstore.sh [BINARY] [MKDATA]   (needs s3rver and node, rclone, GNU time,
# rsync, curl and ~6 GiB of /dev/shm)
# Knobs: CASES, a subset of "upload download norun memory requests"; RUNS (default 3) runs
# per median; DATA, a mkdata.py kind: mixed (default), small or large; PORT (default 14600;
# the logging server takes PORT+1); BENCH_DIR (default /dev/shm/gm-bench-objstore).
#
# rclone runs with its defaults (--transfers 4 --checkers 8, 5 MiB upload parts above
# 200 MiB, 4 streams for downloads above 250 MiB, a HEAD after each upload). It keeps no
# symlinks (it skips "latest" on upload) and no modes, so its copies are compared by content
# only. Both tools download and re-upload onto the tree gpumigrate uploaded ("seed"): s3rver
# lists with a delimiter only the "directories" that hold an object of their own, so a tree
# without directory markers (rclone writes none) hides small/ from a delimiter listing (rclone
# without --fast-list, or gpumigrate, would then see only large/).
set -eu
bin=$(realpath "${1:-build/gpumigrate}")
here=$(cd "$(dirname "$0")" && pwd)
mkdata=${2:-$here/../../shared/bench/mkdata.py}
cases=${CASES:-upload download norun memory requests}
data=${DATA:-mixed}
nruns=${RUNS:-3}
port=${PORT:-14600}
work=${BENCH_DIR:-/dev/shm/gm-bench-objstore}
bucket=bench

. "$here/lib.sh"

s3pid=
stop_s3() {
	if [ -n "$s3pid" ]; then
		kill "$s3pid" 2>/dev/null || true
		wait "$s3pid" 2>/dev/null || true
		s3pid=
	fi
}
rm -rf "$work"
mkdir -p "$work/state"
trap 'stop_s3; rm -rf "$work"' EXIT

want() { case " $cases " in *" $1 "*) return 0 ;; esac; return 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-36s %12s %12s %8s\n' "$1" "$2" "$3" "$4"; }
maxrss_kib() {
	/usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>"$work/rss-err" || {
		cat "$work/rss-err" >&2
		return 1
	}
	tail -1 "$work/rss"
}
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# median_prep_ms PREP CMD...: like median_ms, but runs the shell text PREP (untimed) before
# each run, and stops the bench when CMD fails (a failed copy has no time worth printing).
median_prep_ms() {
	_prep=$1
	shift
	_i=0
	_f=$(mktemp)
	while [ $_i -lt "$nruns" ]; do
		sh -c "$_prep"
		_s=$(date +%s%N)
		if ! "$@" >/dev/null 2>"$work/err"; then
			echo "FAILED: $*" >&2
			tail -20 "$work/err" >&2
			rm -f "$_f"
			return 1
		fi
		_e=$(date +%s%N)
		echo $(((_e - _s) / 1000)) >>"$_f"
		_i=$((_i + 1))
	done
	sort -n "$_f" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'
	rm -f "$_f"
}

# Both tools get the same endpoint and credentials; AWS_CA_BUNDLE is unset because rclone
# 1.60 refuses to start with it ("LoadCustomCABundleError ... unsupported transport").
unset AWS_CA_BUNDLE AWS_PROFILE AWS_ENDPOINT_URL_S3 AWS_REGION 2>/dev/null || true
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER XDG_STATE_HOME="$work/state"
: >"$work/rclone.conf"
export RCLONE_CONFIG="$work/rclone.conf" RCLONE_CONFIG_S3B_TYPE=s3 RCLONE_CONFIG_S3B_PROVIDER=Other \
	RCLONE_CONFIG_S3B_ACCESS_KEY_ID=S3RVER RCLONE_CONFIG_S3B_SECRET_ACCESS_KEY=S3RVER \
	RCLONE_CONFIG_S3B_FORCE_PATH_STYLE=true
# start_s3 DIR PORT [LOG]: s3rver on PORT storing under DIR; with LOG, through a wrapper that
# writes one line per request (method, URL, status, ms) there.
start_s3() {
	mkdir -p "$1"
	if [ $# -ge 3 ]; then
		cat >"$work/s3log.js" <<'EOF'
const fs = require('fs');
const S3rver = require(process.env.S3RVER_MODULE);
const [dir, port, bucket, log] = process.argv.slice(2);
const fd = fs.openSync(log, 'a');
const s = new S3rver({ directory: dir, address: '127.0.0.1', port: +port, silent: true,
	configureBuckets: [{ name: bucket, configs: [] }] });
s.middleware.unshift(async (ctx, next) => {
	const t = process.hrtime.bigint();
	await next();
	fs.writeSync(fd, `${ctx.method} ${ctx.url} ${ctx.status} ${Number(process.hrtime.bigint() - t) / 1e6}\n`);
});
s.run((err) => { if (err) { console.error(err); process.exit(1); } });
EOF
		S3RVER_MODULE="$(npm root -g)/s3rver" node "$work/s3log.js" "$1" "$2" "$bucket" "$3" \
			>"$work/s3rver.out" 2>&1 &
	else
		s3rver -d "$1" -a 127.0.0.1 -p "$2" --configure-bucket "$bucket" -s >"$work/s3rver.out" 2>&1 &
	fi
	s3pid=$!
	_i=0
	until curl -so /dev/null "http://127.0.0.1:$2/"; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || { cat "$work/s3rver.out" >&2; return 1; }
		sleep 0.1
	done
	ep="http://127.0.0.1:$2"
	export RCLONE_CONFIG_S3B_ENDPOINT="$ep"
}
gm() { "$bin" sync -q --endpoint "$ep" "$@"; }
rc() { rclone copy "$@"; }

# check_store STORE PREFIX TOOL: every regular file of the source is an object of the same
# bytes in s3rver's store (which keeps an object's body as KEY._S3rver_object).
check_store() {
	python3 - "$work/src" "$1/$bucket/$2" "$3" <<'PY'
import filecmp, os, sys
src, store, tool = sys.argv[1:]
files = bad = 0
for d, _, names in os.walk(src):
    for n in names:
        p = os.path.join(d, n)
        if os.path.islink(p):
            continue
        files += 1
        o = os.path.join(store, os.path.relpath(p, src)) + "._S3rver_object"
        if not os.path.exists(o) or not filecmp.cmp(p, o, shallow=False):
            bad += 1
objects = sum(n.endswith("._S3rver_object") for _, _, ns in os.walk(store) for n in ns)
print(f"  check {tool} upload: {files - bad} of {files} files stored byte for byte; {objects} objects in the prefix")
sys.exit(1 if bad else 0)
PY
}

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "rclone: $(rclone --version | head -1); s3rver $(s3rver --version); node $(node --version)"
echo "data: mkdata.py $data; $nruns runs per median"

python3 "$mkdata" "$data" "$work/src" >/dev/null
store=$work/s3
start_s3 "$store" "$port"
# The tree both tools download and re-upload onto, uploaded once by gpumigrate.
gm "$work/src/" "s3://$bucket/seed/"
check_store "$store" seed gpumigrate
row case "rclone ms" "gpumigrate ms" ratio

if want upload; then
	r=$(median_prep_ms "rm -rf '$store/$bucket/up-r'" rc "$work/src/" "s3b:$bucket/up-r/")
	g=$(median_prep_ms "rm -rf '$store/$bucket/up-g' '$work/state/gpumigrate'" \
		gm "$work/src/" "s3://$bucket/up-g/")
	row "upload, fresh prefix ($data)" "$r" "$g" "$(ratio "$g" "$r")"
	check_store "$store" up-r rclone
	check_store "$store" up-g gpumigrate
	rm -rf "$store/$bucket/up-r" "$store/$bucket/up-g"
fi

if want download; then
	r=$(median_prep_ms "rm -rf '$work/dr'" rc "s3b:$bucket/seed/" "$work/dr/")
	g=$(median_prep_ms "rm -rf '$work/dg'" gm "s3://$bucket/seed/" "$work/dg/")
	row "download, fresh directory ($data)" "$r" "$g" "$(ratio "$g" "$r")"
	# gpumigrate keeps links, modes and times: rsync lists every difference but its lock
	# directory; rclone only content ("latest" comes back as the empty object it is).
	echo "  check gpumigrate download: rsync -ani --exclude=/.gpumigrate src/ dg/ lists $(rsync -ani --exclude=/.gpumigrate "$work/src/" "$work/dg/" | tee "$work/itemized" | wc -l) differences:"
	sed 's/^/    /' "$work/itemized" | head -5
	diff -r --no-dereference -x .gpumigrate "$work/src" "$work/dg"
	echo "  check gpumigrate download: diff -r --no-dereference: same content and links"
	diff -r -x latest "$work/src" "$work/dr"
	echo "  check rclone download: diff -r -x latest: same content ($(find "$work/dr" -type f | wc -l) files)"
	rm -rf "$work/dr" "$work/dg"
fi

if want norun; then
	# Both re-upload the unchanged tree onto the seed; first make sure neither copies anything.
	n=$("$bin" sync --json --endpoint "$ep" "$work/src/" "s3://$bucket/seed/" | json_field copied)
	rclone copy -v "$work/src/" "s3b:$bucket/seed/" 2>"$work/rclone-v"
	echo "  no-change check: gpumigrate copied $n; rclone: $(grep -c 'Copied' "$work/rclone-v" || true) copied"
	r=$(median_prep_ms : rc "$work/src/" "s3b:$bucket/seed/")
	g=$(median_prep_ms : gm "$work/src/" "s3://$bucket/seed/")
	row "no-change re-upload ($data)" "$r" "$g" "$(ratio "$g" "$r")"
fi

if want memory; then
	ru=$(maxrss_kib rclone copy "$work/src/" "s3b:$bucket/mem-r/")
	gu=$(maxrss_kib "$bin" sync -q --endpoint "$ep" "$work/src/" "s3://$bucket/mem-g/")
	row "peak RSS upload, MiB" "$((ru / 1024))" "$((gu / 1024))" "$(ratio "$gu" "$ru")"
	rd=$(maxrss_kib rclone copy "s3b:$bucket/seed/" "$work/dr/")
	gd=$(maxrss_kib "$bin" sync -q --endpoint "$ep" "s3://$bucket/seed/" "$work/dg/")
	row "peak RSS download, MiB" "$((rd / 1024))" "$((gd / 1024))" "$(ratio "$gd" "$rd")"
	rm -rf "$work/dr" "$work/dg" "$store/$bucket/mem-r" "$store/$bucket/mem-g"
fi

if want requests; then
	# One run of each on a logging s3rver (slower than the plain one: its times are not the
	# figures above), then the requests it answered, by kind.
	stop_s3
	rm -rf "$store"
	log=$work/requests.log
	start_s3 "$store" $((port + 1)) "$log"
	: >"$log" # the readiness probe
	count() {
		label=$1
		shift
		_s=$(date +%s%N)
		"$@" >/dev/null 2>&1
		_e=$(date +%s%N)
		awk -v what="$label" -v ms=$(((_e - _s) / 1000000)) '
			{ k = $1; if ($2 ~ /[?&](list-type|delimiter|prefix)=/) k = "LIST"
			  else if ($2 ~ /[?&]uploadId=/ && k == "PUT") k = "PART"
			  else if ($2 ~ /[?&]uploads/ || ($2 ~ /[?&]uploadId=/ && k == "POST")) k = "MPU"
			  n[k]++; t++; if ($3 >= 400) e++ }
			END { printf "  %-34s %6d requests in %5.1f s:", what, t, ms / 1000
			      for (k in n) printf " %s %d", k, n[k]
			      printf "%s\n", e ? sprintf(" (%d answered >= 400)", e) : "" }' "$log"
		: >"$log"
	}
	count "gpumigrate upload" gm "$work/src/" "s3://$bucket/seed/"
	count "rclone upload" rc "$work/src/" "s3b:$bucket/up-r/"
	count "gpumigrate no-change re-upload" gm "$work/src/" "s3://$bucket/seed/"
	count "rclone no-change re-upload" rc "$work/src/" "s3b:$bucket/seed/"
	count "gpumigrate download" gm "s3://$bucket/seed/" "$work/dg/"
	count "rclone download" rc "s3b:$bucket/seed/" "$work/dr/"
	echo "  (MPU: multipart create and complete; PART: part uploads)"
fi

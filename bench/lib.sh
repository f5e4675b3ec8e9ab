# Shared by the bench scripts: median wall time of a command.
# median_ms CMD... → prints the median wall time in milliseconds over $runs runs (default 20).
# $prepare, when set, is a shell command run before each run and not timed (removing the
# destination of a full copy, say).
median_ms() {
	_n=${runs:-20}
	_i=0
	_f=$(mktemp)
	while [ $_i -lt "$_n" ]; do
		[ -z "${prepare:-}" ] || sh -c "$prepare"
		_s=$(date +%s%N)
		"$@" >/dev/null 2>&1
		_e=$(date +%s%N)
		echo $(((_e - _s) / 1000)) >>"$_f"
		_i=$((_i + 1))
	done
	sort -n "$_f" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'
	rm -f "$_f"
}

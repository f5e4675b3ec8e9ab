#!/bin/sh
# Wall time of a whole `gpumigrate check --json` on the fixtures (median of 20 runs each), the
# number doc/benchmarks.md records; the issue's budget is 100 ms. The fake NVML serves the
# GPUs, the sysfs fixture the host (copied with a kernel log, processes and sockets so every
# check has its evidence). usage: bench/check.sh [BINARY] [BUILD_DIR]
set -eu
bin=${1:-build/gpumigrate}
build=${2:-$(dirname "$bin")}
root=$(cd "$(dirname "$0")/.." && pwd)
fake=$build/tests/fakes/nvml/libnvidia-ml-fake.so
runs=20
budget_ms=100

. "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A host root with the local evidence check reads: kernel log, /proc/PID/comm, /proc/net/tcp.
make_root() {
	cp -a "$root/tests/fixtures/sysroot/$1" "$tmp/$1"
	mkdir -p "$tmp/$1/var/log" "$tmp/$1/proc/1" "$tmp/$1/proc/2" "$tmp/$1/proc/net"
	cp "$root/tests/fixtures/kernlog/$2" "$tmp/$1/var/log/kern.log"
	echo systemd >"$tmp/$1/proc/1/comm"
	echo chronyd >"$tmp/$1/proc/2/comm"
	printf '  sl  local_address rem_address   st\n   0: 00000000:0016 00000000:0000 0A\n' \
		>"$tmp/$1/proc/net/tcp"
}
make_root onprem-l40s clean-boot.log
make_root gce-t4-vm gce-t4.log
make_root broken-host broken-messages

# check exits 1 when a check fails (the fixtures are made to fail some); that is not an error here.
gm_check() {
	"$bin" "$@" || [ $? -eq 1 ]
}

status=0
printf '%-16s %-16s %-18s %s\n' "nvml fixture" "sysroot" "profile" "median ms (n=$runs)"
for case in l40s-4x-pcie:onprem-l40s:anthos-baremetal h100-8x-sxm:onprem-l40s:k8s \
	a2-highgpu-8g:onprem-l40s:k8s n1-t4:gce-t4-vm:docker none:broken-host:k8s; do
	nvml=${case%%:*}
	rest=${case#*:}
	sys=${rest%%:*}
	profile=${rest#*:}
	lib=$fake
	if [ "$nvml" = none ]; then lib=/nonexistent; fi
	ms=$(GPUMIGRATE_NVML_LIBRARY=$lib GPUMIGRATE_FAKE_NVML=$root/tests/fixtures/nvml/$nvml.yaml \
		median_ms gm_check --json check --sysroot "$tmp/$sys" --profile "$profile" \
		--require-cuda 12.4)
	printf '%-16s %-16s %-18s %s\n' "$nvml" "$sys" "$profile" "$ms"
	if awk -v m="$ms" -v b="$budget_ms" 'BEGIN {exit !(m >= b)}'; then
		echo "over the ${budget_ms} ms budget" >&2
		status=1
	fi
done
ms=$(median_ms gm_check --json check --inventory "$root/tests/fixtures/inventory/healthy-a100.json" \
	"$root/tests/fixtures/inventory/degraded-t4.json" "$root/tests/fixtures/inventory/no-driver.json")
printf '%-16s %-16s %-18s %s\n' "(3 inventories)" "-" "k8s" "$ms"
exit $status

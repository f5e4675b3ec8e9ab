#!/bin/sh
# Wall time of `gpumigrate inventory --json` on the fixtures (median of 20 runs each), the
# number doc/benchmarks.md records. The fake NVML serves the GPUs; the sysfs fixture serves
# the host. usage: bench/inventory.sh [BINARY] [BUILD_DIR]
set -eu
bin=${1:-build/gpumigrate}
build=${2:-$(dirname "$bin")}
root=$(cd "$(dirname "$0")/.." && pwd)
fake=$build/tests/fakes/nvml/libnvidia-ml-fake.so
runs=20

. "$(dirname "$0")/lib.sh"

printf '%-24s %-16s %s\n' "nvml fixture" "sysroot" "median ms (n=$runs)"
for case in a2-highgpu-8g:onprem-l40s h100-8x-sxm:onprem-l40s l40s-4x-pcie:onprem-l40s n1-t4:gce-t4-vm; do
	nvml=${case%%:*}
	sys=${case#*:}
	ms=$(GPUMIGRATE_NVML_LIBRARY=$fake GPUMIGRATE_FAKE_NVML=$root/tests/fixtures/nvml/$nvml.yaml \
		median_ms "$bin" inventory --json --sysroot "$root/tests/fixtures/sysroot/$sys")
	printf '%-24s %-16s %s\n' "$nvml" "$sys" "$ms"
done
ms=$(GPUMIGRATE_NVML_LIBRARY=/nonexistent median_ms "$bin" inventory --json)
printf '%-24s %-16s %s\n' "(none: this host)" "/" "$ms"
if command -v nvidia-smi >/dev/null 2>&1; then
	ms=$(median_ms nvidia-smi -q)
	printf '%-24s %-16s %s\n' "nvidia-smi -q (peer)" "/" "$ms"
fi

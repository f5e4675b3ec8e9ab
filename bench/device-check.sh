#!/bin/sh
# Device check: on a machine with a real NVIDIA GPU, build gpumigrate, run inventory and
# topo, and compare them with nvidia-smi on the same machine. CI has no GPU; run this where
# one is available (one call, a few minutes). Prints one line per comparison and a
# summary; exits 1 when anything disagrees. usage: bench/device-check.sh [BUILD_DIR]
set -u
build=${1:-build-device}
out=${OUT:-/tmp/gm-device-check}
mkdir -p "$out"
fail=0
say() { printf '%s\n' "$*" | tee -a "$out/summary.txt"; }
: >"$out/summary.txt"

command -v nvidia-smi >/dev/null 2>&1 || { say "no nvidia-smi: not a GPU machine"; exit 5; }
./scripts/install-deps >"$out/install.log" 2>&1 || { say "install-deps failed"; exit 2; }
{ [ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release; } >"$out/build.log" 2>&1
ninja -C "$build" gpumigrate >>"$out/build.log" 2>&1 || { say "build failed"; tail -20 "$out/build.log"; exit 2; }
bin=$build/gpumigrate

"$bin" inventory --json >"$out/inventory.json" 2>"$out/inventory.err"; say "inventory exit $?"
"$bin" inventory >"$out/inventory.txt" 2>&1
"$bin" topo >"$out/topo.txt" 2>&1; say "topo exit $?"
"$bin" topo --json >"$out/topo.json" 2>&1
nvidia-smi -q >"$out/nvidia-smi-q.txt" 2>&1
nvidia-smi topo -m >"$out/nvidia-smi-topo.txt" 2>&1
nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,memory.total,driver_version,pcie.link.gen.max,pcie.link.width.max,pcie.link.width.current,persistence_mode,ecc.mode.current,mig.mode.current,power.limit \
	--format=csv,noheader,nounits >"$out/nvidia-smi.csv" 2>&1

# Field-by-field comparison of the GPUs, in python (stdlib only).
/usr/bin/python3 - "$out" <<'PY' || fail=1
import csv, json, sys
out = sys.argv[1]
inv = json.load(open(f"{out}/inventory.json"))
gpus = inv["nvidia"]["gpus"]
rows = list(csv.reader(open(f"{out}/nvidia-smi.csv")))
bad = 0
def check(what, ours, theirs):
    global bad
    ok = str(ours).strip().lower() == str(theirs).strip().lower()
    bad += not ok
    print(f"{'ok  ' if ok else 'DIFF'} {what}: gpumigrate={ours!r} nvidia-smi={theirs!r}")
check("gpu count", len(gpus), len(rows))
for g, r in zip(gpus, rows):
    r = [x.strip() for x in r]
    i = g["index"]
    check(f"gpu{i} name", g["name"], r[1])
    check(f"gpu{i} uuid", g["uuid"], r[2])
    bus = r[3].lower()
    bus = bus[4:] if len(bus) == 16 else bus  # 00000000:xx:yy.z -> 0000:xx:yy.z
    check(f"gpu{i} bdf", g["bdf"], bus)
    check(f"gpu{i} memory MiB", (g["memory_total_bytes"] or 0) // (1 << 20), r[4])
    check(f"gpu{i} driver", inv["nvidia"]["driver_version"], r[5])
    check(f"gpu{i} pcie gen max", g["pcie_gen_max"], r[6])
    check(f"gpu{i} pcie width max", g["pcie_width_max"], r[7])
    check(f"gpu{i} pcie width current", g["pcie_width_current"], r[8])
    check(f"gpu{i} persistence", "enabled" if g["persistence_mode"] else "disabled", r[9])
    if g["ecc_enabled"] is not None:
        check(f"gpu{i} ecc", "enabled" if g["ecc_enabled"] else "disabled", r[10])
    if g["mig_enabled"] is not None:
        check(f"gpu{i} mig", "enabled" if g["mig_enabled"] else "disabled", r[11])
    check(f"gpu{i} power limit W", round((g["power_limit_mw"] or 0) / 1000), round(float(r[12])))
# topo: compare the GPU-GPU cells with nvidia-smi topo -m
topo = json.load(open(f"{out}/topo.json"))
lines = [l.split() for l in open(f"{out}/nvidia-smi-topo.txt") if l.startswith("GPU")]
names = [d["name"] for d in topo["devices"]]
for l in lines[1:] if lines and lines[0][0] != "GPU0" else lines:
    if l[0] not in names: continue
    a = names.index(l[0])
    for b, name in enumerate(names):
        if not name.startswith("GPU") or b + 1 >= len(l): continue
        check(f"topo {l[0]}-{name}", topo["matrix"][a][b], l[1 + b])
print(f"{bad} differences")
sys.exit(1 if bad else 0)
PY
say "comparison: $( [ $fail = 0 ] && echo agree || echo DIFFER ) (details in $out)"
# timing on the real driver
bench/inventory.sh "$bin" "$build" >"$out/bench.txt" 2>&1 || true
cat "$out/bench.txt" >>"$out/summary.txt"
exit $fail

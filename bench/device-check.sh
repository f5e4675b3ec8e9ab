#!/bin/sh
# Device check: on a machine with a real NVIDIA GPU, build gpumigrate, run inventory and
# topo, and compare them with nvidia-smi on the same machine; run bench gpu and compare its
# device copy and BF16 GEMM figures with PyTorch's on the same card (when torch is there). CI has no GPU; run this where
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

# bench gpu, and PyTorch's figures for the same card when torch is importable (no network:
# nothing is installed for this). Targets: device copy >= 0.9 x PyTorch's, BF16 GEMM >= 0.95 x.
# cuBLAS: the system's, else the one PyTorch's wheels bring (nvidia-cublas-cu12).
py=$(command -v python3 || echo /usr/bin/python3)
have_torch=0
"$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1 && have_torch=1
if [ -z "${GPUMIGRATE_CUBLAS_LIBRARY:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
	lib=$("$py" - <<'PY' 2>/dev/null
import glob, os
import os.path as p
try:
    import nvidia.cublas
    d = p.join(list(nvidia.cublas.__path__)[0], "lib")
except Exception:
    import torch
    d = p.join(p.dirname(torch.__file__), "lib")
c = sorted(glob.glob(os.path.join(d, "libcublas.so*")))
print(c[0] if c else "")
PY
)
	[ -n "$lib" ] && export GPUMIGRATE_CUBLAS_LIBRARY="$lib" && say "cuBLAS from $lib"
fi
timeout 240 "$bin" bench gpu --json -o "$out/bench-gpu.json" >"$out/bench-gpu.stdout" 2>"$out/bench-gpu.err"
gpu_rc=$?
say "bench gpu exit $gpu_rc"
timeout 60 "$bin" bench gpu -d 0 --tests d2d,gemm --precision bf16 -r 5 >"$out/bench-gpu.txt" 2>&1
cat "$out/bench-gpu.txt" >>"$out/summary.txt"
[ $gpu_rc = 0 ] || { fail=1; tail -5 "$out/bench-gpu.err" | tee -a "$out/summary.txt"; }
if [ $have_torch = 1 ] && [ -f "$out/bench-gpu.json" ]; then
	timeout 180 "$py" - "$out" <<'PY' 2>&1 | tee -a "$out/summary.txt" || fail=1
import json, statistics, sys
import torch
out = sys.argv[1]
doc = json.load(open(f"{out}/bench-gpu.json"))
figs = doc["figures"]
torch.backends.cuda.matmul.allow_tf32 = False
dev = torch.device("cuda:0")
def timed(fn, reps, warm=2):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        ts.append(a.elapsed_time(b) / 1e3)
    return statistics.median(ts)
nbytes = doc["params"]["copy_bytes"]
src = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device=dev)
dst = torch.empty_like(src)
loops = doc["params"]["copy_loops"]
def copies():
    for _ in range(loops):
        dst.copy_(src)
t = timed(copies, 10)
torch_d2d = nbytes * loops / t / 1e9
assert torch.equal(dst, src)
n = 8192
a = torch.randn(n, n, dtype=torch.bfloat16, device=dev)
b = torch.randn(n, n, dtype=torch.bfloat16, device=dev)
t = timed(lambda: torch.matmul(a, b), 10)
torch_bf16 = 2 * n ** 3 / t / 1e12
bad = 0
def ratio(name, ours, theirs, target):
    global bad
    r = ours / theirs
    ok = r >= target
    bad += not ok
    print(f"{'ok  ' if ok else 'LOW '} {name}: gpumigrate={ours:.1f} pytorch={theirs:.1f} ratio={r:.3f} (target >= {target})")
ratio("d2d copy GB/s", figs["gpu0.d2d"]["summary"]["median"], torch_d2d, 0.9)
ratio("bf16 gemm 8192^3 TFLOPS", figs["gpu0.gemm.bf16"]["summary"]["median"], torch_bf16, 0.95)
for c in doc["checks"]:
    if c.get("check_ok") is False:
        bad += 1
        print(f"WRONG {c['figure']}: {c.get('note')}")
sys.exit(1 if bad else 0)
PY
else
	say "pytorch comparison skipped (torch with CUDA not importable, or no bench gpu result)"
fi
exit $fail

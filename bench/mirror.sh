#!/bin/sh
# `gpumigrate k8s mirror --all` against `skopeo copy --all` on the same image between two
# local docker-registry instances (tests/e2e/registry.py starts them on loopback): a
# two-platform index, each platform two 64 MiB incompressible layers plus a shared one.
# Each copy goes to a fresh destination registry; median wall time of $runs runs each.
# Target: gpumigrate not slower (ratio ≤ 1). usage: bench/mirror.sh [BINARY]
set -eu
bin=$(realpath "${1:-build/gpumigrate}")
root=$(cd "$(dirname "$0")/.." && pwd)
exec /usr/bin/python3 - "$bin" "$root" "${runs:-3}" <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
bin, root, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, os.path.join(root, "tests", "e2e"))
import registry as R

tmp = tempfile.mkdtemp(prefix="gm-bench-mirror-")
src = R.Registry(os.path.join(tmp, "src"), auth=False)
try:
    lay = R.Layout(os.path.join(tmp, "layout"))
    shared = {"shared.bin": os.urandom(16 << 20)}
    kids = [lay.image(a, [shared, {f"{a}-1": os.urandom(64 << 20)},
                          {f"{a}-2": os.urandom(64 << 20)}]) for a in ("amd64", "arm64")]
    lay.tag(lay.index(kids), "bench")
    R.push(lay, "bench", src, "bench/img:v1")
    total = sum(os.path.getsize(os.path.join(lay.path, "blobs/sha256", f))
                for f in os.listdir(os.path.join(lay.path, "blobs/sha256")))
    tools = {
        "skopeo copy --all": lambda d: ["skopeo", "copy", "--all", "--preserve-digests",
                                        "--src-tls-verify=false", "--dest-tls-verify=false",
                                        f"docker://{src.ref('bench/img:v1')}",
                                        f"docker://{d.ref('bench/img:v1')}"],
        "gpumigrate k8s mirror --all": lambda d: [bin, "k8s", "mirror", "--all", "--no-progress",
                                                  f"http://{src.ref('bench/img:v1')}",
                                                  f"http://{d.ref('bench/img:v1')}"],
    }
    times = {k: [] for k in tools}
    for i in range(runs):
        for name, cmd in tools.items():
            d = R.Registry(os.path.join(tmp, f"dst-{i}-{len(times[name])}-{name[:3]}"), auth=False)
            try:
                t = time.monotonic()
                subprocess.run(cmd(d), check=True, capture_output=True)
                times[name].append(time.monotonic() - t)
                assert d.raw("bench/img:v1") == src.raw("bench/img:v1")
            finally:
                d.stop()
                shutil.rmtree(d.root, ignore_errors=True)
    print(f"image: 2 platforms, {total / 2**20:.0f} MiB of blobs; median of {runs} runs, "
          f"fresh destination registry each run")
    print(f"{'tool':<30} {'median s':>9} {'MiB/s':>8}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:<30} {v:9.3f} {total / 2**20 / v:8.1f}")
    ratio = med["gpumigrate k8s mirror --all"] / med["skopeo copy --all"]
    print(f"ratio gpumigrate/skopeo: {ratio:.2f} ({'not slower' if ratio <= 1.0 else 'SLOWER'})")
finally:
    src.stop()
    shutil.rmtree(tmp, ignore_errors=True)
PY

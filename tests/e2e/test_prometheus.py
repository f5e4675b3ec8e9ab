"""The exporter scraped by a real Prometheus server (Debian's package) on loopback, with the
alert rules of `gpumigrate monitor rules`: the series arrive, and when the fake GPU 0 fills
its memory to 95% the GPUMemoryHigh alert fires for it — and only for it."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, FAKE_NVML, fixture

pytestmark = pytest.mark.skipif(not shutil.which("prometheus"),
                                reason="prometheus is not installed (scripts/install-deps)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def wait_for(what, check, timeout=45):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture
def stack(tmp_path):
    gpus = tmp_path / "gpus.yaml"
    shutil.copy(fixture("nvml", "exporter-8gpu.yaml"), gpus)
    rules = tmp_path / "rules.yml"
    r = subprocess.run([BIN, "monitor", "rules", "--for", "GPUMemoryHigh=0s", "-o", str(rules)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ex_port, prom_port = free_port(), free_port()
    env = dict(os.environ, GPUMIGRATE_NVML_LIBRARY=FAKE_NVML, GPUMIGRATE_FAKE_NVML=str(gpus))
    exporter = subprocess.Popen([BIN, "exporter", "--listen", f"127.0.0.1:{ex_port}",
                                 "--interval", "1s"], env=env, stderr=subprocess.DEVNULL)
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [{rules}]
scrape_configs:
  - job_name: gpumigrate-exporter
    static_configs:
      - targets: ["127.0.0.1:{ex_port}"]
""")
    prom = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield gpus, f"http://127.0.0.1:{prom_port}"
    finally:
        for p in (prom, exporter):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_prometheus_scrapes_and_the_memory_alert_fires(stack):
    gpus, prom = stack

    def series():
        res = get_json(f"{prom}/api/v1/query?query=DCGM_FI_DEV_FB_USED")["data"]["result"]
        return res if len(res) == 8 else None
    res = wait_for("8 DCGM_FI_DEV_FB_USED series", series)
    assert {r["metric"]["gpu"] for r in res} == {str(i) for i in range(8)}
    assert all(r["metric"]["modelName"] == "NVIDIA H100 80GB HBM3" for r in res)
    up = get_json(f"{prom}/api/v1/query?query=up")["data"]["result"]
    assert up and up[0]["value"][1] == "1"

    def alerts():
        return [a for a in get_json(f"{prom}/api/v1/alerts")["data"]["alerts"]
                if a["labels"]["alertname"] == "GPUMemoryHigh"]
    time.sleep(3)
    assert alerts() == []  # nothing above 90% yet

    text = gpus.read_text()
    gpus.write_text(text.replace("memory_used: 41943040000", "memory_used: 81246208000", 1))

    def firing():
        a = [x for x in alerts() if x["state"] == "firing"]
        return a or None
    fired = wait_for("GPUMemoryHigh to fire", firing)
    assert [a["labels"]["gpu"] for a in fired] == ["0"]
    # 81246208000 used of 81246208000 + 3729342464 free: 95.6%
    assert "95.6" in fired[0]["annotations"]["description"]

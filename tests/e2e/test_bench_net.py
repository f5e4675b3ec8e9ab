"""bench net against its own server on loopback, and bench gpu's skip path: latency numbers
positive and ordered, throughput positive, thresholds passing and failing with the right exit
codes, a plan's network section as the default thresholds, and a closed port as a clear
error."""
import json
import os
import socket
import subprocess

import pytest

from conftest import BIN, run


@pytest.fixture
def server():
    env = dict(os.environ)
    proc = subprocess.Popen([BIN, "bench", "net", "--serve", "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert line.startswith("bench net: listening on 127.0.0.1:"), line
    port = int(line.rsplit(":", 1)[1])
    yield port
    proc.terminate()
    assert proc.wait(timeout=10) == 0


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_latency_and_throughput_json(server, tmp_path):
    out = tmp_path / "net.json"
    r = run("bench", "net", f"127.0.0.1:{server}", "-t", "1s", "--warmup", "200ms", "-P", "2",
            "-n", "2000", "--json", "-o", str(out), timeout=60)
    assert r.code == 0, r.err
    doc = r.json()
    assert doc == json.loads(out.read_text())
    assert doc["schema"] == "gpumigrate.bench/v1"
    assert doc["kind"] == "net"
    figs = doc["figures"]
    rtt = figs["net.rtt"]["summary"]
    assert figs["net.rtt"]["unit"] == "us"
    assert rtt["n"] == 2000
    assert 0 < rtt["min"] <= rtt["p50"] <= rtt["p99"] <= rtt["max"]
    tp = figs["net.throughput"]
    assert tp["unit"] == "Gbps" and tp["better"] == "higher"
    assert len(tp["samples"]) >= 5
    assert all(s > 0 for s in tp["samples"])
    s1 = figs["net.throughput.stream1"]["samples"][0]
    s2 = figs["net.throughput.stream2"]["samples"][0]
    assert s1 > 0 and s2 > 0
    assert doc["params"]["streams"] == 2
    assert doc["link"]["interface"] == "lo"
    assert doc["checks"] == []


def test_table_reverse_one_stream(server):
    r = run("bench", "net", f"127.0.0.1:{server}", "-t", "0.5", "--warmup", "100ms", "-R",
            "-P", "1", "--throughput-only", timeout=60)
    assert r.code == 0, r.err
    assert "throughput" in r.out and "1 stream," in r.out
    assert "rtt" not in r.out


def test_thresholds_pass_and_fail(server):
    ok = run("bench", "net", f"127.0.0.1:{server}", "-t", "0.5", "--warmup", "100ms", "-n",
             "500", "--max-rtt", "1s", "--min-gbps", "0.001", "--json", timeout=60)
    assert ok.code == 0, ok.err
    checks = {c["name"]: c for c in ok.json()["checks"]}
    assert checks["rtt p99"]["verdict"] == "pass"
    assert checks["rtt p99"]["threshold"] == 1e6
    assert checks["rtt p99"]["from"] == "flag --max-rtt"
    assert checks["throughput"]["verdict"] == "pass"

    bad = run("bench", "net", f"127.0.0.1:{server}", "-t", "0.5", "--warmup", "100ms", "-n",
              "500", "--max-rtt", "1us", "--min-gbps", "100000", timeout=60)
    assert bad.code == 1, bad.err
    assert "FAIL" in bad.out
    lines = [l for l in bad.out.splitlines() if l.startswith(("rtt p99 ", "throughput "))]
    assert any("FAIL" in l for l in lines if l.startswith("rtt p99"))


def test_plan_network_section_gives_thresholds(server, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("schema: gpumigrate.plan/v1\nnetwork:\n  bandwidth: 1Tbps\n"
                    "  latency: 20ms\n")
    r = run("bench", "net", f"127.0.0.1:{server}", "-t", "0.5", "--warmup", "100ms", "-n",
            "300", "-p", str(plan), "--json", timeout=60)
    assert r.code == 1, r.err
    checks = {c["name"]: c for c in r.json()["checks"]}
    assert checks["rtt p99"]["threshold"] == 20000
    assert checks["rtt p99"]["verdict"] == "pass"
    assert str(plan) in checks["rtt p99"]["from"]
    assert checks["throughput"]["threshold"] == 1000
    assert checks["throughput"]["verdict"] == "fail"
    # a flag overrides the plan
    r = run("bench", "net", f"127.0.0.1:{server}", "-t", "0.5", "--warmup", "100ms", "-n",
            "300", "-p", str(plan), "--min-gbps", "0.001", "--json", timeout=60)
    assert r.code == 0, r.err


def test_closed_port_is_a_clear_error():
    port = closed_port()
    r = run("bench", "net", f"127.0.0.1:{port}", "-t", "1s")
    assert r.code == 4
    assert f"cannot connect to '127.0.0.1' port {port}" in r.err
    assert "Connection refused" in r.err
    assert "bench net --serve" in r.err


def test_not_our_server_is_a_protocol_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    s.settimeout(20)
    port = s.getsockname()[1]
    import threading

    def answer():
        try:
            c, _ = s.accept()
        except OSError:
            return
        c.recv(16)
        c.sendall(b"HTTP/1.1 400\r\n\r\n")
        c.close()
    t = threading.Thread(target=answer)
    t.start()
    r = run("bench", "net", f"127.0.0.1:{port}", "--latency-only")
    t.join(timeout=30)
    s.close()
    assert r.code == 4
    assert "is not a gpumigrate bench net server" in r.err


@pytest.mark.parametrize("args,msg", [
    (["127.0.0.1", "-P", "0"], "--parallel '0'"),
    (["127.0.0.1", "--max-rtt", "fast"], "--max-rtt 'fast'"),
    (["127.0.0.1", "--latency-only", "--throughput-only"], "exclude each other"),
    ([], "expected HOST[:PORT]"),
    (["--serve", "somehost"], "--serve takes no HOST"),
    (["127.0.0.1:99999"], "port must be a number"),
])
def test_usage_errors(args, msg):
    r = run("bench", "net", *args)
    assert r.code == 2
    assert msg in r.err


def test_bench_gpu_skips_without_driver(tmp_path):
    out = tmp_path / "gpu.json"
    r = run("bench", "gpu", "-o", str(out),
            env={"GPUMIGRATE_CUDA_LIBRARY": str(tmp_path / "nonexistent" / "libcuda.so.1")})
    assert r.code == 5
    assert r.out == "no NVIDIA GPU/driver: nothing to measure\n"
    assert not out.exists()


def test_bench_gpu_skips_with_a_library_that_is_not_cuda(tmp_path):
    lib = tmp_path / "libcuda.so.1"
    lib.write_text("not an ELF file\n")
    r = run("bench", "gpu", "-v", env={"GPUMIGRATE_CUDA_LIBRARY": str(lib)})
    assert r.code == 5
    assert r.out == "no NVIDIA GPU/driver: nothing to measure\n"
    assert "cannot load the CUDA driver" in r.err


@pytest.mark.parametrize("args,msg", [
    (["--tests", "h2d,foo"], "--tests 'h2d,foo'"),
    (["--precision", "fp64"], "--precision 'fp64'"),
    (["--size", "8"], "--size '8'"),
    (["--copy-size", "1KiB"], "--copy-size '1KiB'"),
])
def test_bench_gpu_usage_errors(args, msg):
    r = run("bench", "gpu", *args)
    assert r.code == 2
    assert msg in r.err

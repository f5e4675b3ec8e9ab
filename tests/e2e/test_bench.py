"""gpumigrate bench run / http / compare, the way a user runs them: a deterministic command,
a loopback HTTP server this test starts (fixed delay, a 500 handler, a closed port), and
hand-written result files for compare."""
import http.server
import json
import os
import socket
import threading
import time

import pytest

from conftest import run

DELAY = 0.02  # the /slow handler's fixed delay, seconds


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(DELAY)
        code = 500 if self.path.startswith("/fail") else 404 if self.path.startswith("/nope") else 200
        body = b"ok\n"
        self.server.seen_headers.append(self.headers.get("X-Probe"))
        self.server.connections.add(self.client_address)
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.seen_headers = []
    srv.connections = set()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv, path):
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- bench run ----

def test_run_metric(tmp_path):
    out = tmp_path / "r.json"
    r = run("bench", "run", "-n", "4", "--warmup", "2", "--metric", r"step_time=([0-9.]+)",
            "--name", "step_time", "--unit", "s", "--no-inventory", "-o", str(out), "--",
            "sh", "-c", "echo step_time=0.125; echo noise; echo step_time=0.375 >&2")
    assert r.code == 0, r.err
    assert "step_time" in r.out and "wall_time" in r.out
    doc = json.loads(out.read_text())
    assert doc["schema"] == "gpumigrate.bench/v1"
    assert doc["kind"] == "run"
    assert doc["host"] == socket.gethostname()
    assert doc["started"].endswith("Z") and doc["started"][10] == "T"
    assert doc["params"]["command"] == ["sh", "-c", "echo step_time=0.125; echo noise; echo step_time=0.375 >&2"]
    assert doc["params"]["runs"] == 4 and doc["params"]["warmup"] == 2
    st = doc["figures"]["step_time"]
    assert st["unit"] == "s" and st["better"] == "lower"
    assert st["samples"] == [0.125, 0.375] * 4  # stdout and stderr, warm-up runs left out
    assert st["summary"]["n"] == 8
    assert st["summary"]["median"] == 0.25
    assert st["summary"]["min"] == 0.125 and st["summary"]["max"] == 0.375
    wall = doc["figures"]["wall_time"]
    assert len(wall["samples"]) == 4 and all(0 < s < 5 for s in wall["samples"])
    assert doc["inventory"] is None


def test_run_json_and_inventory():
    r = run("bench", "run", "-n", "2", "--json", "--", "true")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["inventory"]["schema"] == "gpumigrate.inventory/v1"
    assert doc["figures"]["wall_time"]["summary"]["n"] == 2


def test_run_failure_names_the_run():
    r = run("bench", "run", "-n", "3", "--warmup", "0", "--no-inventory", "--",
            "sh", "-c", "echo boom; exit 3")
    assert r.code == 4
    assert "run 1 of 3: 'sh' exited with status 3" in r.err
    assert "boom" in r.err
    r = run("bench", "run", "-n", "1", "--warmup", "0", "--metric", "x=([0-9]+)",
            "--no-inventory", "--", "echo", "nothing")
    assert r.code != 0 and "printed nothing that matches" in r.err
    r = run("bench", "run", "--metric", "x=[0-9]+", "--", "true")
    assert r.code == 2 and "needs a group" in r.err
    r = run("bench", "run", "--no-inventory", "--", "/nonexistent/prog")
    assert r.code == 4 and "cannot run '/nonexistent/prog'" in r.err


# ---- bench http ----

def test_http_latency_is_at_least_the_delay(server, tmp_path):
    out = tmp_path / "h.json"
    r = run("bench", "http", "-n", "20", "-c", "2", "-H", "X-Probe: yes", "--no-inventory",
            "-o", str(out), url(server, "/slow"))
    assert r.code == 0, r.err
    doc = json.loads(out.read_text())
    assert doc["kind"] == "http"
    lat = doc["figures"]["latency"]
    assert lat["unit"] == "s" and lat["better"] == "lower"
    assert lat["summary"]["n"] == 20 and len(lat["samples"]) == 20
    assert lat["summary"]["p50"] >= DELAY
    assert min(lat["samples"]) >= DELAY
    assert lat["summary"]["p50"] < DELAY + 0.5
    c = doc["counters"]
    assert c["sent"] == 20 and c["responses"] == 20 and c["ok"] == 20
    assert c["errors_connect"] == c["errors_5xx"] == c["errors_4xx"] == 0
    assert c["bytes"] > 20 * 3
    assert doc["figures"]["requests_per_second"]["samples"][0] > 0
    assert server.seen_headers.count("yes") == 20
    # keep-alive: at most one TCP connection per slot
    assert len(server.connections) <= 2
    assert "latency p50" in r.out and "requests/s" in r.out


def test_http_duration_and_rate(server):
    # 50 req/s for 1 s on one connection: about 50 requests, each scheduled 20 ms apart
    r = run("bench", "http", "-d", "1s", "--rate", "50", "--no-inventory", "--json",
            url(server, "/"))
    assert r.code == 0, r.err
    doc = r.json()
    assert 45 <= doc["counters"]["sent"] <= 51
    assert doc["params"]["rate"] == 50


def test_http_coordinated_omission(server):
    # the server needs 20 ms a request but gets one every 5 ms on one connection: requests
    # queue, and latency measured from the schedule grows far beyond the service time
    r = run("bench", "http", "-n", "40", "--rate", "200", "--no-inventory", "--json",
            url(server, "/slow"))
    assert r.code == 0, r.err
    s = r.json()["figures"]["latency"]["summary"]
    assert s["max"] > 20 * DELAY  # the 40th waited behind ~39 others × 15 ms
    assert s["p50"] > 5 * DELAY


def test_http_errors_by_kind(server):
    r = run("bench", "http", "-n", "6", "--no-inventory", "--json", url(server, "/fail"))
    assert r.code == 1
    c = r.json()["counters"]
    assert c["errors_5xx"] == 6 and c["ok"] == 0 and c["responses"] == 6
    r = run("bench", "http", "-n", "3", "--no-inventory", "--json", url(server, "/nope"))
    assert r.code == 1 and r.json()["counters"]["errors_4xx"] == 3
    r = run("bench", "http", "-n", "5", "--no-inventory", "--json",
            f"http://127.0.0.1:{closed_port()}/")
    assert r.code == 4
    c = r.json()["counters"]
    assert c["errors_connect"] == 5 and c["responses"] == 0
    assert "got a response" in r.err


def test_http_usage_errors():
    assert run("bench", "http").code == 2
    assert run("bench", "http", "-d", "1s", "-n", "3", "http://x/").code == 2
    assert run("bench", "http", "-H", "nocolon", "http://x/").code == 2
    assert run("bench", "http", "--rate", "-1", "http://x/").code == 2


# ---- bench compare ----

def result(path, figures):
    doc = {"schema": "gpumigrate.bench/v1", "kind": "run", "started": "2026-11-28T12:00:00Z",
           "host": "h", "figures": {}}
    for name, (better, samples) in figures.items():
        doc["figures"][name] = {"unit": "s", "better": better, "samples": samples}
    path.write_text(json.dumps(doc))
    return str(path)


BASE = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00, 1.01, 0.99, 1.00, 1.01, 0.99, 1.00]


def test_compare_equivalent(tmp_path):
    a = result(tmp_path / "a.json", {"step": ("lower", BASE)})
    b = result(tmp_path / "b.json", {"step": ("lower", [v * 1.01 for v in BASE])})
    r = run("bench", "compare", a, b, "--json")
    assert r.code == 0, r.err
    row = r.json()["figures"][0]
    assert row["name"] == "step" and row["verdict"] == "equivalent"
    assert abs(row["ratio"] - 1.01) < 1e-9
    assert 0.95 <= row["ci_low"] <= row["ratio"] <= row["ci_high"] <= 1.05
    r = run("bench", "compare", a, b)
    assert r.code == 0 and "equivalent" in r.out


def test_compare_slower_exits_1(tmp_path):
    a = result(tmp_path / "a.json", {"step": ("lower", BASE)})
    b = result(tmp_path / "b.json", {"step": ("lower", [v * 1.3 for v in BASE])})
    r = run("bench", "compare", a, b, "--json")
    assert r.code == 1
    row = r.json()["figures"][0]
    assert row["verdict"] == "slower" and row["p_value"] < 0.05 and row["ci_low"] > 1.05
    # with a 40 % tolerance the same change is equivalent
    assert run("bench", "compare", "--tolerance", "40%", a, b).code == 0


def test_compare_faster_and_direction(tmp_path):
    a = result(tmp_path / "a.json", {"step": ("lower", BASE),
                                     "tput": ("higher", [100 * v for v in BASE])})
    b = result(tmp_path / "b.json", {"step": ("lower", [v * 0.7 for v in BASE]),
                                     "tput": ("higher", [130 * v for v in BASE])})
    r = run("bench", "compare", a, b, "--json")
    assert r.code == 0, r.err
    rows = {x["name"]: x for x in r.json()["figures"]}
    assert rows["step"]["verdict"] == "faster"  # lower is better and it went down
    assert rows["tput"]["verdict"] == "faster"  # higher is better and it went up
    assert r.json()["slower"] == 0 and r.json()["faster"] == 2


def test_compare_bad_input(tmp_path):
    a = result(tmp_path / "a.json", {"step": ("lower", BASE)})
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "gpumigrate.bench/v1",\n "figures": {"step": {"samples": ["x"]}}}')
    r = run("bench", "compare", a, str(bad))
    assert r.code == 2 and "bad.json:2:" in r.err
    assert run("bench", "compare", a).code == 2
    assert run("bench", "compare", "--tolerance", "lots", a, a).code == 2


def test_bench_dispatch():
    r = run("bench")
    assert r.code == 2 and "subcommand" in r.err
    r = run("bench", "frob")
    assert r.code == 2 and "unknown bench subcommand 'frob'" in r.err
    r = run("bench", "--help")
    assert r.code == 0 and "options of 'bench http'" in r.out
    assert run("bench", "--he").out == r.out  # an abbreviation, as getopt takes it
    r = run("bench", "run", "--help")
    assert r.code == 0 and r.out.startswith("usage: gpumigrate bench run [-n RUNS]")
    assert "--metric REGEX" in r.out
    r = run("bench", "http", "-c", "0", "http://x/")
    assert r.code == 2 and "--connections takes 1 to 1024" in r.err


def test_http_without_libcurl_says_what_to_install():
    r = run("bench", "http", "-n", "3", "http://127.0.0.1:1/",
            env={"GPUMIGRATE_CURL_LIBRARY": "/nonexistent/libcurl.so.4"})
    assert r.code == 4
    assert r.err.strip() == ("gpumigrate: error: libcurl is not available: install "
                             "libcurl3-gnutls (Debian) or set GPUMIGRATE_CURL_LIBRARY")

"""Kubernetes pod attribution in `gpumigrate exporter`, against a fake kubelet: a real gRPC
server (tests/fakes/podres_server.py, Debian's python3-grpcio) on a unix socket in a temp
dir answering v1.PodResourcesLister/List with hand-encoded protobuf. The exporter runs on the
fake NVML (a2-highgpu-8g, eight A100s); the test scrapes it and checks the exact pod,
namespace and container labels on the assigned GPUs' DCGM_FI_* series and none anywhere
else, then a kubelet that fails, one that sends garbage, a missing socket and `none`."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BIN, FAKE_NVML, fixture

HERE = os.path.dirname(__file__)
SERVER = os.path.join(HERE, "..", "fakes", "podres_server.py")

U = ["GPU-a0f5d042-bd17-03a0-7458-90c9d1d070d0", "GPU-0dc6d3d4-cfb5-401e-f5e9-7b64612e410c",
     "GPU-bba79b5b-90bc-6a96-92f9-97ef7736d805", "GPU-5b192fc5-1ef1-80fb-bddb-4705e005e6c2",
     "GPU-27657856-9965-727b-c99e-f7c6e932fe2d", "GPU-a9353b46-d914-d3ab-6d06-ba705f706e0b",
     "GPU-b67d6221-e27e-c8bb-11f8-ca16b1ea33ff", "GPU-e2739250-8990-92af-0e2d-2ef869b94c85"]

PODS = {"pods": [
    {"name": "trainer-0", "namespace": "ml", "containers": [
        {"name": "sidecar", "devices": [{"resource": "example.com/nic", "ids": ["nic0"]}]},
        {"name": "main", "devices": [{"resource": "nvidia.com/gpu", "ids": [U[1], U[2]]}]}]},
    {"name": "notebook-7f9c", "namespace": "team-a", "containers": [
        {"name": "jupyter", "devices": [
            {"resource": "nvidia.com/mig-1g.5gb", "ids": ["MIG-" + U[5] + "/1/0"]}]}]},
    {"name": "web", "namespace": "default", "containers": [{"name": "nginx", "devices": []}]},
]}
EXPECTED = {1: ("main", "ml", "trainer-0"), 2: ("main", "ml", "trainer-0"),
            5: ("jupyter", "team-a", "notebook-7f9c")}

SERIES = re.compile(r'^(\w+)\{(.*)\} (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class Kubelet:
    def __init__(self, tmp_path, cfg):
        self.sock = str(tmp_path / "kubelet.sock")
        self.cfg = tmp_path / "podres.json"
        self.set(cfg)
        self.proc = subprocess.Popen(["/usr/bin/python3", SERVER, self.sock, str(self.cfg)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", self.proc.stderr.read()

    def set(self, cfg):
        tmp = str(self.cfg) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(cfg, f)
        os.replace(tmp, self.cfg)

    def calls(self):
        try:
            with open(self.sock + ".calls") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


class Exporter:
    def __init__(self, *args):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = dict(os.environ, GPUMIGRATE_NVML_LIBRARY=FAKE_NVML,
                   GPUMIGRATE_FAKE_NVML=fixture("nvml", "a2-highgpu-8g.yaml"))
        self.proc = subprocess.Popen(
            [BIN, "exporter", "-v", "--listen", f"127.0.0.1:{self.port}", "--interval",
             "200ms", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def scrape(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/metrics")
            r = c.getresponse()
            assert r.status == 200
            return r.read().decode()
        finally:
            c.close()

    def wait_for(self, pred, what, timeout=15):
        deadline = time.monotonic() + timeout
        body = ""
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read()
            try:
                body = self.scrape()
                if pred(body):
                    return body
            except (OSError, AssertionError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"{what} did not happen; last scrape:\n{body[:3000]}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=5)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return code, self.proc.stderr.read()


def gpu_series(body):
    """[(name, labels dict)] of every series that has a gpu label."""
    out = []
    for line in body.splitlines():
        m = SERIES.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(2)))
        if "gpu" in labels:
            out.append((m.group(1), labels, list(labels)))
    return out


def check_labels(body, expected):
    series = gpu_series(body)
    dcgm = [s for s in series if s[0].startswith("DCGM_FI_")]
    assert len({s[0] for s in dcgm}) >= 5
    for name, labels, order in series:
        gpu = int(labels["gpu"])
        assert labels["UUID"] == U[gpu]
        want = expected.get(gpu) if name.startswith("DCGM_FI_") else None
        if want:
            assert (labels.get("container"), labels.get("namespace"), labels.get("pod")) == \
                want, (name, labels)
            # dcgm-exporter's order: after the GPU's own labels
            assert order[-3:] == ["container", "namespace", "pod"], order
        else:
            for k in ("pod", "namespace", "container"):
                assert k not in labels, (name, labels)
    for gpu in expected:
        assert any(int(s[1]["gpu"]) == gpu and "pod" in s[1] for s in dcgm)


def has_pods(body):
    return 'pod="trainer-0"' in body


def test_pod_labels(tmp_path):
    k = Kubelet(tmp_path, PODS)
    ex = Exporter("--pod-resources", k.sock)
    try:
        body = ex.wait_for(has_pods, "pod labels")
        check_labels(body, EXPECTED)
        assert all(c == "0" for c in k.calls())  # every request was an empty message

        # the kubelet fails: labels go (no stale attribution), the exporter keeps serving
        k.set(dict(PODS, fail="unavailable"))
        body = ex.wait_for(lambda b: not has_pods(b) and "DCGM_FI_DEV" in b, "labels gone")
        check_labels(body, {})
        n = len(k.calls())
        deadline = time.monotonic() + 15
        while len(k.calls()) < n + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(k.calls()) >= n + 3
        check_labels(ex.scrape(), {})

        # it answers again, with another assignment
        moved = {"pods": [{"name": "trainer-1", "namespace": "ml", "containers": [
            {"name": "main", "devices": [{"resource": "nvidia.com/gpu", "ids": [U[7]]}]}]}]}
        k.set(moved)
        body = ex.wait_for(lambda b: 'pod="trainer-1"' in b, "new labels")
        check_labels(body, {7: ("main", "ml", "trainer-1")})

        # garbage: refused as a whole
        k.set(dict(PODS, fail="garbage"))
        body = ex.wait_for(lambda b: "pod=" not in b and "DCGM_FI_DEV" in b, "labels gone")
        check_labels(body, {})
    finally:
        code, err = ex.stop()
        k.stop()
    assert code == 0
    # each failure is logged once however many polls it lasted
    assert err.count("gRPC status 14: kubelet is restarting") == 1, err
    assert err.count("length past the end") == 1, err
    assert err.count("pod labels from") == 2, err


def test_missing_socket_and_none(tmp_path):
    sock = str(tmp_path / "nowhere" / "kubelet.sock")
    ex = Exporter("--pod-resources", sock)
    try:
        body = ex.wait_for(lambda b: "DCGM_FI_DEV_GPU_TEMP" in b or "DCGM_FI_DEV" in b,
                           "metrics")
        time.sleep(2.5)  # several polls
        check_labels(ex.scrape(), {})
    finally:
        code, err = ex.stop()
    assert code == 0
    assert err.count(f"no kubelet pod-resources socket at '{sock}'") == 1, err

    # `none`: the kubelet is never asked, even when it is there
    k = Kubelet(tmp_path, PODS)
    ex = Exporter("--pod-resources", "none")
    try:
        ex.wait_for(lambda b: "DCGM_FI_DEV" in b, "metrics")
        time.sleep(1.5)
        check_labels(ex.scrape(), {})
    finally:
        code, err = ex.stop()
        k.stop()
    assert code == 0 and k.calls() == []
    assert "pod-resources" not in err and "pod labels" not in err


@pytest.mark.parametrize("arg", [""])
def test_usage(arg):
    r = subprocess.run([BIN, "exporter", "--pod-resources", arg], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2
    assert "--pod-resources must name a socket, or be 'none'" in r.stderr

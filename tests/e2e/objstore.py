"""Object stores on loopback for the s3:// and gs:// sync tests and bench/objstore.sh:
s3rver (an independent S3 implementation from npm, which checks SigV4) and the strict fakes
of tests/fakes (fake_s3.py, fake_gcs.py: what s3rver does not check — ListParts, Abort,
part sizes, injected faults — and GCS, which has no real server here). Each is started on a
free port with its data in a temporary directory and stopped after the test."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FAKES = os.path.join(HERE, "..", "fakes")
ACCESS_KEY = "S3RVER"
SECRET_KEY = "S3RVER"
FAKE_SECRET = "fake-s3-secret-Zq81x"  # the strict fake's: unlike s3rver's, not the key id
BUCKET = "bkt"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}")


class Store:
    """A running store: its URL, the environment gpumigrate needs to reach it, and stop()."""

    def __init__(self, proc, port, env, log, root):
        self.proc, self.port, self.env, self.log, self.root = proc, port, env, log, root
        self.url = f"http://127.0.0.1:{port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    # fault injection and counters of the fakes (tests/fakes)
    def _post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def fault(self, **spec):
        self._post("/_fault", spec)

    def clear_faults(self):
        self._post("/_fault/clear", {})

    def stats(self):
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as r:
            return json.loads(r.read())


def s3_env(url, state, secret=SECRET_KEY):
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "XDG_STATE_HOME": state}


def start_s3rver(tmp):
    exe = shutil.which("s3rver")
    if not exe:
        pytest.fail("s3rver is not installed: run scripts/install-deps")
    port = free_port()
    root = os.path.join(tmp, "s3rver")
    os.makedirs(root, exist_ok=True)
    log = open(os.path.join(tmp, "s3rver.log"), "w")
    proc = subprocess.Popen([exe, "-d", root, "-a", "127.0.0.1", "-p", str(port), "--silent",
                             "--configure-bucket", BUCKET], stdout=log, stderr=log)
    wait_port(port, proc, "s3rver")
    url = f"http://127.0.0.1:{port}"
    return Store(proc, port, s3_env(url, os.path.join(tmp, "state")), log, root)


def start_fake(tmp, script, *args):
    root = os.path.join(tmp, os.path.splitext(script)[0])
    os.makedirs(root, exist_ok=True)
    port_file = os.path.join(tmp, script + ".port")
    log = open(os.path.join(tmp, script + ".log"), "w")
    proc = subprocess.Popen([sys.executable, os.path.join(FAKES, script), "--root", root,
                             "--port-file", port_file, *args], stdout=log, stderr=log)
    deadline = time.time() + 20
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{script} did not start (see {log.name})")
        time.sleep(0.05)
    port = int(open(port_file).read().strip())
    wait_port(port, proc, script)
    return proc, port, log, root


def start_fake_s3(tmp, *args):
    proc, port, log, root = start_fake(tmp, "fake_s3.py", "--bucket", BUCKET, "--access-key",
                                       ACCESS_KEY, "--secret-key", FAKE_SECRET, *args)
    url = f"http://127.0.0.1:{port}"
    return Store(proc, port, s3_env(url, os.path.join(tmp, "state"), FAKE_SECRET), log, root)


def start_fake_gcs(tmp, *args):
    proc, port, log, root = start_fake(tmp, "fake_gcs.py", "--bucket", BUCKET, *args)
    env = {"XDG_STATE_HOME": os.path.join(tmp, "state"),
           "GOOGLE_APPLICATION_CREDENTIALS": "", "CLOUDSDK_CONFIG": "/nonexistent"}
    if "--no-auth" in args:
        env["STORAGE_EMULATOR_HOST"] = f"127.0.0.1:{port}"
    return Store(proc, port, env, log, root)


@pytest.fixture
def s3rver(tmp_path):
    s = start_s3rver(str(tmp_path))
    yield s
    s.stop()


@pytest.fixture
def fake_s3(tmp_path):
    s = start_fake_s3(str(tmp_path))
    yield s
    s.stop()


@pytest.fixture
def fake_gcs(tmp_path):
    s = start_fake_gcs(str(tmp_path), "--no-auth")
    yield s
    s.stop()

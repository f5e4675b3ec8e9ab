"""gpumigrate k8s mirror against two real registries on loopback (tests/e2e/registry.py):
single images and a two-platform index copied byte for byte (checked with skopeo inspect
--raw), a second run that copies nothing, cross-repository mounts, kill -9 in the middle of
a 64 MiB layer and a rerun that resumes the upload where the registry had it (and starts
again when that upload is gone), the upload journal's modes, basic auth from a docker
config.json, wrong credentials (one clear error, no secret printed), and a tampered source
blob refused."""
import base64
import hashlib
import json
import os
import shutil
import random
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.request

import pytest

# registries: the session fixture
from registry import BIN, PASSWORD, USER, mirror, registries  # noqa: F401


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def summary(p):
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["summary"]


def test_copy_single_image(registries):
    r = registries
    ref, digest = r.images["single"]
    p = mirror(r, "--json", r.src.ref(ref), r.dst.ref("copy/single:v1"))
    s = summary(p)
    assert s["images_copied"] == 1 and s["images_failed"] == 0
    assert s["manifests_copied"] == 1
    assert s["blobs_copied"] == 3  # config + two layers
    src_raw = r.src.raw(ref)
    assert sha(src_raw) == digest
    assert r.dst.raw("copy/single:v1") == src_raw  # exact bytes, same digest
    doc = json.loads(p.stdout)
    assert doc["images"][0]["status"] == "copied"
    assert doc["images"][0]["bytes"] == s["bytes"] > 500_000

    # a second run copies nothing
    s2 = summary(mirror(r, "--json", r.src.ref(ref), r.dst.ref("copy/single:v1")))
    assert s2["images_present"] == 1 and s2["images_copied"] == 0
    assert s2["blobs_copied"] == 0 and s2["bytes"] == 0 and s2["manifests_copied"] == 0


def test_copy_index_every_platform(registries):
    r = registries
    ref, digest = r.images["multi"]
    s = summary(mirror(r, "--json", "-j", "3", r.src.ref(ref), r.dst.ref("copy/multi:v1")))
    assert s["manifests_copied"] == 3  # two platform manifests, then the index
    assert s["blobs_copied"] == 5      # shared layer once, two app layers, two configs
    raw = r.dst.raw("copy/multi:v1")
    assert sha(raw) == digest and raw == r.src.raw(ref)
    for arch in ("amd64", "arm64"):
        child = r.dst.raw("copy/multi@" + r.images[arch])
        assert child is not None and sha(child) == r.images[arch]
    again = mirror(r, "--json", r.src.ref(ref), r.dst.ref("copy/multi:v1"))
    assert summary(again)["blobs_copied"] == 0
    assert json.loads(again.stdout)["images"][0]["status"] == "present"


def test_platform_and_map(registries, tmp_path):
    r = registries
    ref, _ = r.images["multi"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"images:\n  - from: {r.src.host}/app\n    to: {r.dst.host}/mapped\n")
    s = summary(mirror(r, "--json", "--platform", "linux/arm64", "--map", str(rules),
                       r.src.ref(ref)))
    assert s["images_copied"] == 1 and s["manifests_copied"] == 1
    raw = r.dst.raw("mapped/multi:v1")
    assert sha(raw) == r.images["arm64"]  # the arm64 image itself, tagged
    p = mirror(r, "--map", str(rules), "quay.io/other/thing:1")
    assert p.returncode == 4
    assert "no rule" in p.stderr


def test_mount_within_registry(registries):
    r = registries
    ref, digest = r.images["single"]
    summary(mirror(r, "--json", r.src.ref(ref), r.dst.ref("mnt/a:v1")))
    s = summary(mirror(r, "--json", r.dst.ref("mnt/a:v1"), r.dst.ref("mnt/b:v1")))
    assert s["blobs_mounted"] == 3 and s["blobs_copied"] == 0 and s["bytes"] == 0
    assert sha(r.dst.raw("mnt/b:v1")) == digest


def _upload_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if f == "data":
                total += os.path.getsize(os.path.join(root, f))
    return total


def _journal_dir(state):
    return os.path.join(state, "gpumigrate", "registry-uploads")


def _journals(state):
    """The upload journals under an XDG_STATE_HOME: {name: path}, temporaries left out."""
    d = _journal_dir(state)
    if not os.path.isdir(d):
        return {}
    return {f: os.path.join(d, f) for f in os.listdir(d)
            if len(f) == 64 and all(c in "0123456789abcdef" for c in f)}


def _big_layer(r):
    """The big image's one layer: (digest, size)."""
    ref, _ = r.images["big"]
    layer = json.loads(r.src.raw(ref))["layers"][0]
    return layer["digest"], layer["size"]


class Throttle:
    """A TCP forwarder to a registry that passes its answers on at `rate` bytes a second: a
    source slower than the destination, as a cloud registry over the WAN is, so that the
    uploader spends its time waiting for bytes between PATCHes."""

    def __init__(self, port, rate):
        self.port, self.rate = port, rate
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.host = f"127.0.0.1:{self.lsock.getsockname()[1]}"
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.port))
            self.socks += [c, u]
            threading.Thread(target=self._pipe, args=(c, u, 0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, self.rate), daemon=True).start()

    @staticmethod
    def _pipe(a, b, rate):
        try:
            while True:
                d = a.recv(16384)
                if not d:
                    break
                if rate:
                    time.sleep(len(d) / rate)
                b.sendall(d)
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        for s in [self.lsock, *self.socks]:
            s.close()


def _acked(state):
    for path in _journals(state).values():
        try:
            for ln in open(path).read().splitlines():
                if ln.startswith("acked "):
                    return int(ln[6:])
        except (FileNotFoundError, ValueError):
            pass
    return None


def _mirror_cmd(r, src_host, repo, state):
    ref, _ = r.images["big"]
    e = dict(os.environ)
    e.update(r.env())
    e["XDG_STATE_HOME"] = state
    cmd = [BIN, "k8s", "mirror", "--insecure-registry", src_host, "--insecure-registry",
           r.dst.host, "--chunk-size", "256K", "-j", "1", "--no-progress",
           f"{src_host}/{ref}", r.dst.ref(repo + ":v1")]
    return cmd, e


def _kill(r, repo, state, between_chunks, at=4 << 20):
    """Mirrors the big image to repo with 256 KiB chunks and kills it (-9) once the
    destination registry holds at least `at` bytes of the upload, at a chosen kind of moment:
    between_chunks, from a throttled source, when no PATCH is under way (stopped with
    SIGSTOP, the registry's upload holds what the journal says was acknowledged); else just
    after a PATCH arrived and before its answer was journalled (the registry holds more).
    Until such a moment comes the copy goes on a little and is looked at again. Returns the
    bytes the registry's upload data file holds after the kill."""
    t = Throttle(r.src.port, 2 << 20) if between_chunks else None
    uploads = r.dst.uploads(repo)
    try:
        cmd, e = _mirror_cmd(r, t.host if t else r.src.host, repo, state)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=e)
        deadline = time.time() + 60
        while True:
            assert time.time() < deadline, "no moment of the kind came"
            assert proc.poll() is None, "finished before it could be killed: a bigger layer"
            if _upload_bytes(uploads) >= at:
                proc.send_signal(signal.SIGSTOP)
                time.sleep(0.1)  # what was on the wire reaches the registry
                acked, held = _acked(state), _upload_bytes(uploads)
                if acked is not None and (acked == held) == between_chunks:
                    break
                proc.send_signal(signal.SIGCONT)
            time.sleep(random.uniform(0.001, 0.01))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if t:
            t.close()
    time.sleep(0.2)  # the registry finishes with the broken request
    assert r.dst.raw(repo + ":v1") is None  # no manifest was put: the image is not there
    return _upload_bytes(uploads)


def test_kill_mid_copy_then_rerun(registries, tmp_path):
    r = registries
    ref, digest = r.images["big"]
    layer, size = _big_layer(r)
    state = str(tmp_path / "state")
    held = _kill(r, "kill/big", state, between_chunks=True)
    assert held >= 4 << 20 and held == _acked(state)
    journals = _journals(state)
    assert len(journals) == 1  # the big layer's upload (the config goes in one PUT)
    text = open(list(journals.values())[0]).read()
    assert f"digest {layer}\n" in text and "repo kill/big\n" in text
    location = [ln for ln in text.splitlines() if ln.startswith("location ")][0][9:]
    assert location.startswith(f"http://{r.dst.host}/v2/kill/big/blobs/uploads/")
    p = mirror(r, "--json", "-v", "-v", "--chunk-size", "4M", r.src.ref(ref),
               r.dst.ref("kill/big:v1"), env={"XDG_STATE_HOME": state})
    s = summary(p)
    assert s["images_copied"] == 1
    assert s["blobs_copied"] == 1 and s["blobs_skipped"] == 1  # the config went in first
    assert sha(r.dst.raw("kill/big:v1")) == digest
    assert "/blobs/uploads/<upload>" in p.stderr  # debug lines name uploads, not their URL
    # the bytes the registry held were not sent again, and the summary says so
    assert s["bytes"] + s["bytes_resumed"] == size
    assert s["bytes_resumed"] == held and s["bytes"] == size - held
    print(f"layer {size} bytes; the registry held {held} at the kill; the rerun sent "
          f"{s['bytes']}, resumed {s['bytes_resumed']}")
    doc = json.loads(p.stdout)
    assert doc["images"][0]["bytes_resumed"] == s["bytes_resumed"]
    assert f"resuming the upload of {layer}" in p.stderr
    # the upload URL is a capability: only ever in the 0600 journal
    uuid = location.split("/blobs/uploads/")[1].split("?")[0]
    assert uuid not in p.stderr and uuid not in p.stdout
    assert location not in p.stderr
    assert _journals(state) == {}  # gone once the blob is in
    # and the blob the registry assembled is the source's, byte for byte
    with open(r.dst.blob_path(layer), "rb") as f:
        assert sha(f.read()) == layer


@pytest.mark.parametrize("how", ["registry-forgot", "unknown-upload", "garbage-journal",
                                 "registry-ahead"])
def test_resume_when_the_saved_upload_is_gone(registries, tmp_path, how):
    r = registries
    ref, digest = r.images["big"]
    layer, size = _big_layer(r)
    repo = "gone/" + how
    state = str(tmp_path / "state")
    if how == "registry-ahead":
        # killed mid-PATCH: the registry holds more than the journalled upload URL says, and
        # docker-registry then drops the upload
        assert _kill(r, repo, state, between_chunks=False) > _acked(state)
    else:
        _kill(r, repo, state, between_chunks=True)
    (path,) = _journals(state).values()
    if how == "registry-forgot":
        shutil.rmtree(r.dst.uploads(repo))
    elif how == "unknown-upload":
        text = open(path).read()
        old = text.split("/blobs/uploads/")[1].split("?")[0]
        with open(path, "w") as f:
            f.write(text.replace(old, "0b7a2d0e-1f7e-4d6c-9c55-5bde0a6f4d10"))
    elif how == "garbage-journal":
        with open(path, "wb") as f:
            f.write(b"gpumigrate-registry-upload 1\nbase \x00\xff\nnot a journal\n" * 40)
    p = mirror(r, "--json", "-v", "--chunk-size", "4M", r.src.ref(ref),
               r.dst.ref(repo + ":v1"), env={"XDG_STATE_HOME": state})
    s = summary(p)
    assert s["images_copied"] == 1
    assert s["blobs_copied"] == 1 and s["blobs_skipped"] == 1  # the config went in first
    assert s["bytes_resumed"] == 0
    assert s["bytes"] == size  # every byte of the layer, from zero
    assert sha(r.dst.raw(repo + ":v1")) == digest
    with open(r.dst.blob_path(layer), "rb") as f:
        assert sha(f.read()) == layer
    gone = f"the earlier upload of {layer} is gone; starting it again"
    if how == "garbage-journal":
        assert gone not in p.stderr  # no saved upload to ask about: simply a new one
    else:
        assert p.stderr.count(gone) == 1, p.stderr
    assert "resuming" not in p.stderr
    assert _journals(state) == {}


def test_journal_private_and_removed_after_success(registries, tmp_path):
    r = registries
    ref, digest = r.images["big"]
    layer, _ = _big_layer(r)
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    e = dict(os.environ)
    e.update(r.env())
    e["XDG_STATE_HOME"] = str(state)
    cmd = [BIN, "k8s", "mirror", "--json", "--insecure-registry", r.src.host,
           "--insecure-registry", r.dst.host, "--chunk-size", "256K", "--no-progress",
           r.src.ref(ref), r.dst.ref("private/big:v1")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                            text=True)
    modes = None
    deadline = time.time() + 60
    while modes is None and proc.poll() is None and time.time() < deadline:
        for path in _journals(str(state)).values():
            try:
                st = os.stat(path)
                modes = (stat.S_IMODE(st.st_mode),
                         stat.S_IMODE(os.stat(_journal_dir(str(state))).st_mode))
                text = open(path).read()
            except FileNotFoundError:  # replaced or removed between listing and stat
                continue
            assert f"digest {layer}\n" in text
        time.sleep(0.005)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert modes == (0o600, 0o700), modes
    assert stat.S_IMODE(os.stat(state / "gpumigrate").st_mode) == 0o700  # made by us
    assert _journals(str(state)) == {}
    assert os.listdir(_journal_dir(str(state))) == []  # no temporaries left either
    s = json.loads(out)["summary"]
    assert s["bytes_resumed"] == 0 and s["images_copied"] == 1
    assert sha(r.dst.raw("private/big:v1")) == digest


def test_basic_auth_config_and_wrong_credentials(registries, tmp_path):
    r = registries
    ref, _ = r.images["single"]
    # no credentials at all: the registry's 401 becomes one clear error
    empty = tmp_path / "empty"
    empty.mkdir()
    p = mirror(r, r.src.ref(ref), r.dst.ref("auth/x:v1"), env={"DOCKER_CONFIG": str(empty)})
    assert p.returncode == 4
    assert "needs credentials" in p.stderr
    # wrong password, with -v: one error line naming the user and the file, no secret
    bad = r.write_auth(USER, "wrong-Pa55word", directory=str(tmp_path / "bad"))
    p = mirror(r, "-v", "-v", r.src.ref(ref), r.dst.ref("auth/x:v1"),
               env={"DOCKER_CONFIG": bad})
    assert p.returncode == 4
    errors = [ln for ln in p.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1, p.stderr
    assert "refused the credentials" in errors[0] and f"'{USER}'" in errors[0]
    assert os.path.join(bad, "config.json") in errors[0]
    blob = base64.b64encode(f"{USER}:wrong-Pa55word".encode()).decode()
    for secret in ("wrong-Pa55word", blob, PASSWORD):
        assert secret not in p.stderr and secret not in p.stdout
    # REGISTRY_AUTH_FILE (skopeo's variable) with the right ones
    good = r.write_auth(USER, PASSWORD, directory=str(tmp_path / "good"))
    p = mirror(r, "-v", "-v", r.src.ref(ref), r.dst.ref("auth/x:v1"),
               env={"DOCKER_CONFIG": str(empty),
                    "REGISTRY_AUTH_FILE": os.path.join(good, "config.json")})
    assert p.returncode == 0, p.stderr
    assert PASSWORD not in p.stderr and "Authorization" not in p.stderr


def test_tampered_blob_refused(registries):
    r = registries
    ref, digest = r.images["tamper"]
    manifest = json.loads(r.src.raw(ref))
    layer = manifest["layers"][0]["digest"]
    path = r.src.blob_path(layer)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)
    p = mirror(r, "--json", r.src.ref(ref), r.dst.ref("tamper/x:v1"))
    assert p.returncode == 4
    assert "hashes to" in p.stderr and "refused" in p.stderr
    doc = json.loads(p.stdout)
    assert doc["images"][0]["status"] == "failed"
    assert r.dst.raw("tamper/x:v1") is None
    req = urllib.request.Request(f"http://{r.dst.host}/v2/tamper/x/blobs/{layer}",
                                 method="HEAD")
    req.add_header("Authorization",
                   "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 404  # never committed


def test_usage_errors(registries):
    r = registries
    p = mirror(r, "only-one-operand")
    assert p.returncode == 2
    p = mirror(r, "Bad/Name", "x/y")
    assert p.returncode == 4 and "lowercase" in p.stderr
    p = mirror(r, "--all", "--platform", "linux/amd64", "a", "b")
    assert p.returncode == 2


def test_from_manifests(registries, tmp_path):
    r = registries
    single, sd = r.images["single"]
    multi, md = r.images["multi"]
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "deploy.yaml").write_text(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: train, namespace: ml}}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: {r.src.ref(multi)}
      containers:
        - name: main
          image: "{r.src.ref(single)}"
        - name: again
          image: {r.src.ref(single)}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: not-an-image}}
data: {{image: {r.src.host}/app/nothing:v1}}
""")
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"- from: {r.src.host}/app\n  to: {r.dst.host}/fm\n")
    p = mirror(r, "--json", "--map", str(rules), "--from-manifests", str(tmp_path / "m"))
    s = summary(p)
    imgs = json.loads(p.stdout)["images"]
    assert [i["source"] for i in imgs] == [r.src.ref(multi), r.src.ref(single)]
    assert [i["destination"] for i in imgs] == [r.dst.ref("fm/multi:v1"),
                                                r.dst.ref("fm/single:v1")]
    assert s["images_copied"] == 2
    assert sha(r.dst.raw("fm/multi:v1")) == md and sha(r.dst.raw("fm/single:v1")) == sd
    p = mirror(r, "--from-manifests", str(tmp_path / "m"))
    assert p.returncode == 2 and "--map" in p.stderr


def test_sigint_finishes_the_chunk_then_the_rerun_resumes(registries, tmp_path):
    """Ctrl-C does not cut a chunk in half (the distribution registry could not resume
    that): the upload stops after its chunk in flight, journalled, exit status 130, and
    the next run sends only the rest."""
    r = registries
    ref, digest = r.images["big"]
    layer, size = _big_layer(r)
    state = str(tmp_path / "state")
    uploads = r.dst.uploads("sigint/big")
    t = Throttle(r.src.port, 2 << 20)
    try:
        cmd, e = _mirror_cmd(r, t.host, "sigint/big", state)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=e, text=True)
        deadline = time.time() + 60
        while _upload_bytes(uploads) < (2 << 20):
            assert time.time() < deadline and proc.poll() is None, "no upload progress"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        t.close()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "run the same command again" in err
    assert r.dst.raw("sigint/big:v1") is None
    held = _upload_bytes(uploads)
    assert held == _acked(state) and 0 < held < size  # whole chunks only
    s = summary(mirror(r, "--json", r.src.ref(ref), r.dst.ref("sigint/big:v1"),
                       env={"XDG_STATE_HOME": state}))
    assert s["bytes_resumed"] == held and s["bytes"] == size - held
    assert sha(r.dst.raw("sigint/big:v1")) == digest
    assert _journals(state) == {}

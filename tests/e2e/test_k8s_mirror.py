"""gpumigrate k8s mirror against two real registries on loopback (tests/e2e/registry.py):
single images and a two-platform index copied byte for byte (checked with skopeo inspect
--raw), a second run that copies nothing, cross-repository mounts, kill -9 in the middle of
a 64 MiB layer and a rerun that completes, basic auth from a docker config.json, wrong
credentials (one clear error, no secret printed), and a tampered source blob refused."""
import base64
import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from registry import PASSWORD, USER, registries  # noqa: F401  (the session fixture)

BIN = os.environ.get("GM_MIRROR_BIN") or os.environ.get("GPUMIGRATE_BIN", "build/gpumigrate")


def _has_command():
    p = subprocess.run([BIN, "k8s", "mirror", "--help"], capture_output=True)
    return p.returncode == 0


pytestmark = pytest.mark.skipif(not _has_command(),
                                reason="this build has no `k8s mirror` command yet")


def mirror(regs, *args, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(regs.env())
    if env:
        e.update(env)
    cmd = [BIN, "k8s", "mirror", "--insecure-registry", regs.src.host,
           "--insecure-registry", regs.dst.host, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout)


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


def test_kill_mid_copy_then_rerun(registries):
    r = registries
    ref, digest = r.images["big"]
    e = dict(os.environ)
    e.update(r.env())
    cmd = [BIN, "k8s", "mirror", "--insecure-registry", r.src.host, "--insecure-registry",
           r.dst.host, "--chunk-size", "256K", "-j", "1", "--no-progress", r.src.ref(ref),
           r.dst.ref("kill/big:v1")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
    uploads = r.dst.uploads("kill/big")
    deadline = time.time() + 60
    while _upload_bytes(uploads) < (4 << 20) and proc.poll() is None:
        assert time.time() < deadline, "no upload progress seen"
        time.sleep(0.02)
    assert proc.poll() is None, "finished before it could be killed: make the layer bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert r.dst.raw("kill/big:v1") is None  # no manifest was put: the image is not there
    s = summary(mirror(r, "--json", "--chunk-size", "4M", r.src.ref(ref),
                       r.dst.ref("kill/big:v1")))
    assert s["images_copied"] == 1
    assert sha(r.dst.raw("kill/big:v1")) == digest
    assert s["bytes"] > 64 << 20


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

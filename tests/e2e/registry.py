"""Real OCI registries on loopback for the k8s mirror tests and bench/mirror.sh: Debian's
docker-registry (the CNCF distribution registry) started twice with generated configs — a
source without auth and a destination with htpasswd (bcrypt) basic auth — on free ports,
storage in a temporary directory, plain HTTP. Images are generated here too: an OCI image
layout (blobs, manifests, a two-platform index) written by hand and pushed with skopeo, so
the tests know every digest byte for byte."""
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request

import pytest

REGISTRY = "/usr/bin/docker-registry"
USER = "mirror"
PASSWORD = "s3cret-Pa55"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, tmp, auth):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.root = os.path.join(tmp, "storage")
        self.auth = auth
        os.makedirs(self.root, exist_ok=True)
        auth_cfg = ""
        if auth:
            hp = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True,
                                capture_output=True, text=True).stdout
            with open(os.path.join(tmp, "htpasswd"), "w") as f:
                f.write(hp)
            auth_cfg = f"""auth:
  htpasswd:
    realm: gpumigrate-test
    path: {tmp}/htpasswd
"""
        cfg = os.path.join(tmp, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {self.root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {self.host}
  secret: gpumigrate-test-secret
{auth_cfg}""")
        self.log = open(os.path.join(tmp, "registry.log"), "w")
        self.proc = subprocess.Popen([REGISTRY, "serve", cfg], stdout=self.log,
                                     stderr=self.log)
        deadline = time.time() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # 401 from the auth registry: it is up
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"docker-registry did not start (see {tmp})")
                time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def creds(self):
        return ["--creds", f"{USER}:{PASSWORD}"] if self.auth else []

    def ref(self, name):
        return f"{self.host}/{name}"

    def raw(self, name, extra=()):
        """skopeo inspect --raw: the manifest bytes the registry serves."""
        p = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", *self.creds(),
                            *extra, f"docker://{self.ref(name)}"], capture_output=True)
        return p.stdout if p.returncode == 0 else None

    def blob_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.root, "docker/registry/v2/blobs/sha256", hexd[:2], hexd,
                            "data")

    def uploads(self, repo):
        return os.path.join(self.root, "docker/registry/v2/repositories", repo, "_uploads")


def skopeo_available():
    return (os.path.exists(REGISTRY) and shutil.which("skopeo") is not None
            and shutil.which("htpasswd") is not None)


# ---- images, written as an OCI image layout ----

def _sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Layout:
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []

    def blob(self, data, media_type):
        d = _sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": d, "size": len(data)}

    def layer(self, files):
        """A tar.gz layer holding files {name: bytes}; returns (descriptor, diff_id)."""
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 0
                t.addfile(info, io.BytesIO(data))
        tar = raw.getvalue()
        gz = gzip.compress(tar, compresslevel=1, mtime=0)
        return self.blob(gz, OCI_LAYER), _sha(tar)

    def image(self, arch, files_list):
        layers, diff_ids = [], []
        for files in files_list:
            desc, diff = self.layer(files)
            layers.append(desc)
            diff_ids.append(diff)
        cfg = json.dumps({"architecture": arch, "os": "linux",
                          "config": {"Env": ["PATH=/usr/bin"]},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                         separators=(",", ":")).encode()
        cdesc = self.blob(cfg, OCI_CONFIG)
        m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc,
                        "layers": layers}, indent=3).encode()  # odd indent: bytes must survive
        mdesc = self.blob(m, OCI_MANIFEST)
        mdesc["platform"] = {"architecture": arch, "os": "linux"}
        return mdesc

    def index(self, manifests):
        idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                          "manifests": manifests}).encode()
        return self.blob(idx, OCI_INDEX)

    def tag(self, desc, name):
        d = dict(desc)
        d.pop("platform", None)
        d["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.refs.append(d)
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


def push(layout, tag, reg, repo_tag):
    subprocess.run(["skopeo", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
                    *(["--dest-creds", f"{USER}:{PASSWORD}"] if reg.auth else []),
                    f"oci:{layout.path}:{tag}", f"docker://{reg.ref(repo_tag)}"],
                   check=True, capture_output=True)


def seed(tmp, reg, big_mib=0):
    """Pushes the test images to reg; returns {name: (ref, digest)}."""
    lay = Layout(os.path.join(tmp, "layout"))
    rnd = lambda n: os.urandom(n)  # noqa: E731  (incompressible, so gzip keeps the size)
    shared = {"usr/lib/shared.bin": rnd(300_000)}
    amd = lay.image("amd64", [shared, {"app/amd64": rnd(200_000), "etc/x": b"amd64\n"}])
    arm = lay.image("arm64", [shared, {"app/arm64": rnd(150_000), "etc/x": b"arm64\n"}])
    idx = lay.index([amd, arm])
    lay.tag(amd, "single")
    lay.tag(idx, "multi")
    tamper = lay.image("amd64", [{"tamper.bin": rnd(100_000)}])
    lay.tag(tamper, "tamper")
    out = {"single": ("app/single:v1", amd["digest"]), "multi": ("app/multi:v1", idx["digest"]),
           "tamper": ("app/tamper:v1", tamper["digest"]),
           "amd64": amd["digest"], "arm64": arm["digest"]}
    push(lay, "single", reg, "app/single:v1")
    push(lay, "multi", reg, "app/multi:v1")
    push(lay, "tamper", reg, "app/tamper:v1")
    if big_mib:
        big = lay.image("amd64", [{"big.bin": rnd(big_mib << 20)}])
        lay.tag(big, "big")
        push(lay, "big", reg, "app/big:v1")
        out["big"] = ("app/big:v1", big["digest"])
    return out


class Registries:
    def __init__(self, src, dst, images, tmp):
        self.src = src
        self.dst = dst
        self.images = images
        self.tmp = tmp
        self.docker_config = os.path.join(tmp, "docker")
        os.makedirs(self.docker_config, exist_ok=True)
        self.write_auth(USER, PASSWORD)

    def write_auth(self, user, password, directory=None):
        import base64
        d = directory or self.docker_config
        os.makedirs(d, exist_ok=True)
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"auths": {self.dst.host: {"auth": auth}}}, f)
        return d

    def env(self, docker_config=None):
        return {"DOCKER_CONFIG": docker_config or self.docker_config, "HOME": self.tmp,
                "REGISTRY_AUTH_FILE": ""}


@pytest.fixture(scope="session")
def registries(tmp_path_factory):
    if not skopeo_available():
        pytest.skip("docker-registry, skopeo or htpasswd missing (scripts/install-deps)")
    base = tmp_path_factory.mktemp("registries")
    src = Registry(str(base / "src"), auth=False)
    try:
        dst = Registry(str(base / "dst"), auth=True)
    except Exception:
        src.stop()
        raise
    try:
        images = seed(str(base), src, big_mib=64)
        yield Registries(src, dst, images, str(base))
    finally:
        src.stop()
        dst.stop()


BIN = os.environ.get("GM_MIRROR_BIN") or os.environ.get("GPUMIGRATE_BIN", "build/gpumigrate")


def mirror(regs, *args, env=None, timeout=120):
    """Runs `gpumigrate k8s mirror` with both test registries reachable over plain HTTP, the
    registries' credentials in the environment, and env on top."""
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(regs.env())
    if env:
        e.update(env)
    cmd = [BIN, "k8s", "mirror", "--insecure-registry", regs.src.host,
           "--insecure-registry", regs.dst.host, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout)


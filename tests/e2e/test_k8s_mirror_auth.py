"""gpumigrate k8s mirror finding registry credentials the way docker users have them, against
the real basic-auth registry of tests/e2e/registry.py: a docker credential helper named by
credHelpers (the protocol checked by the helper itself: one argument "get", the server URL on
stdin), credsStore with a helper whose first password is stale (renewed after the 401), a
helper that is not installed, one that hangs, and a gcloud-like helper whose first access
token the token service of a bearer-auth registry (a proxy in front of the source, as gcr.io
works) refuses. No secret may reach the output, also not
with -v -v. (Google's application default credentials are unit-tested in test_k8s_oci.c: a
*-docker.pkg.dev host cannot point at loopback here.)"""
import base64
import json
import os
import stat
import subprocess
import time

import pytest

# registries: the session fixture
from registry import BIN, PASSWORD, USER, mirror, registries  # noqa: F401


def helper(bindir, name, body):
    """Writes docker-credential-NAME, a /bin/sh script, into bindir."""
    os.makedirs(bindir, exist_ok=True)
    path = os.path.join(bindir, f"docker-credential-{name}")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, stat.S_IRWXU)
    return path


def helper_env(tmp_path, config, helpers):
    """A DOCKER_CONFIG holding config and a bin directory (first on PATH) holding helpers
    {name: body}; returns the environment for mirror()."""
    cfg = tmp_path / "docker"
    cfg.mkdir(parents=True)
    (cfg / "config.json").write_text(json.dumps(config))
    bindir = str(tmp_path / "bin")
    for name, body in helpers.items():
        helper(bindir, name, body)
    return {"DOCKER_CONFIG": str(cfg), "PATH": bindir + ":" + os.environ.get("PATH", "")}


# Checks the protocol, logs what it was asked for, and answers for the registry it knows.
PROTOCOL = """[ "$#" = 1 ] && [ "$1" = get ] || { echo "bad arguments: $*" >&2; exit 2; }
read -r url || [ -n "$url" ] || exit 3
echo "$url" >> "$(dirname "$0")/asked"
echo "gm-helper-noise-on-stderr" >&2
"""


def test_credential_helper_from_cred_helpers(registries, tmp_path):
    r = registries
    ref, _ = r.images["single"]
    answer = (PROTOCOL + f'[ "$url" = "{r.dst.host}" ] || '
              '{ echo "credentials not found in native keychain"; exit 1; }\n'
              f'printf \'{{"ServerURL": "%s", "Username": "{USER}", "Secret": "{PASSWORD}"}}\' '
              '"$url"\n')
    env = helper_env(tmp_path, {"auths": {r.dst.host: {"auth": "d3Jvbmc6d3Jvbmc="}},  # wrong:wrong
                           "credHelpers": {r.dst.host: "gmtest"}},
                {"gmtest": answer})
    p = mirror(r, "-v", "-v", "--json", r.src.ref(ref), r.dst.ref("helper/x:v1"), env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["summary"]["images_copied"] == 1
    assert r.dst.raw("helper/x:v1") == r.src.raw(ref)
    # asked for the destination only (the source has no helper), with the key as written
    asked = (tmp_path / "bin" / "asked").read_text().split()
    assert asked and set(asked) == {r.dst.host}
    assert f"docker-credential-gmtest (from {env['DOCKER_CONFIG']}/config.json)" in p.stderr
    assert "gm-helper-noise-on-stderr" in p.stderr  # the helper's stderr shows at -v
    assert PASSWORD not in p.stderr and PASSWORD not in p.stdout
    assert "Authorization" not in p.stderr
    # without -v the helper's stderr is dropped
    p = mirror(r, r.src.ref(ref), r.dst.ref("helper/x:v1"), env=env)
    assert p.returncode == 0, p.stderr
    assert "gm-helper-noise-on-stderr" not in p.stderr


def test_creds_store_password_renewed_after_401(registries, tmp_path):
    """credsStore (asked for every registry) whose first answer is a stale password, as an
    access token an hour old would be: the registry's 401 makes gpumigrate ask again."""
    r = registries
    ref, _ = r.images["single"]
    answer = (PROTOCOL + f'[ "$url" = "{r.dst.host}" ] || '
              '{ echo "credentials not found in native keychain"; exit 1; }\n'
              'n=$(grep -c . "$(dirname "$0")/asked")\n'
              f'pw={PASSWORD}; [ "$n" -le 1 ] && pw=stale-Pa55word\n'
              f'printf \'{{"ServerURL": "%s", "Username": "{USER}", "Secret": "%s"}}\' '
              '"$url" "$pw"\n')
    # the source registry is asked too (credsStore covers every host): the helper says
    # "not found" for it, so it counts only the destination's
    answer = answer.replace('echo "$url" >> "$(dirname "$0")/asked"\n',
                            f'[ "$url" = "{r.dst.host}" ] && '
                            'echo "$url" >> "$(dirname "$0")/asked"\n')
    env = helper_env(tmp_path, {"auths": {r.dst.host: {}}, "credsStore": "gmstore"},
                {"gmstore": answer})
    p = mirror(r, "-v", "-v", "--jobs", "1", r.src.ref(ref), r.dst.ref("helper/renew:v1"),
               env=env)
    assert p.returncode == 0, p.stderr
    assert r.dst.raw("helper/renew:v1") == r.src.raw(ref)
    asked = (tmp_path / "bin" / "asked").read_text().split()
    assert asked == [r.dst.host, r.dst.host]  # once at the start, once after the 401
    for secret in (PASSWORD, "stale-Pa55word"):
        assert secret not in p.stderr and secret not in p.stdout


def test_wrong_helper_password_is_one_clear_error(registries, tmp_path):
    r = registries
    ref, _ = r.images["single"]
    answer = (PROTOCOL + f'printf \'{{"ServerURL": "%s", "Username": "{USER}", '
              '"Secret": "always-Wr0ng"}\' "$url"\n')
    env = helper_env(tmp_path, {"credHelpers": {r.dst.host: "gmwrong"}}, {"gmwrong": answer})
    p = mirror(r, "-v", "-v", r.src.ref(ref), r.dst.ref("helper/wrong:v1"), env=env)
    assert p.returncode == 4
    errors = [ln for ln in p.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1, p.stderr
    assert "refused the credentials" in errors[0] and "docker-credential-gmwrong" in errors[0]
    assert "always-Wr0ng" not in p.stderr


def test_helper_missing_or_hanging(registries, tmp_path):
    r = registries
    ref, _ = r.images["single"]
    env = helper_env(tmp_path, {"credHelpers": {r.src.host: "gmhang"}}, {"gmhang": "sleep 60\n"})
    t0 = time.monotonic()
    p = mirror(r, r.src.ref(ref), r.dst.ref("helper/none:v1"),
               env={**env, "GPUMIGRATE_CREDHELPER_TIMEOUT_MS": "500"})
    assert p.returncode == 4
    assert "'docker-credential-gmhang'" in p.stderr
    assert "did not answer within 500 ms" in p.stderr
    assert time.monotonic() - t0 < 30
    env2 = helper_env(tmp_path / "b", {"credHelpers": {r.dst.host: "gm-absent"}}, {})
    p = mirror(r, r.src.ref(ref), r.dst.ref("helper/none:v1"), env=env2)
    assert p.returncode == 4
    assert "'docker-credential-gm-absent' is not in $PATH" in p.stderr
    assert os.path.join(env2["DOCKER_CONFIG"], "config.json") in p.stderr


class BearerProxy:
    """A registry with a token service in front of the real source registry, as gcr.io and
    Artifact Registry are: /v2/ wants `Bearer <token>` (401 with a Bearer challenge
    otherwise), and /token hands out tokens for Basic `oauth2accesstoken:<access token>` with
    the one access token it takes as current. GET and HEAD are forwarded upstream."""

    def __init__(self, upstream, access_token):
        import http.client
        import http.server
        import secrets
        import socketserver
        import threading
        proxy = self
        self.access_token = access_token
        self.tokens = set()
        self.token_requests = []  # (status) of each /token request

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                host = self.headers.get("Host")
                if self.path.startswith("/token"):
                    want = "Basic " + base64.b64encode(
                        f"oauth2accesstoken:{proxy.access_token}".encode()).decode()
                    if self.headers.get("Authorization") != want:
                        proxy.token_requests.append(401)
                        return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                    tok = "regtok-" + secrets.token_hex(8)
                    proxy.tokens.add(tok)
                    proxy.token_requests.append(200)
                    return self.reply(200, json.dumps({"token": tok}).encode(),
                                      [("Content-Type", "application/json")])
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in proxy.tokens:
                    return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [
                        ("WWW-Authenticate",
                         f'Bearer realm="http://{host}/token",service="{host}"')])
                c = http.client.HTTPConnection(upstream, timeout=30)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() == "accept"}
                c.request(self.command, self.path, headers=hdrs)
                r = c.getresponse()
                body = r.read()
                keep = [(k, v) for k, v in r.getheaders()
                        if k.lower() in ("content-type", "docker-content-digest")]
                c.close()
                self.reply(r.status, body, keep)

            do_HEAD = do_GET

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_bearer_registry_access_token_renewed(registries, tmp_path):
    """A credential helper like docker-credential-gcloud whose first access token has
    expired: the token service's 401 makes gpumigrate ask the helper again, once."""
    r = registries
    ref, _ = r.images["single"]
    proxy = BearerProxy(r.src.host, "ya29.current-ACCESS")
    try:
        answer = (PROTOCOL + 'n=$(grep -c . "$(dirname "$0")/asked")\n'
                  'tok=ya29.current-ACCESS; [ "$n" -le 1 ] && tok=ya29.expired-ACCESS\n'
                  'printf \'{"ServerURL": "%s", "Username": "oauth2accesstoken", '
                  '"Secret": "%s"}\' "$url" "$tok"\n')
        dst_auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        env = helper_env(tmp_path, {"credHelpers": {proxy.host: "gmgcloud"},
                                    "auths": {r.dst.host: {"auth": dst_auth}}},
                         {"gmgcloud": answer})
        p = mirror(r, "-v", "-v", "--insecure-registry", proxy.host,
                   f"{proxy.host}/{ref}", r.dst.ref("helper/bearer:v1"), env=env)
        assert p.returncode == 0, p.stderr
        assert r.dst.raw("helper/bearer:v1") == r.src.raw(ref)
        assert (tmp_path / "bin" / "asked").read_text().split() == [proxy.host, proxy.host]
        assert proxy.token_requests[:2] == [401, 200]
        for secret in ("ACCESS", "regtok-"):
            assert secret not in p.stderr and secret not in p.stdout
    finally:
        proxy.stop()

#!/usr/bin/env python3
"""Strict fake of the Google Cloud Storage JSON API (as served at storage.googleapis.com) and
of the OAuth token endpoint, for the object-storage tests of `gpumigrate sync`. Written from
Google's documentation to refuse what GCS refuses: bearer tokens it issued itself (from an
RS256 service-account JWT checked with the given public key, or a refresh token), resumable
uploads with 256 KiB chunk rules and persisted-offset bookkeeping, md5/crc32c checks on
upload, size/generation as strings, no md5Hash on composite objects, no empty items[].
Objects live as files under --root (data + JSON sidecar). The HTTP, fault-injection and stats
plumbing is shared with fake_s3.py (same directory).

    python3 tests/fakes/fake_gcs.py --root DIR --port-file FILE --bucket B \
        [--public-key PEM] [--client-email EMAIL] [--refresh-token V] [--client-id ID \
        --client-secret S] [--token-ttl SECONDS] [--no-auth] [--persist-less BYTES] \
        [--host 127.0.0.1] [--quiet]

Control endpoints (no auth): POST /_fault, POST /_fault/clear, GET /_stats, POST /_stats/clear.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_s3 import (COPY_CHUNK, Crc32cHash, FakeHandler, FakeServer, S3Store,  # noqa: E402
                     crc32c_update, http_date, parse_range, serve)

CHUNK_QUANTUM = 256 * 1024
TOKEN_URI_GOOGLE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STORAGE_SCOPES_RW = {
    "https://www.googleapis.com/auth/devstorage.read_write",
    "https://www.googleapis.com/auth/devstorage.full_control",
    "https://www.googleapis.com/auth/cloud-platform",
}
STORAGE_SCOPES_RO = {
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/cloud-platform.read-only",
}
REASONS = {400: "invalid", 401: "authError", 403: "forbidden", 404: "notFound",
           408: "requestTimeout", 409: "conflict", 410: "gone", 412: "conditionNotMet",
           416: "requestedRangeNotSatisfiable", 429: "rateLimitExceeded", 500: "backendError",
           501: "notImplemented", 502: "backendError", 503: "backendError",
           504: "backendError"}
WRITABLE = ("contentType", "contentEncoding", "contentDisposition", "contentLanguage",
            "cacheControl")


class GError(Exception):
    def __init__(self, status, message, reason=None, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or REASONS.get(status, "backendError")
        self.headers = list(headers)


class TokenError(Exception):
    def __init__(self, error, description, status=400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def rfc3339(ts):
    ms = int(round((ts - int(ts)) * 1000))
    if ms == 1000:
        ts, ms = int(ts) + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(ts))) + f".{ms:03d}Z"


def b64(data):
    return base64.b64encode(data).decode()


def b64url_decode_strict(seg):
    """JWS segments are unpadded base64url (RFC 7515 section 2); anything else is refused."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", seg) or len(seg) % 4 == 1:
        raise ValueError("segment is not unpadded base64url")
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def load_public_key(path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    with open(path, "rb") as f:
        pem = f.read()
    if b"BEGIN CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem).public_key()
    if b"PRIVATE KEY" in pem:
        return serialization.load_pem_private_key(pem, password=None).public_key()
    return serialization.load_pem_public_key(pem)


def verify_rs256(public_key, signing_input, signature):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


class GCSStore(S3Store):
    """S3Store's object layout under ROOT/gcs/<bucket>/, plus resumable sessions kept in
    ROOT/gcs/<bucket>/sessions/<id>.json + <id>.data."""

    def __init__(self, root, buckets):
        self.gen_lock = threading.Lock()
        self.last_gen = 0
        self.sessions = {}
        super().__init__(root, buckets, sub="gcs")
        for b in buckets:
            sdir = self.bdir(b, "sessions")
            os.makedirs(sdir, exist_ok=True)
            for name in os.listdir(sdir):
                if name.endswith(".json"):
                    with open(os.path.join(sdir, name)) as f:
                        s = json.load(f)
                    self.sessions[s["id"]] = s
            for meta in self.index[b].values():
                self.last_gen = max(self.last_gen, meta["generation"])

    def next_generation(self):
        with self.gen_lock:
            self.last_gen = max(self.last_gen + 1, int(time.time() * 1e6))
            return self.last_gen

    def session_paths(self, s):
        d = self.bdir(s["bucket"], "sessions")
        return os.path.join(d, s["id"] + ".json"), os.path.join(d, s["id"] + ".data")

    def save_session(self, s):
        from fake_s3 import atomic_write_json
        atomic_write_json(self.session_paths(s)[0], s)

    def drop_session(self, sid):
        with self.lock:
            s = self.sessions.pop(sid, None)
            if s:
                for p in self.session_paths(s):
                    try:
                        os.unlink(p)
                    except FileNotFoundError:
                        pass
            return s


def hash_file(path):
    md5 = hashlib.md5()
    crc = Crc32cHash()
    with open(path, "rb") as f:
        while True:
            piece = f.read(COPY_CHUNK)
            if not piece:
                break
            md5.update(piece)
            crc.update(piece)
    return md5.digest(), crc.digest()


def parse_goog_hash(value):
    """'crc32c=...,md5=...' (also repeated headers joined by ',') -> {'crc32c': b64, ...}"""
    out = {}
    for part in value.split(","):
        k, sep, v = part.strip().partition("=")
        if sep:
            out[k.strip().lower()] = v.strip()
    return out


class GCSHandler(FakeHandler):

    # -- classification -----------------------------------------------------------------------

    def parse_target(self):
        """Returns (kind, bucket, name, suffix). kind: token | bucket | list | object | upload |
        download | None. The object name must be one percent-encoded path segment."""
        p = self.raw_path
        if p == "/token":
            return "token", None, None, None
        m = re.fullmatch(r"/(upload/)?storage/v1/b/([^/]+)/o", p)
        if m:
            return ("upload" if m.group(1) else "list"), urllib.parse.unquote(m.group(2)), None, \
                None
        m = re.fullmatch(r"/storage/v1/b/([^/]+)", p)
        if m:
            return "bucket", urllib.parse.unquote(m.group(1)), None, None
        m = re.fullmatch(r"/(download/)?storage/v1/b/([^/]+)/o/([^/]+)(/compose)?", p)
        if m:
            kind = "download" if m.group(1) else "object"
            if m.group(1) and m.group(4):
                return None, None, None, None
            return kind, urllib.parse.unquote(m.group(2)), urllib.parse.unquote(m.group(3)), \
                m.group(4)
        return None, None, None, None

    def q1(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def classify(self):
        kind, _, _, suffix = self.parse_target()
        m = self.command
        if kind == "token":
            return "token"
        if kind == "bucket":
            return "buckets.get"
        if kind == "list":
            return "objects.list" if m == "GET" else "unsupported"
        if kind == "download":
            return "objects.get.media"
        if kind == "object":
            if suffix:
                return "objects.compose"
            if m == "GET":
                return "objects.get.media" if self.q1("alt") == "media" else "objects.get"
            return {"PATCH": "objects.patch", "DELETE": "objects.delete"}.get(m, "unsupported")
        if kind == "upload":
            if self.q1("upload_id") is not None:
                if m == "DELETE":
                    return "resumable.cancel"
                cr = self.headers.get("Content-Range", "")
                return "resumable.query" if "*/" in cr.replace(" ", "") and \
                    re.search(r"bytes\s+\*/", cr) else "resumable.put"
            return f"objects.insert.{self.q1('uploadType', 'none')}"
        return "unsupported"

    # -- responses ----------------------------------------------------------------------------

    def error_response(self, status, code, message, extra_headers=(), reason=None):
        reason = reason or code or REASONS.get(status, "backendError")
        if message == "injected fault":
            message = {500: "Backend Error", 503: "Service Unavailable",
                       429: "The rate of change requests to the object is too high."}.get(
                status, "injected fault")
        body = json.dumps({"error": {"code": status, "message": message, "errors": [
            {"message": message, "domain": "global", "reason": reason}]}}).encode()
        headers = [("Content-Type", "application/json; charset=UTF-8")]
        headers.extend(extra_headers)
        if self.command == "HEAD":
            self._send(status, headers, 0, lambda w: None, True)
        else:
            self.send_bytes(status, headers, body)

    def json_response(self, status, obj, headers=()):
        h = [("Content-Type", "application/json; charset=UTF-8")]
        h.extend(headers)
        self.send_bytes(status, h, json.dumps(obj).encode())

    def record_upload(self, op, name, part, status):
        st = self.server.stats
        with st.lock:
            st.upload_attempts.append((op, name, part, status))
            if status < 300 or status == 308:
                st.uploads.append((op, name, part))

    # -- auth ---------------------------------------------------------------------------------

    def require_auth(self, write):
        srv = self.server
        if srv.no_auth:
            return
        auth = self.headers.get("Authorization")
        www = [("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')]
        if not auth:
            raise GError(401, "Anonymous caller does not have storage.objects access to the "
                         "Google Cloud Storage bucket.", "required", www)
        scheme, _, tok = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not tok.strip():
            raise GError(401, "Invalid Credentials", "authError", www)
        with srv.token_lock:
            info = srv.tokens.get(tok.strip())
        if not info or info["exp"] <= time.time():
            raise GError(401, "Invalid Credentials", "authError", www)
        if write and info["read_only"]:
            raise GError(403, "Insufficient Permission", "insufficientPermissions")

    def token_endpoint(self):
        try:
            ctype = self.headers.get("Content-Type", "")
            body = self.read_body_bytes(1 << 20)
            if self.command != "POST":
                raise TokenError("invalid_request", "token endpoint requires POST", 405)
            if not ctype.lower().startswith("application/x-www-form-urlencoded"):
                raise TokenError("invalid_request", "Content-Type must be "
                                 "application/x-www-form-urlencoded")
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            f1 = {k: v[0] for k, v in form.items()}
            grant = f1.get("grant_type")
            if grant == JWT_BEARER:
                read_only = self.check_jwt(f1.get("assertion"))
            elif grant == "refresh_token":
                read_only = self.check_refresh(f1)
            elif grant is None:
                raise TokenError("invalid_request", "Missing required parameter: grant_type")
            else:
                raise TokenError("unsupported_grant_type", f"Invalid grant_type: {grant}")
        except TokenError as e:
            self.drain_body()
            self.json_response(e.status, {"error": e.error,
                                          "error_description": e.description})
            return
        srv = self.server
        tok = "ya29.fake-" + secrets.token_urlsafe(32)
        with srv.token_lock:
            srv.tokens[tok] = {"exp": time.time() + srv.token_ttl, "read_only": read_only}
            srv.tokens_issued += 1
        self.json_response(200, {"access_token": tok, "expires_in": srv.token_ttl,
                                 "token_type": "Bearer"},
                           [("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")])

    def check_jwt(self, assertion):
        srv = self.server
        if not assertion:
            raise TokenError("invalid_request", "Missing required parameter: assertion")
        if srv.public_key is None:
            raise TokenError("invalid_grant", "this fake was started without --public-key")
        segs = assertion.split(".")
        if len(segs) != 3:
            raise TokenError("invalid_grant", "Invalid JWT: not three dot-separated segments")
        try:
            header = json.loads(b64url_decode_strict(segs[0]))
            claims = json.loads(b64url_decode_strict(segs[1]))
            sig = b64url_decode_strict(segs[2])
        except ValueError as e:
            raise TokenError("invalid_grant", f"Invalid JWT: {e}")
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise TokenError("invalid_grant", "Invalid JWT: alg must be RS256")
        if "typ" in header and header["typ"] != "JWT":
            raise TokenError("invalid_grant", "Invalid JWT: typ must be JWT")
        if not verify_rs256(srv.public_key, f"{segs[0]}.{segs[1]}".encode(), sig):
            raise TokenError("invalid_grant", "Invalid JWT Signature.")
        if not isinstance(claims, dict):
            raise TokenError("invalid_grant", "Invalid JWT: claims are not an object")
        for c, t in (("iss", str), ("scope", str), ("aud", str), ("iat", int), ("exp", int)):
            if c not in claims:
                raise TokenError("invalid_grant", f"Invalid JWT: missing claim '{c}'")
            v = claims[c]
            if t is int and isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, t) or isinstance(v, bool):
                raise TokenError("invalid_grant", f"Invalid JWT: claim '{c}' has the wrong type")
            claims[c] = v
        if srv.client_email and claims["iss"] != srv.client_email:
            raise TokenError("invalid_grant", "Invalid JWT: iss is not the service account",
                             400)
        host = self.headers.get("Host", "")
        want_aud = srv.token_aud or f"http://{host}/token"
        if claims["aud"] != want_aud:
            raise TokenError("invalid_grant", f"Invalid JWT: aud must be '{want_aud}' "
                             "(the token_uri)")
        now = time.time()
        iat, exp = claims["iat"], claims["exp"]
        if exp <= iat or exp - iat > 3600 or iat > now + 300 or exp <= now:
            raise TokenError("invalid_grant", "Invalid JWT: Token must be a short-lived token "
                             "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
                             "values in the JWT claim.")
        scopes = set(claims["scope"].split())
        if scopes & STORAGE_SCOPES_RW:
            return False
        if scopes & STORAGE_SCOPES_RO:
            return True
        raise TokenError("invalid_scope", "scope grants no Cloud Storage access")

    def check_refresh(self, f1):
        srv = self.server
        for k in ("refresh_token", "client_id", "client_secret"):
            if not f1.get(k):
                raise TokenError("invalid_request", f"Missing required parameter: {k}")
        if srv.client_id is not None and (f1["client_id"] != srv.client_id or
                                          f1["client_secret"] != srv.client_secret):
            raise TokenError("invalid_client", "The OAuth client was not found.", 401)
        if srv.refresh_token is None or f1["refresh_token"] != srv.refresh_token:
            raise TokenError("invalid_grant", "Token has been expired or revoked.")
        return False

    # -- routing ------------------------------------------------------------------------------

    def route(self):
        try:
            self._route()
        except GError as e:
            if self.response_status is not None:
                raise
            self.drain_body()
            self.error_response(e.status, None, e.message, e.headers, e.reason)

    def _route(self):
        op = self.op
        kind, bucket, name, suffix = self.parse_target()
        if kind == "token":
            return self.token_endpoint()
        if kind is None or op == "unsupported" or op.startswith("objects.insert.none"):
            if kind == "upload":
                raise GError(400, "Upload requests must include an uploadType URL parameter and "
                             "a URL-encoded object name.", "invalid")
            raise GError(404, "Not Found (no such endpoint in this fake)", "notFound")
        session_op = op.startswith("resumable.")
        if not session_op:
            self.require_auth(write=self.command not in ("GET", "HEAD"))
        store = self.server.store
        if not store.has_bucket(bucket):
            raise GError(404, "The specified bucket does not exist.", "notFound")
        if self.q1("userProject") is not None or self.q1("versions") == "true":
            raise GError(501, "userProject/versions are not implemented by this fake",
                         "notImplemented")
        if op == "buckets.get":
            return self.bucket_get(bucket)
        if op == "objects.list":
            return self.objects_list(bucket)
        if op in ("objects.get", "objects.get.media"):
            return self.objects_get(bucket, name, op == "objects.get.media")
        if op == "objects.patch":
            return self.objects_patch(bucket, name)
        if op == "objects.delete":
            return self.objects_delete(bucket, name)
        if op == "objects.compose":
            return self.objects_compose(bucket, name)
        if op == "objects.insert.media":
            return self.insert_media(bucket)
        if op == "objects.insert.multipart":
            return self.insert_multipart(bucket)
        if op == "objects.insert.resumable":
            return self.resumable_start(bucket)
        if session_op:
            return self.resumable_session(bucket, op)
        raise GError(400, f"Invalid uploadType: {self.q1('uploadType')}", "invalid")

    # -- object resources ---------------------------------------------------------------------

    def object_resource(self, bucket, meta):
        name = meta["key"]
        enc = urllib.parse.quote(name, safe="")
        host = self.headers.get("Host", "storage.googleapis.com")
        r = {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{meta['generation']}",
            "selfLink": f"http://{host}/storage/v1/b/{bucket}/o/{enc}",
            "mediaLink": (f"http://{host}/download/storage/v1/b/{bucket}/o/{enc}"
                          f"?generation={meta['generation']}&alt=media"),
            "name": name,
            "bucket": bucket,
            "generation": str(meta["generation"]),
            "metageneration": str(meta["metageneration"]),
            "storageClass": "STANDARD",
            "size": str(meta["size"]),
            "crc32c": meta["crc32c"],
            "etag": self.etag(meta),
            "timeCreated": rfc3339(meta["time_created"]),
            "updated": rfc3339(meta["updated"]),
            "timeStorageClassUpdated": rfc3339(meta["time_created"]),
        }
        for k in WRITABLE:
            if meta["fields"].get(k) is not None:
                r[k] = meta["fields"][k]
        if meta.get("md5") is not None:
            r["md5Hash"] = meta["md5"]
        if meta.get("metadata"):
            r["metadata"] = dict(meta["metadata"])
        if meta.get("component_count") is not None:
            r["componentCount"] = meta["component_count"]
        return r

    @staticmethod
    def etag(meta):
        return b64(f"{meta['generation']}/{meta['metageneration']}".encode())

    def int_q(self, name):
        v = self.q1(name)
        if v is None:
            return None
        if not re.fullmatch(r"-?\d+", v):
            raise GError(400, f"Invalid value for {name}: {v}", "invalid")
        return int(v)

    def check_preconditions(self, meta, for_get=False):
        """ifGenerationMatch / ifGenerationNotMatch / ifMetagenerationMatch /
        ifMetagenerationNotMatch (generation 0 = 'object does not exist')."""
        gen = meta["generation"] if meta else 0
        mgen = meta["metageneration"] if meta else None
        v = self.int_q("ifGenerationMatch")
        if v is not None and v != gen:
            raise GError(412, "At least one of the pre-conditions you specified did not hold.",
                         "conditionNotMet")
        v = self.int_q("ifMetagenerationMatch")
        if v is not None and v != mgen:
            raise GError(412, "At least one of the pre-conditions you specified did not hold.",
                         "conditionNotMet")
        v = self.int_q("ifGenerationNotMatch")
        if v is not None and v == gen:
            if for_get:
                return 304
            raise GError(412, "At least one of the pre-conditions you specified did not hold.",
                         "conditionNotMet")
        v = self.int_q("ifMetagenerationNotMatch")
        if v is not None and v == mgen:
            if for_get:
                return 304
            raise GError(412, "At least one of the pre-conditions you specified did not hold.",
                         "conditionNotMet")
        return None

    def not_found(self, bucket, name):
        return GError(404, f"No such object: {bucket}/{name}", "notFound")

    def bucket_get(self, bucket):
        self.read_body_bytes()
        self.json_response(200, {"kind": "storage#bucket", "id": bucket, "name": bucket,
                                 "location": "US", "storageClass": "STANDARD",
                                 "metageneration": "1", "etag": "CAE=",
                                 "timeCreated": rfc3339(0), "updated": rfc3339(0)})

    def objects_list(self, bucket):
        self.read_body_bytes()
        if self.q1("matchGlob") is not None:
            raise GError(501, "matchGlob is not implemented by this fake", "notImplemented")
        prefix = self.q1("prefix", "")
        delim = self.q1("delimiter", "")
        max_results = self.int_q("maxResults")
        if max_results is None:
            max_results = 1000
        if max_results <= 0:
            raise GError(400, "Invalid value for maxResults", "invalid")
        max_results = min(max_results, 1000)
        start_off = self.q1("startOffset", "")
        end_off = self.q1("endOffset", "")
        trailing = self.q1("includeTrailingDelimiter", "false") == "true"
        token = self.q1("pageToken")
        marker, marker_is_prefix = "", False
        if token:
            try:
                t = json.loads(base64.urlsafe_b64decode(token.encode()))
                marker, marker_is_prefix = t["k"], bool(t["p"])
            except (ValueError, KeyError, TypeError):
                raise GError(400, "Invalid page token", "invalid")
        items, prefixes = [], []
        last = None
        truncated = False
        for k, meta in self.server.store.keys(bucket):
            if not k.startswith(prefix) or (start_off and k < start_off) or \
                    (end_off and k >= end_off):
                continue
            if marker and ((marker_is_prefix and k.startswith(marker)) or k <= marker):
                continue
            cp = None
            if delim:
                i = k.find(delim, len(prefix))
                if i >= 0:
                    cp = k[: i + len(delim)]
            if len(items) + len(prefixes) >= max_results:
                truncated = True
                break
            if cp is not None:
                prefixes.append(cp)
                if trailing and k == cp:
                    items.append(self.object_resource(bucket, meta))
                last = (cp, True)
                marker, marker_is_prefix = cp, True
            else:
                items.append(self.object_resource(bucket, meta))
                last = (k, False)
        out = {"kind": "storage#objects"}
        if truncated:
            out["nextPageToken"] = base64.urlsafe_b64encode(
                json.dumps({"k": last[0], "p": last[1]}).encode()).decode()
        if prefixes:
            out["prefixes"] = prefixes
        if items:
            out["items"] = items
        self.json_response(200, out)

    def objects_get(self, bucket, name, media):
        self.read_body_bytes()
        alt = self.q1("alt", "json")
        if alt not in ("json", "media"):
            raise GError(400, f"Invalid value for alt: {alt}", "invalid")
        store = self.server.store
        meta, f = store.open_data(bucket, name)
        if not meta:
            raise self.not_found(bucket, name)
        try:
            gen = self.int_q("generation")
            if gen is not None and gen != meta["generation"]:
                raise self.not_found(bucket, name)
            if self.check_preconditions(meta, for_get=True) == 304:
                self.send_bytes(304, [("ETag", self.etag(meta))], b"")
                return
            if not media:
                self.json_response(200, self.object_resource(bucket, meta))
                return
            size = meta["size"]
            hashes = f"crc32c={meta['crc32c']}"
            if meta.get("md5"):
                hashes += f",md5={meta['md5']}"
            headers = [("Content-Type", meta["fields"].get("contentType") or
                        "application/octet-stream"),
                       ("ETag", self.etag(meta)),
                       ("Last-Modified", http_date(meta["updated"])),
                       ("x-goog-generation", str(meta["generation"])),
                       ("x-goog-metageneration", str(meta["metageneration"])),
                       ("x-goog-hash", hashes),
                       ("x-goog-stored-content-length", str(size)),
                       ("x-goog-stored-content-encoding",
                        meta["fields"].get("contentEncoding") or "identity"),
                       ("Accept-Ranges", "bytes")]
            rng = parse_range(self.headers.get("Range"), size)
            if rng == "unsatisfiable":
                raise GError(416, "Request range not satisfiable",
                             "requestedRangeNotSatisfiable",
                             [("Content-Range", f"bytes */{size}")])
            if rng is None:
                self.send_file_range(200, headers, f, 0, size)
            else:
                a, b = rng
                headers.append(("Content-Range", f"bytes {a}-{b}/{size}"))
                self.send_file_range(206, headers, f, a, b - a + 1)
        finally:
            f.close()

    def objects_delete(self, bucket, name):
        self.read_body_bytes()
        store = self.server.store
        meta = store.get(bucket, name)
        if not meta:
            raise self.not_found(bucket, name)
        self.check_preconditions(meta)
        store.delete(bucket, name)
        self.send_bytes(204, [], b"")

    def read_json_body(self, required=True):
        body = self.read_body_bytes()
        if not body.strip():
            if required:
                raise GError(400, "Required request body is missing", "required")
            return {}
        try:
            obj = json.loads(body)
        except ValueError:
            raise GError(400, "Parse Error: request body is not valid JSON", "parseError")
        if not isinstance(obj, dict):
            raise GError(400, "Request body must be a JSON object", "invalid")
        return obj

    @staticmethod
    def check_metadata_map(md):
        if md is None:
            return
        if not isinstance(md, dict):
            raise GError(400, "Invalid value for metadata: must be an object", "invalid")
        for k, v in md.items():
            if v is not None and not isinstance(v, str):
                raise GError(400, f"Invalid value for metadata['{k}']: must be a string",
                             "invalid")

    def objects_patch(self, bucket, name):
        patch = self.read_json_body()
        store = self.server.store
        meta = store.get(bucket, name)
        if not meta:
            raise self.not_found(bucket, name)
        self.check_preconditions(meta)
        if "metadata" in patch:
            self.check_metadata_map(patch["metadata"])

        def apply(m):
            if "metadata" in patch:
                if patch["metadata"] is None:
                    m["metadata"] = {}
                else:
                    md = dict(m.get("metadata") or {})
                    for k, v in patch["metadata"].items():
                        if v is None:
                            md.pop(k, None)
                        else:
                            md[k] = v
                    m["metadata"] = md
            for k in WRITABLE:
                if k in patch:
                    m["fields"][k] = patch[k]
            m["metageneration"] += 1
            m["updated"] = time.time()
            return m

        new = store.update_meta(bucket, name, apply)
        if not new:
            raise self.not_found(bucket, name)
        self.json_response(200, self.object_resource(bucket, new))

    def objects_compose(self, bucket, dest):
        req = self.read_json_body()
        srcs = req.get("sourceObjects")
        if not isinstance(srcs, list) or not srcs:
            raise GError(400, "Required field: sourceObjects", "required")
        if len(srcs) > 32:
            raise GError(400, "The number of source components provided (%d) exceeds the "
                         "maximum (32)" % len(srcs), "invalid")
        destination = req.get("destination") or {}
        if not isinstance(destination, dict):
            raise GError(400, "Invalid destination", "invalid")
        if "name" in destination and destination["name"] != dest:
            raise GError(400, "destination.name does not match the object name in the URL",
                         "invalid")
        self.check_metadata_map(destination.get("metadata"))
        store = self.server.store
        self.check_preconditions(store.get(bucket, dest))
        tmp = store.tmp_path(bucket)
        crc = 0
        size = 0
        components = 0
        try:
            with open(tmp, "wb") as out:
                for s in srcs:
                    if not isinstance(s, dict) or not isinstance(s.get("name"), str):
                        raise GError(400, "Required field: sourceObjects[].name", "required")
                    smeta, f = store.open_data(bucket, s["name"])
                    if not smeta:
                        raise self.not_found(bucket, s["name"])
                    with f:
                        if s.get("generation") is not None and \
                                int(s["generation"]) != smeta["generation"]:
                            raise self.not_found(bucket, s["name"])
                        pre = (s.get("objectPreconditions") or {}).get("ifGenerationMatch")
                        if pre is not None and int(pre) != smeta["generation"]:
                            raise GError(412, "At least one of the pre-conditions you specified "
                                         "did not hold.", "conditionNotMet")
                        components += smeta.get("component_count") or 1
                        while True:
                            piece = f.read(COPY_CHUNK)
                            if not piece:
                                break
                            out.write(piece)
                            crc = crc32c_update(crc, piece)
                            size += len(piece)
            if components > 1024:
                raise GError(400, "The number of components in the composite object would "
                             "exceed 1024", "invalid")
        except BaseException:
            os.unlink(tmp)
            raise
        now = time.time()
        fields = {k: destination[k] for k in WRITABLE if destination.get(k) is not None}
        md = {k: v for k, v in (destination.get("metadata") or {}).items() if v is not None}
        m = store.commit(bucket, dest, tmp, {
            "size": size, "md5": None, "crc32c": b64(crc.to_bytes(4, "big")),
            "generation": store.next_generation(), "metageneration": 1, "fields": fields,
            "metadata": md, "time_created": now, "updated": now,
            "component_count": components})
        self.json_response(200, self.object_resource(bucket, m))

    # -- uploads ------------------------------------------------------------------------------

    def upload_name(self, metadata):
        name = self.q1("name")
        if name is None:
            name = metadata.get("name")
        if not isinstance(name, str) or name == "":
            raise GError(400, "Required parameter: name (in the query or the metadata)",
                         "required")
        if len(name.encode("utf-8", "surrogatepass")) > 1024:
            raise GError(400, "The object name is too long (max 1024 bytes of UTF-8)", "invalid")
        return name

    def verify_hashes(self, md5_digest, crc_digest, metadata, goog_hash=None):
        want_md5 = metadata.get("md5Hash")
        want_crc = metadata.get("crc32c")
        if goog_hash:
            h = parse_goog_hash(goog_hash)
            want_md5 = h.get("md5", want_md5)
            want_crc = h.get("crc32c", want_crc)
        if want_md5 is not None and want_md5 != b64(md5_digest):
            raise GError(400, f"Provided MD5 hash \"{want_md5}\" doesn't match calculated MD5 "
                         f"hash \"{b64(md5_digest)}\".", "invalid")
        if want_crc is not None and want_crc != b64(crc_digest):
            raise GError(400, f"Provided CRC32C \"{want_crc}\" doesn't match calculated CRC32C "
                         f"\"{b64(crc_digest)}\".", "invalid")

    def commit_upload(self, bucket, name, tmp, size, md5_digest, crc_digest, metadata,
                      content_type):
        store = self.server.store
        self.check_preconditions(store.get(bucket, name))
        now = time.time()
        fields = {k: metadata[k] for k in WRITABLE if metadata.get(k) is not None}
        if "contentType" not in fields:
            fields["contentType"] = content_type or "application/octet-stream"
        md = {k: v for k, v in (metadata.get("metadata") or {}).items() if v is not None}
        return store.commit(bucket, name, tmp, {
            "size": size, "md5": b64(md5_digest), "crc32c": b64(crc_digest),
            "generation": store.next_generation(), "metageneration": 1, "fields": fields,
            "metadata": md, "time_created": now, "updated": now, "component_count": None})

    def insert_media(self, bucket):
        name = self.upload_name({})
        status = 500
        store = self.server.store
        try:
            tmp = store.tmp_path(bucket)
            md5 = hashlib.md5()
            crc = Crc32cHash()
            try:
                size = self.read_body_to_file(tmp, [md5, crc])
                self.verify_hashes(md5.digest(), crc.digest(), {},
                                   self.headers.get("X-Goog-Hash"))
                m = self.commit_upload(bucket, name, tmp, size, md5.digest(), crc.digest(), {},
                                       self.headers.get("Content-Type"))
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            status = 200
            self.json_response(200, self.object_resource(bucket, m))
        except GError as e:
            status = e.status
            raise
        finally:
            self.record_upload("objects.insert.media", name, None, status)

    def insert_multipart(self, bucket):
        ctype = self.headers.get("Content-Type", "")
        m = re.match(r"\s*multipart/related\s*;(.*)$", ctype, re.I | re.S)
        bnd = re.search(r'boundary\s*=\s*"?([^";]+)"?', m.group(1)) if m else None
        if not bnd:
            raise GError(400, "Content-Type must be multipart/related with a boundary",
                         "invalid")
        boundary = bnd.group(1).strip().encode()
        body = self.read_body_bytes()
        delim = b"--" + boundary
        chunks = body.split(delim)
        # chunks[0] is the preamble; the last one starts with "--" (the close delimiter).
        if len(chunks) < 4 or not chunks[-1].startswith(b"--"):
            raise GError(400, "Malformed multipart body: expected a metadata part and a media "
                         "part, closed by the final boundary", "invalid")
        parts = []
        for c in chunks[1:-1]:
            if not c.startswith(b"\r\n"):
                raise GError(400, "Malformed multipart body (boundary not followed by CRLF)",
                             "invalid")
            head, sep, content = c[2:].partition(b"\r\n\r\n")
            if not sep or not content.endswith(b"\r\n"):
                raise GError(400, "Malformed multipart body part", "invalid")
            hdrs = {}
            for line in head.split(b"\r\n"):
                if line:
                    k, _, v = line.decode("latin-1").partition(":")
                    hdrs[k.strip().lower()] = v.strip()
            parts.append((hdrs, content[:-2]))
        if len(parts) != 2:
            raise GError(400, "Multipart upload needs exactly 2 parts (metadata, media)",
                         "invalid")
        if not parts[0][0].get("content-type", "").lower().startswith("application/json"):
            raise GError(400, "The first multipart part must be application/json metadata",
                         "invalid")
        try:
            metadata = json.loads(parts[0][1] or b"{}")
        except ValueError:
            raise GError(400, "Parse Error: metadata part is not valid JSON", "parseError")
        if not isinstance(metadata, dict):
            raise GError(400, "metadata part must be a JSON object", "invalid")
        self.check_metadata_map(metadata.get("metadata"))
        name = self.upload_name(metadata)
        data = parts[1][1]
        status = 500
        store = self.server.store
        tmp = store.tmp_path(bucket)
        try:
            md5 = hashlib.md5(data).digest()
            crc = crc32c_update(0, data).to_bytes(4, "big")
            self.verify_hashes(md5, crc, metadata)
            with open(tmp, "wb") as f:
                f.write(data)
            m = self.commit_upload(bucket, name, tmp, len(data), md5, crc, metadata,
                                   parts[1][0].get("content-type"))
            status = 200
            self.json_response(200, self.object_resource(bucket, m))
        except GError as e:
            status = e.status
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        finally:
            self.record_upload("objects.insert.multipart", name, None, status)

    def resumable_start(self, bucket):
        metadata = self.read_json_body(required=False)
        self.check_metadata_map(metadata.get("metadata"))
        name = self.upload_name(metadata)
        store = self.server.store
        self.check_preconditions(store.get(bucket, name))
        xlen = self.headers.get("X-Upload-Content-Length")
        if xlen is not None and not xlen.strip().isdigit():
            raise GError(400, "Invalid X-Upload-Content-Length", "invalid")
        sid = secrets.token_urlsafe(24)
        s = {"id": sid, "bucket": bucket, "name": name, "metadata": metadata,
             "content_type": self.headers.get("X-Upload-Content-Type"),
             "expected": int(xlen) if xlen is not None else None, "total": None,
             "persisted": 0, "done": None,
             "preconditions": {k: self.q1(k) for k in ("ifGenerationMatch",
                                                        "ifMetagenerationMatch")
                               if self.q1(k) is not None}}
        with store.lock:
            store.sessions[sid] = s
            open(store.session_paths(s)[1], "wb").close()
            store.save_session(s)
        host = self.headers.get("Host", "127.0.0.1")
        qs = urllib.parse.urlencode({"uploadType": "resumable", "name": name, "upload_id": sid})
        loc = f"http://{host}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{qs}"
        self.send_bytes(200, [("Location", loc), ("X-GUploader-UploadID", sid)], b"")

    def session_reply(self, s):
        if s["done"]:
            meta = self.server.store.get(s["bucket"], s["name"])
            if meta and meta["generation"] == s["done"]["generation"]:
                self.json_response(200, self.object_resource(s["bucket"], meta))
            else:
                self.json_response(200, self.object_resource(s["bucket"], s["done"]))
            return
        headers = []
        if s["persisted"] > 0:
            headers.append(("Range", f"bytes=0-{s['persisted'] - 1}"))
        headers.append(("X-GUploader-UploadID", s["id"]))
        self.send_bytes(308, headers, b"", reason="Resume Incomplete")

    def resumable_session(self, bucket, op):
        store = self.server.store
        sid = self.q1("upload_id")
        with store.lock:
            s = store.sessions.get(sid)
        if not s or s["bucket"] != bucket:
            raise GError(404, "No such upload session (unknown, cancelled or expired)",
                         "notFound")
        if op == "resumable.cancel":
            self.read_body_bytes()
            store.drop_session(sid)
            self.send_bytes(499, [], b"", reason="Client Closed Request")
            return
        with self.server.session_lock(sid):
            with store.lock:
                if store.sessions.get(sid) is not s:
                    raise GError(404, "No such upload session (cancelled meanwhile)", "notFound")
            self.resumable_put(s, op)

    def resumable_put(self, s, op):
        store = self.server.store
        cr = self.headers.get("Content-Range")
        if cr is None:
            if self.headers.get("Content-Length") is None:
                raise GError(400, "A PUT without Content-Range needs Content-Length", "invalid")
            n = int(self.headers["Content-Length"])
            first, last, total = (0, n - 1, n) if n else (None, None, 0)
        else:
            m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*", cr)
            if not m:
                raise GError(400, f"Invalid Content-Range: {cr}", "invalid")
            first = int(m.group(1)) if m.group(1) is not None else None
            last = int(m.group(2)) if m.group(2) is not None else None
            total = None if m.group(3) == "*" else int(m.group(3))
        if s["done"]:
            self.drain_body()
            self.session_reply(s)
            return
        if total is not None:
            for known in (s["total"], s["expected"]):
                if known is not None and known != total:
                    raise GError(400, f"Content-Range total {total} differs from the size "
                                 f"declared before ({known})", "invalid")
        if first is None:
            # Status query ("bytes */N", "bytes */*"), or finalization with no new data.
            body = self.read_body_bytes(1 << 20)
            if body:
                raise GError(400, "Content-Range 'bytes */...' must come with an empty body",
                             "invalid")
            if total is not None:
                if total < s["persisted"]:
                    raise GError(400, f"Declared size {total} is smaller than the "
                                 f"{s['persisted']} bytes already persisted", "invalid")
                s["total"] = total
                if total == s["persisted"]:
                    return self.finalize(s)
            store.save_session(s)
            return self.session_reply(s)
        if last < first:
            raise GError(400, f"Invalid Content-Range: {cr}", "invalid")
        length = last - first + 1
        cl = self.headers.get("Content-Length")
        if cl is not None and int(cl) != length:
            raise GError(400, f"Content-Range covers {length} bytes but Content-Length is {cl}",
                         "invalid")
        if total is not None and last + 1 > total:
            raise GError(400, f"Content-Range last byte {last} is beyond the total {total}",
                         "invalid")
        final = total is not None and last + 1 == total
        if not final and length % CHUNK_QUANTUM:
            raise GError(400, f"Invalid request. A non-final chunk must be a multiple of "
                         f"{CHUNK_QUANTUM} bytes; this one is {length} bytes.", "invalid")
        if first > s["persisted"]:
            raise GError(400, f"Invalid request: the chunk starts at byte {first} but only "
                         f"{s['persisted']} bytes are persisted (a gap)", "invalid")
        status = 500
        try:
            skip = s["persisted"] - first
            received = 0
            data_path = store.session_paths(s)[1]
            with open(data_path, "r+b") as f:
                f.seek(s["persisted"])
                f.truncate()
                for piece in self.iter_body():
                    if skip >= len(piece):
                        skip -= len(piece)
                    else:
                        f.write(piece[skip:])
                        skip = 0
                    received += len(piece)
                if received != length:
                    raise GError(400, f"Body has {received} bytes, Content-Range says {length}",
                                 "invalid")
                new = last + 1
                if not final and self.server.persist_less:
                    cut = (new - self.server.persist_less) // CHUNK_QUANTUM * CHUNK_QUANTUM
                    new = max(s["persisted"], cut)
                f.truncate(max(new, s["persisted"]))
                f.flush()
                os.fsync(f.fileno())
            s["persisted"] = max(new, s["persisted"])
            if total is not None:
                s["total"] = total
            store.save_session(s)
            status = 308
            if final:
                self.finalize(s)
                status = 200
            else:
                self.session_reply(s)
        except GError as e:
            status = e.status
            raise
        finally:
            self.record_upload("resumable.put", s["name"], first, status)

    def finalize(self, s):
        store = self.server.store
        data_path = store.session_paths(s)[1]
        size = os.path.getsize(data_path)
        if s["expected"] is not None and size != s["expected"]:
            raise GError(400, f"Upload is {size} bytes but X-Upload-Content-Length said "
                         f"{s['expected']}", "invalid")
        md5, crc = hash_file(data_path)
        metadata = dict(s["metadata"])
        extra = {k[len("x-goog-meta-"):]: v for k, v in
                 ((k.lower(), v) for k, v in self.headers.items())
                 if k.startswith("x-goog-meta-")}
        if extra:
            metadata["metadata"] = dict(metadata.get("metadata") or {}, **extra)
        try:
            self.verify_hashes(md5, crc, metadata, self.headers.get("X-Goog-Hash"))
        except GError:
            store.drop_session(s["id"])
            raise
        saved_query = self.query
        self.query = {k: [v] for k, v in s["preconditions"].items()}
        tmp = store.tmp_path(s["bucket"])
        try:
            os.replace(data_path, tmp)
            m = self.commit_upload(s["bucket"], s["name"], tmp, size, md5, crc, metadata,
                                   s["content_type"])
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            store.drop_session(s["id"])
            raise
        finally:
            self.query = saved_query
        open(data_path, "wb").close()
        s["done"] = dict(m)
        store.save_session(s)
        self.session_reply(s)


class GCSServer(FakeServer):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.token_lock = threading.Lock()
        self.tokens = {}
        self.tokens_issued = 0
        self._session_locks = {}
        self._locks_lock = threading.Lock()

    def session_lock(self, sid):
        with self._locks_lock:
            return self._session_locks.setdefault(sid, threading.Lock())

    def extra_stats(self):
        with self.store.lock:
            out = {"objects": {b: len(v) for b, v in self.store.index.items()},
                   "open_sessions": sum(1 for s in self.store.sessions.values()
                                        if not s["done"])}
        with self.token_lock:
            out["tokens_issued"] = self.tokens_issued
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bucket", action="append", default=[])
    ap.add_argument("--public-key", help="PEM public key / certificate / private key of the "
                    "service account whose JWTs the token endpoint accepts")
    ap.add_argument("--client-email", help="require iss == this")
    ap.add_argument("--token-aud", help="required JWT aud (default: http://<Host>/token)")
    ap.add_argument("--refresh-token")
    ap.add_argument("--client-id")
    ap.add_argument("--client-secret")
    ap.add_argument("--token-ttl", type=int, default=3600)
    ap.add_argument("--no-auth", action="store_true")
    ap.add_argument("--persist-less", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.root, exist_ok=True)
    srv = GCSServer((a.host, a.port), GCSHandler, "fake_gcs", a.quiet)
    srv.store = GCSStore(a.root, a.bucket)
    srv.no_auth = a.no_auth
    srv.public_key = load_public_key(a.public_key) if a.public_key else None
    srv.client_email = a.client_email
    srv.token_aud = a.token_aud
    srv.refresh_token = a.refresh_token
    srv.client_id = a.client_id
    srv.client_secret = a.client_secret
    srv.token_ttl = a.token_ttl
    srv.persist_less = a.persist_less
    serve(srv, a.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())

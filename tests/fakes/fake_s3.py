#!/usr/bin/env python3
"""Strict fake of Amazon S3 (path-style REST API, SigV4 header auth) for the object-storage
tests of `gpumigrate sync`. s3rver, the independent server the tests also use, accepts almost
any signature and skips most checks; this fake is written from the AWS documentation to refuse
what real S3 refuses: SigV4 verified byte for byte, payload hash and Content-MD5 checked,
multipart rules (part order, ETags, minimum part size) enforced, ListObjectsV2 paginated the
way S3 paginates. Objects live as files under --root (data + JSON sidecar), so large objects
never sit in memory and a restart keeps them.

It also carries the plumbing shared with fake_gcs.py (fault injection, stats, body reading,
server start-up), which imports it from this file.

    python3 tests/fakes/fake_s3.py --root DIR --port-file FILE --bucket B \
        --access-key AK --secret-key SK [--session-token T] [--region us-east-1] \
        [--min-part BYTES] [--host 127.0.0.1] [--quiet]

Control endpoints on the same port (no auth): POST /_fault, POST /_fault/clear, GET /_stats,
POST /_stats/clear. See Faults and Stats below.
"""
import argparse
import base64
import calendar
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import zlib
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

# ---------------------------------------------------------------------------------------------
# Shared plumbing (also used by fake_gcs.py)
# ---------------------------------------------------------------------------------------------

COPY_CHUNK = 1 << 20
MAX_BUFFERED_BODY = 64 << 20


def _crc32c_tables():
    base = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        base.append(c)
    tables = [base]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ base[prev[i] & 0xFF] for i in range(256)])
    return tables


_CRC_T = _crc32c_tables()


def crc32c_update(crc, data):
    """Castagnoli CRC (reflected, poly 0x82F63B78). crc is the running value as returned by a
    previous call (0 to start); the result is the finished CRC of everything so far."""
    crc ^= 0xFFFFFFFF
    t0, t1, t2, t3, t4, t5, t6, t7 = _CRC_T
    mv = memoryview(data).cast("B")
    n = len(mv)
    end = n - (n % 8) if sys.byteorder == "little" else 0
    if end:
        for q in mv[:end].cast("Q"):
            x = crc ^ (q & 0xFFFFFFFF)
            h = q >> 32
            crc = (t7[x & 0xFF] ^ t6[(x >> 8) & 0xFF] ^ t5[(x >> 16) & 0xFF] ^ t4[x >> 24]
                   ^ t3[h & 0xFF] ^ t2[(h >> 8) & 0xFF] ^ t1[(h >> 16) & 0xFF] ^ t0[h >> 24])
    for b in mv[end:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class Crc32cHash:
    """hashlib-like wrapper so CRC32C can sit next to md5/sha256 in one streaming pass."""

    def __init__(self):
        self.crc = 0

    def update(self, data):
        self.crc = crc32c_update(self.crc, data)

    def digest(self):
        return self.crc.to_bytes(4, "big")


class Crc32Hash:
    def __init__(self):
        self.crc = 0

    def update(self, data):
        self.crc = zlib.crc32(data, self.crc)

    def digest(self):
        return self.crc.to_bytes(4, "big")


def atomic_write_json(path, obj):
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_port_file(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


class Faults:
    """Fault rules, checked in order; the first live rule whose method and path_re match fires.
    Rule fields (JSON body of POST /_fault):
      method     optional, e.g. "PUT"
      path_re    optional regex searched in the raw request target (path + '?' + query)
      count      how many times it fires (default 1; -1 = forever)
      skip       let this many matching requests through first (default 0)
      action     "status" (default when status is given): answer with that error status;
                 "drop": read the request, close without answering (the request is NOT applied
                 unless "apply": true, which processes it and then drops the answer);
                 "delay": sleep "seconds" then process normally;
                 "truncate": process normally, send the headers and half the body, close.
      status     for "status" (e.g. 500, 503); "code" optional error code text (S3), and
                 "retry_after" optional seconds for a Retry-After header."""

    ACTIONS = ("status", "drop", "delay", "truncate")

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def add(self, rule):
        if not isinstance(rule, dict):
            raise ValueError("fault must be a JSON object")
        action = rule.get("action", "status" if "status" in rule else None)
        if action not in self.ACTIONS:
            raise ValueError(f"action must be one of {self.ACTIONS}")
        r = {
            "action": action,
            "method": rule.get("method"),
            "path_re": re.compile(rule["path_re"]) if rule.get("path_re") else None,
            "count": int(rule.get("count", 1)),
            "skip": int(rule.get("skip", 0)),
            "status": int(rule.get("status", 500)),
            "code": rule.get("code"),
            "seconds": float(rule.get("seconds", 1.0)),
            "apply": bool(rule.get("apply", False)),
            "retry_after": rule.get("retry_after"),
        }
        if action == "status" and not 400 <= r["status"] <= 599:
            raise ValueError("status must be 4xx or 5xx")
        with self.lock:
            self.rules.append(r)

    def clear(self):
        with self.lock:
            self.rules = []

    def match(self, method, target):
        with self.lock:
            for r in self.rules:
                if r["count"] == 0:
                    continue
                if r["method"] and r["method"].upper() != method:
                    continue
                if r["path_re"] and not r["path_re"].search(target):
                    continue
                if r["skip"] > 0:
                    r["skip"] -= 1
                    continue
                if r["count"] > 0:
                    r["count"] -= 1
                return dict(r)
        return None

    def pending(self):
        with self.lock:
            return sum(1 for r in self.rules if r["count"] != 0)


class Stats:
    """Counters served at GET /_stats:
      requests        {"METHOD Operation": n} for every non-control request (faulted ones too)
      responses       {"status": n}
      bytes_received  request body bytes read (non-control requests)
      uploads         [[operation, key, part]] for each upload stored successfully
                      (part = S3 partNumber, GCS resumable chunk start offset, else null)
      upload_attempts [[operation, key, part, status]] for every upload request answered
      faults_fired    number of fault rules that fired"""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        self.requests = {}
        self.responses = {}
        self.bytes_received = 0
        self.uploads = []
        self.upload_attempts = []
        self.faults_fired = 0

    def snapshot(self, extra=None):
        with self.lock:
            out = {
                "requests": dict(self.requests),
                "responses": dict(self.responses),
                "bytes_received": self.bytes_received,
                "uploads": [list(u) for u in self.uploads],
                "upload_attempts": [list(u) for u in self.upload_attempts],
                "faults_fired": self.faults_fired,
            }
        if extra:
            out.update(extra)
        return out


class Halt(Exception):
    """Raised by a handler after it has answered (or deliberately not answered)."""


class FakeHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler with body streaming, fault injection and stats. Subclasses
    implement classify() -> operation name, route(), and error_response(status, code, msg)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server_version = "FakeObjectStore/1.0"
    sys_version = ""

    # -- plumbing -----------------------------------------------------------------------------

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write(f"[{self.server.name}] {fmt % args}\n")

    def log_request(self, code="-", size="-"):
        # Only method, path (no query: it may hold upload ids or signatures) and status.
        path = self.path.split("?", 1)[0]
        self.log_message("%s %s %s", self.command, path[:200], code)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True

    def do_GET(self):
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _dispatch(self):
        self.body_state = "unread"  # unread | reading | done
        self.intercept = None
        self.response_status = None
        self.is_control = False
        raw_path, _, raw_query = self.path.partition("?")
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        if raw_path in ("/_fault", "/_fault/clear", "/_stats", "/_stats/clear"):
            self.is_control = True
            self._control(raw_path)
            return
        stats = self.server.stats
        try:
            op = self.classify()
        except Exception:
            op = "Unknown"
        self.op = op
        with stats.lock:
            k = f"{self.command} {op}"
            stats.requests[k] = stats.requests.get(k, 0) + 1
        try:
            fault = self.server.faults.match(self.command, self.path)
            if fault:
                with stats.lock:
                    stats.faults_fired += 1
                if fault["action"] == "delay":
                    time.sleep(fault["seconds"])
                elif fault["action"] == "drop" and not fault["apply"]:
                    self.drain_body()
                    self.close_connection = True
                    return
                elif fault["action"] == "status":
                    self.drain_body()
                    extra = []
                    if fault["retry_after"] is not None:
                        extra.append(("Retry-After", str(fault["retry_after"])))
                    self.error_response(fault["status"], fault["code"], "injected fault",
                                        extra_headers=extra)
                    return
                else:
                    self.intercept = "drop" if fault["action"] == "drop" else "truncate"
            self.route()
        except Halt:
            pass
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            if self.response_status is None:
                try:
                    self.error_response(500, None, "internal error in the fake (see its log)")
                except Exception:
                    self.close_connection = True
        if self.body_state != "done":
            # Answered without reading the body: the connection cannot be reused safely.
            self.close_connection = True

    def _control(self, path):
        body = self.read_body_bytes(1 << 20, count=False)
        try:
            if path == "/_fault" and self.command == "POST":
                self.server.faults.add(json.loads(body or b"{}"))
                out = {"ok": True, "pending": self.server.faults.pending()}
            elif path == "/_fault/clear" and self.command == "POST":
                self.server.faults.clear()
                out = {"ok": True}
            elif path == "/_stats" and self.command == "GET":
                out = self.server.stats.snapshot(self.server.extra_stats())
            elif path == "/_stats/clear" and self.command == "POST":
                with self.server.stats.lock:
                    self.server.stats.clear()
                out = {"ok": True}
            else:
                self.send_bytes(405, [("Content-Type", "application/json")],
                                b'{"error":"method not allowed"}', fault_ok=False)
                return
        except (ValueError, re.error, json.JSONDecodeError) as e:
            self.send_bytes(400, [("Content-Type", "application/json")],
                            json.dumps({"error": str(e)}).encode(), fault_ok=False)
            return
        self.send_bytes(200, [("Content-Type", "application/json")], json.dumps(out).encode(),
                        fault_ok=False)

    # -- request bodies -------------------------------------------------------------------------

    def content_length(self):
        v = self.headers.get("Content-Length")
        if v is None:
            return None
        v = v.strip()
        if not v.isdigit():
            raise ValueError("bad Content-Length")
        return int(v)

    def is_chunked(self):
        te = self.headers.get("Transfer-Encoding", "")
        return "chunked" in te.lower()

    def iter_body(self, count=True):
        """Yields the request body in pieces (Content-Length or chunked)."""
        if self.body_state != "unread":
            raise RuntimeError("body read twice")
        self.body_state = "reading"
        stats = self.server.stats
        if self.is_chunked():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionResetError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                left = size
                while left:
                    piece = self.rfile.read(min(left, COPY_CHUNK))
                    if not piece:
                        raise ConnectionResetError("eof in chunked body")
                    left -= len(piece)
                    if count:
                        with stats.lock:
                            stats.bytes_received += len(piece)
                    yield piece
                self.rfile.readline(8)
        else:
            left = self.content_length() or 0
            while left:
                piece = self.rfile.read(min(left, COPY_CHUNK))
                if not piece:
                    raise ConnectionResetError("eof in body")
                left -= len(piece)
                if count:
                    with stats.lock:
                        stats.bytes_received += len(piece)
                yield piece
        self.body_state = "done"

    def read_body_bytes(self, limit=MAX_BUFFERED_BODY, count=True):
        parts = []
        total = 0
        for piece in self.iter_body(count=count):
            total += len(piece)
            if total > limit:
                self.close_connection = True
                raise ValueError("request body too large for this operation")
            parts.append(piece)
        return b"".join(parts)

    def read_body_to_file(self, path, hashers):
        """Streams the body into path, feeding every hasher; returns the size."""
        size = 0
        with open(path, "wb") as f:
            for piece in self.iter_body():
                f.write(piece)
                for h in hashers:
                    h.update(piece)
                size += len(piece)
            f.flush()
            os.fsync(f.fileno())
        return size

    def drain_body(self):
        if self.body_state != "unread":
            return
        try:
            cl = self.content_length()
        except ValueError:
            self.close_connection = True
            return
        if cl is not None and cl > (1 << 30):
            self.close_connection = True
            return
        for _ in self.iter_body():
            pass

    def settle_body(self):
        """Before answering: an unread small body is read now so the connection stays usable;
        otherwise (chunked, large, half-read) the answer announces Connection: close."""
        if self.body_state == "done":
            return
        if self.body_state == "unread" and not self.is_chunked():
            try:
                cl = self.content_length()
            except ValueError:
                cl = -1
            if cl is not None and 0 <= cl <= (1 << 20):
                self.drain_body()
                return
            if cl is None:
                self.body_state = "done"  # no Content-Length, not chunked: no body
                return
        self.close_connection = True

    # -- responses ----------------------------------------------------------------------------

    def send_bytes(self, status, headers, body, fault_ok=True, reason=None):
        self._send(status, headers, len(body), lambda w: w(body), fault_ok, reason)

    def send_file_range(self, status, headers, path_or_file, offset, length):
        f = path_or_file if hasattr(path_or_file, "read") else open(path_or_file, "rb")

        def writer(w):
            with f:
                f.seek(offset)
                left = length
                while left:
                    piece = f.read(min(left, COPY_CHUNK))
                    if not piece:
                        raise IOError("object data shorter than its metadata says")
                    w(piece)
                    left -= len(piece)

        self._send(status, headers, length, writer, True)

    def _send(self, status, headers, length, writer, fault_ok, reason=None):
        self.response_status = status
        if not self.is_control:
            with self.server.stats.lock:
                k = str(status)
                self.server.stats.responses[k] = self.server.stats.responses.get(k, 0) + 1
        intercept = self.intercept if fault_ok else None
        if intercept == "drop":
            self.close_connection = True
            if self.body_state != "done":
                self.drain_body()
            raise Halt()
        self.settle_body()
        self.send_response(status, reason)
        have_len = False
        for k, v in headers:
            if k.lower() == "content-length":
                have_len = True
            self.send_header(k, v)
        if not have_len:
            self.send_header("Content-Length", str(length))
        if self.close_connection or intercept == "truncate":
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD" or status in (204, 304) or length == 0:
            if intercept == "truncate":
                self.close_connection = True
            return
        if intercept == "truncate":
            budget = [length // 2]

            def w(data):
                if budget[0] <= 0:
                    raise Halt()
                take = data[: budget[0]]
                budget[0] -= len(take)
                self.wfile.write(take)

            self.close_connection = True
            try:
                writer(w)
            except Halt:
                pass
            self.wfile.flush()
            raise Halt()
        writer(self.wfile.write)


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, name, quiet):
        super().__init__(addr, handler)
        self.name = name
        self.quiet = quiet
        self.faults = Faults()
        self.stats = Stats()

    def extra_stats(self):
        return {}


def serve(server, port_file):
    """Writes the port file, serves until SIGTERM/SIGINT, then exits 0."""

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    write_port_file(port_file, server.server_address[1])
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()


def http_date(ts):
    return formatdate(ts, usegmt=True)


def parse_http_date(s):
    try:
        return calendar.timegm(parsedate_to_datetime(s).utctimetuple())
    except (TypeError, ValueError, IndexError):
        return None


def parse_range(header, size):
    """Parses a single 'bytes=' range. Returns None (no/ignored range), (start, end) inclusive,
    or "unsatisfiable"."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m:
        return None  # multi-range or malformed: ignored, whole object served (as S3/GCS do)
    a, b = m.group(1), m.group(2)
    if a == "" and b == "":
        return None
    if a == "":
        n = int(b)
        if n == 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1) if size else "unsatisfiable"
    start = int(a)
    end = int(b) if b else size - 1
    if b and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return (start, min(end, size - 1))


# ---------------------------------------------------------------------------------------------
# SigV4 (AWS Signature Version 4, Authorization-header form)
# ---------------------------------------------------------------------------------------------

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def aws_uri_encode(data, keep_slash):
    """AWS UriEncode: every byte but A-Za-z0-9-_.~ (and '/' when keep_slash) becomes %XX."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    out = []
    for b in data:
        if b in UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def canonical_uri(raw_path):
    """S3 canonical URI: the path as the client sent it, each segment URI-encoded exactly once
    (S3 paths are not normalized: '//' and '..' stay). A correctly encoded path maps to
    itself; a path with bytes the client failed to encode (or encoded in lowercase hex, or
    encoded when it should not have) maps to something else, as it does on AWS."""
    if raw_path == "":
        return "/"
    segs = raw_path.split("/")
    return "/".join(aws_uri_encode(urllib.parse.unquote_to_bytes(s), False) for s in segs)


def canonical_query(raw_query):
    pairs = []
    for item in raw_query.split("&"):
        if item == "":
            continue
        k, _, v = item.partition("=")
        pairs.append((aws_uri_encode(urllib.parse.unquote_to_bytes(k), False),
                      aws_uri_encode(urllib.parse.unquote_to_bytes(v), False)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_header_value(values):
    return ",".join(" ".join(v.split()) for v in values)


def sigv4_signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def sigv4_compute(method, raw_path, raw_query, header_values, signed_headers, payload_hash,
                  amz_date, scope, secret, canonical_path=None):
    """Returns (signature, canonical_request, string_to_sign). header_values maps a lowercase
    header name to the list of its values in arrival order; scope is
    'YYYYMMDD/region/service/aws4_request'."""
    lines = [f"{h}:{canonical_header_value(header_values.get(h, []))}" for h in signed_headers]
    creq = "\n".join([
        method,
        canonical_path if canonical_path is not None else canonical_uri(raw_path),
        canonical_query(raw_query),
        "\n".join(lines) + "\n",
        ";".join(signed_headers),
        payload_hash,
    ])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    key = sigv4_signing_key(secret, date, region, service)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    return sig, creq, sts


AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256\s+(.*)$", re.S)


def parse_sigv4_authorization(value):
    m = AUTH_RE.match(value.strip())
    if not m:
        return None
    fields = {}
    for part in m.group(1).split(","):
        k, sep, v = part.strip().partition("=")
        if not sep or k in fields:
            return None
        fields[k] = v
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        return None
    return fields


# ---------------------------------------------------------------------------------------------
# S3
# ---------------------------------------------------------------------------------------------

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_SKEW = 15 * 60

S3_MESSAGES = {
    "AccessDenied": "Access Denied",
    "AuthorizationHeaderMalformed": "The authorization header is malformed.",
    "BadDigest": "The Content-MD5 you specified did not match what we received.",
    "EntityTooSmall": "Your proposed upload is smaller than the minimum allowed object size.",
    "InternalError": "We encountered an internal error. Please try again.",
    "InvalidAccessKeyId": "The AWS Access Key Id you provided does not exist in our records.",
    "InvalidArgument": "Invalid Argument",
    "InvalidDigest": "The Content-MD5 you specified is not valid.",
    "InvalidPart": ("One or more of the specified parts could not be found. The part may not "
                    "have been uploaded, or the specified entity tag may not match the part's "
                    "entity tag."),
    "InvalidPartOrder": ("The list of parts was not in ascending order. The parts list must be "
                         "specified in order by part number."),
    "InvalidRange": "The requested range is not satisfiable",
    "InvalidRequest": "Invalid Request",
    "InvalidToken": "The provided token is malformed or otherwise invalid.",
    "KeyTooLongError": "Your key is too long",
    "MalformedXML": ("The XML you provided was not well-formed or did not validate against our "
                     "published schema"),
    "MetadataTooLarge": "Your metadata headers exceed the maximum allowed metadata size.",
    "MethodNotAllowed": "The specified method is not allowed against this resource.",
    "MissingContentLength": "You must provide the Content-Length HTTP header.",
    "NoSuchBucket": "The specified bucket does not exist",
    "NoSuchKey": "The specified key does not exist.",
    "NoSuchUpload": ("The specified upload does not exist. The upload ID may be invalid, or the "
                     "upload may have been aborted or completed."),
    "NotImplemented": "A header or query you provided implies functionality that is not "
                      "implemented (by this fake).",
    "PreconditionFailed": "At least one of the pre-conditions you specified did not hold",
    "RequestTimeTooSkewed": ("The difference between the request time and the current time is "
                             "too large."),
    "ServiceUnavailable": "Please reduce your request rate.",
    "SignatureDoesNotMatch": ("The request signature we calculated does not match the signature "
                              "you provided. Check your key and signing method."),
    "SlowDown": "Please reduce your request rate.",
    "XAmzContentSHA256Mismatch": ("The provided 'x-amz-content-sha256' header does not match "
                                  "what was computed."),
}

STATUS_CODES = {400: "InvalidRequest", 403: "AccessDenied", 404: "NoSuchKey",
                405: "MethodNotAllowed", 409: "OperationAborted", 412: "PreconditionFailed",
                500: "InternalError", 501: "NotImplemented", 503: "SlowDown"}

STORED_HEADERS = ("content-type", "content-encoding", "content-disposition", "content-language",
                  "cache-control", "expires")


class S3Error(Exception):
    def __init__(self, status, code, message=None, **extra):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or S3_MESSAGES.get(code, code)
        self.extra = extra


def iso_ms(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000Z"


def quoted(etag):
    return f'"{etag}"'


def unquote_etag(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def etag_matches(header, etag):
    for cand in header.split(","):
        c = cand.strip()
        if c == "*" or unquote_etag(c) == etag:
            return True
    return False


class S3Store:
    """Buckets under ROOT/s3/<bucket>/: objects/<sha256(key)>.json sidecars pointing at
    objects/<sha256(key)>.<uuid>.data; uploads/<uploadId>/ for multipart; tmp/ for in-flight
    writes. Metadata is also indexed in memory; data is only ever read from disk."""

    def __init__(self, root, buckets, sub="s3"):
        self.root = os.path.join(root, sub)
        self.lock = threading.RLock()
        self.index = {}
        self.uploads = {}
        for b in buckets:
            self._open_bucket(b)

    def bdir(self, bucket, *sub):
        return os.path.join(self.root, bucket, *sub)

    def _open_bucket(self, bucket):
        for sub in ("objects", "uploads", "tmp"):
            os.makedirs(self.bdir(bucket, sub), exist_ok=True)
        for name in os.listdir(self.bdir(bucket, "tmp")):
            os.unlink(self.bdir(bucket, "tmp", name))
        objs = {}
        referenced = set()
        odir = self.bdir(bucket, "objects")
        for name in os.listdir(odir):
            if name.endswith(".json"):
                with open(os.path.join(odir, name)) as f:
                    meta = json.load(f)
                objs[meta["key"]] = meta
                referenced.add(meta["data"])
        for name in os.listdir(odir):
            if name.endswith(".tmp") or (name.endswith(".data") and name not in referenced):
                os.unlink(os.path.join(odir, name))
        self.index[bucket] = objs
        ups = {}
        udir = self.bdir(bucket, "uploads")
        for uid in os.listdir(udir):
            p = os.path.join(udir, uid, "upload.json")
            if os.path.exists(p):
                with open(p) as f:
                    ups[uid] = json.load(f)
        self.uploads[bucket] = ups

    def has_bucket(self, bucket):
        return bucket in self.index

    def tmp_path(self, bucket):
        return self.bdir(bucket, "tmp", uuid.uuid4().hex)

    @staticmethod
    def key_id(key):
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    def commit(self, bucket, key, tmp_data, meta):
        """Moves tmp_data into place and publishes meta (sidecar rename is the commit)."""
        kid = self.key_id(key)
        data_name = f"{kid}.{uuid.uuid4().hex}.data"
        odir = self.bdir(bucket, "objects")
        os.replace(tmp_data, os.path.join(odir, data_name))
        meta = dict(meta, key=key, data=data_name)
        with self.lock:
            old = self.index[bucket].get(key)
            atomic_write_json(os.path.join(odir, kid + ".json"), meta)
            self.index[bucket][key] = meta
            if old:
                try:
                    os.unlink(os.path.join(odir, old["data"]))
                except FileNotFoundError:
                    pass
        return meta

    def get(self, bucket, key):
        with self.lock:
            return self.index[bucket].get(key)

    def open_data(self, bucket, key):
        """Returns (meta, open file) consistently, or (None, None)."""
        with self.lock:
            meta = self.index[bucket].get(key)
            if not meta:
                return None, None
            return meta, open(self.bdir(bucket, "objects", meta["data"]), "rb")

    def delete(self, bucket, key):
        with self.lock:
            meta = self.index[bucket].pop(key, None)
            if not meta:
                return False
            odir = self.bdir(bucket, "objects")
            os.unlink(os.path.join(odir, self.key_id(key) + ".json"))
            try:
                os.unlink(os.path.join(odir, meta["data"]))
            except FileNotFoundError:
                pass
            return True

    def update_meta(self, bucket, key, fn):
        """Rewrites the sidecar of an existing object with fn(meta) -> new meta (data kept)."""
        with self.lock:
            meta = self.index[bucket].get(key)
            if not meta:
                return None
            new = fn(json.loads(json.dumps(meta)))
            new["key"], new["data"] = key, meta["data"]
            sidecar = os.path.join(self.bdir(bucket, "objects"), self.key_id(key) + ".json")
            atomic_write_json(sidecar, new)
            self.index[bucket][key] = new
            return new

    def keys(self, bucket):
        with self.lock:
            return sorted(self.index[bucket].items(),
                          key=lambda kv: kv[0].encode("utf-8", "surrogatepass"))

    # multipart
    def udir(self, bucket, uid):
        return self.bdir(bucket, "uploads", uid)

    def create_upload(self, bucket, key, meta):
        uid = secrets.token_urlsafe(24)
        os.makedirs(self.udir(bucket, uid))
        up = dict(meta, key=key, upload_id=uid, initiated=time.time(), parts={})
        with self.lock:
            atomic_write_json(os.path.join(self.udir(bucket, uid), "upload.json"), up)
            self.uploads[bucket][uid] = up
        return up

    def get_upload(self, bucket, uid):
        with self.lock:
            up = self.uploads[bucket].get(uid)
            return json.loads(json.dumps(up)) if up else None

    def put_part(self, bucket, uid, number, tmp_data, part):
        with self.lock:
            up = self.uploads[bucket].get(uid)
            if not up:
                os.unlink(tmp_data)
                return False
            name = f"part-{number:05d}.{uuid.uuid4().hex}.data"
            os.replace(tmp_data, os.path.join(self.udir(bucket, uid), name))
            old = up["parts"].get(str(number))
            up["parts"][str(number)] = dict(part, data=name)
            atomic_write_json(os.path.join(self.udir(bucket, uid), "upload.json"), up)
            if old:
                try:
                    os.unlink(os.path.join(self.udir(bucket, uid), old["data"]))
                except FileNotFoundError:
                    pass
        return True

    def drop_upload(self, bucket, uid):
        with self.lock:
            up = self.uploads[bucket].pop(uid, None)
            if not up:
                return False
            d = self.udir(bucket, uid)
            for name in os.listdir(d):
                os.unlink(os.path.join(d, name))
            os.rmdir(d)
            return True


class S3Handler(FakeHandler):

    # -- classification (for stats, before anything else) ---------------------------------------

    def split_target(self):
        p = self.raw_path
        if not p.startswith("/"):
            raise S3Error(400, "InvalidRequest", "request target must be a path")
        rest = p[1:]
        bucket_raw, slash, key_raw = rest.partition("/")
        bucket = urllib.parse.unquote(bucket_raw)
        key = urllib.parse.unquote(key_raw, errors="surrogateescape") if slash else ""
        return bucket, key, bool(slash and key_raw)

    def classify(self):
        bucket, key, has_key = self.split_target()
        q = self.query
        m = self.command
        if not bucket:
            return "ListBuckets"
        if not has_key:
            if m == "GET" and "uploads" in q:
                return "ListMultipartUploads"
            if m == "GET" and "location" in q:
                return "GetBucketLocation"
            if m == "GET" and q.get("list-type") == ["2"]:
                return "ListObjectsV2"
            if m == "GET" and not q:
                return "ListObjects"
            if m == "HEAD":
                return "HeadBucket"
            if m == "POST" and "delete" in q:
                return "DeleteObjects"
            return "BucketUnsupported"
        # Query keys that do not name a subresource (SDKs add x-id; GET takes response-*).
        plain = {k for k in q if k not in ("x-id", "versionId") and not k.startswith("response-")}
        if m == "PUT":
            if "partNumber" in q or "uploadId" in q:
                return "UploadPartCopy" if "x-amz-copy-source" in self.headers else "UploadPart"
            if plain:
                return "ObjectUnsupported"
            return "CopyObject" if "x-amz-copy-source" in self.headers else "PutObject"
        if m == "GET":
            if "uploadId" in q:
                return "ListParts"
            return "GetObject" if plain <= {"partNumber"} else "ObjectUnsupported"
        if m == "HEAD":
            return "HeadObject" if plain <= {"partNumber"} else "ObjectUnsupported"
        if m == "DELETE":
            if "uploadId" in q:
                return "AbortMultipartUpload"
            return "DeleteObject" if not plain else "ObjectUnsupported"
        if m == "POST":
            if "uploads" in q:
                return "CreateMultipartUpload"
            if "uploadId" in q:
                return "CompleteMultipartUpload"
        return "ObjectUnsupported"

    # -- errors -------------------------------------------------------------------------------

    def error_response(self, status, code, message, extra_headers=(), **extra):
        code = code or STATUS_CODES.get(status, "InternalError")
        message = message if message and message != "injected fault" else \
            S3_MESSAGES.get(code, message or code)
        rid = uuid.uuid4().hex[:16].upper()
        parts = [f"<Code>{xml_escape(code)}</Code>", f"<Message>{xml_escape(message)}</Message>"]
        for k, v in extra.items():
            parts.append(f"<{k}>{xml_escape(str(v))}</{k}>")
        parts.append(f"<Resource>{xml_escape(self.raw_path)}</Resource>")
        parts.append(f"<RequestId>{rid}</RequestId>")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) +
                "</Error>").encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid)]
        headers.extend(extra_headers)
        if self.command == "HEAD":
            self._send(status, headers, 0, lambda w: None, True)
        else:
            self.send_bytes(status, headers, body)

    def xml_response(self, status, root_name, inner, headers=()):
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root_name} xmlns="{S3_NS}">{inner}'
                f"</{root_name}>").encode()
        h = [("Content-Type", "application/xml"), ("x-amz-request-id", uuid.uuid4().hex[:16])]
        h.extend(headers)
        self.send_bytes(status, h, body)

    def empty_response(self, status, headers=()):
        h = [("x-amz-request-id", uuid.uuid4().hex[:16])]
        h.extend(headers)
        self.send_bytes(status, h, b"")

    # -- auth ---------------------------------------------------------------------------------

    def header_values(self):
        vals = {}
        for k, v in self.headers.items():
            vals.setdefault(k.lower(), []).append(v)
        return vals

    def authenticate(self):
        """Verifies SigV4. Returns the declared payload hash (hex or 'UNSIGNED-PAYLOAD')."""
        srv = self.server
        auth = self.headers.get("Authorization")
        if auth is None:
            if any(k.startswith("X-Amz-") for k in self.query):
                raise S3Error(501, "NotImplemented", "presigned (query) SigV4 is not implemented "
                              "by this fake")
            raise S3Error(403, "AccessDenied", "Access Denied (no Authorization header)")
        if auth.startswith("AWS "):
            raise S3Error(400, "InvalidRequest", "The authorization mechanism you have provided "
                          "is not supported. Please use AWS4-HMAC-SHA256.")
        fields = parse_sigv4_authorization(auth)
        if not fields:
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                          "malformed; it must be 'AWS4-HMAC-SHA256 Credential=..., "
                          "SignedHeaders=..., Signature=...'.")
        cred = fields["Credential"].split("/")
        if len(cred) != 5:
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                          "malformed; the Credential is mal-formed; expecting "
                          "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
        ak, cdate, region, service, term = cred
        if ak != srv.access_key:
            raise S3Error(403, "InvalidAccessKeyId", AWSAccessKeyId=ak)
        amz_date = self.headers.get("x-amz-date")
        if amz_date is not None:
            try:
                ts = calendar.timegm(time.strptime(amz_date.strip(), "%Y%m%dT%H%M%SZ"))
            except ValueError:
                raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or "
                              "x-amz-date header")
            amz_date = amz_date.strip()
        elif self.headers.get("Date"):
            ts = parse_http_date(self.headers["Date"])
            if ts is None:
                raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or "
                              "x-amz-date header")
            amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))
        else:
            raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or "
                          "x-amz-date header")
        now = time.time()
        if abs(now - ts) > MAX_SKEW:
            raise S3Error(403, "RequestTimeTooSkewed", RequestTime=amz_date,
                          ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                          MaxAllowedSkewMilliseconds=MAX_SKEW * 1000)
        if cdate != amz_date[:8]:
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                          "malformed; Invalid credential date. Date is not the same as "
                          "X-Amz-Date.")
        if region != srv.region:
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                          f"malformed; the region '{region}' is wrong; expecting "
                          f"'{srv.region}'", Region=srv.region)
        if service != "s3" or term != "aws4_request":
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                          "malformed; incorrect service or terminator in the credential scope.")
        signed = fields["SignedHeaders"].split(";")
        if signed != sorted(set(signed)) or any(h != h.lower() or not h for h in signed):
            raise S3Error(403, "SignatureDoesNotMatch", "SignedHeaders must be lowercase, "
                          "unique and sorted")
        hv = self.header_values()
        if "host" not in signed:
            raise S3Error(403, "SignatureDoesNotMatch", "the host header must be signed")
        for h in signed:
            if h not in hv:
                raise S3Error(403, "SignatureDoesNotMatch", f"signed header '{h}' is not in "
                              "the request")
        payload = self.headers.get("x-amz-content-sha256")
        if payload is None:
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: "
                          "x-amz-content-sha256")
        payload = payload.strip()
        if payload.startswith("STREAMING-"):
            raise S3Error(501, "NotImplemented", "aws-chunked (STREAMING-*) payloads are not "
                          "implemented by this fake")
        if payload != "UNSIGNED-PAYLOAD" and not re.fullmatch(r"[0-9a-f]{64}", payload):
            raise S3Error(400, "InvalidArgument", "x-amz-content-sha256 must be "
                          "UNSIGNED-PAYLOAD, STREAMING-... or a lowercase hex SHA-256",
                          ArgumentName="x-amz-content-sha256")
        scope = f"{cdate}/{region}/{service}/{term}"
        sig, creq, sts = sigv4_compute(self.command, self.raw_path, self.raw_query, hv, signed,
                                       payload, amz_date, scope, srv.secret_key)
        if not hmac.compare_digest(sig, fields["Signature"]):
            raise S3Error(403, "SignatureDoesNotMatch", AWSAccessKeyId=ak, StringToSign=sts,
                          SignatureProvided=fields["Signature"], CanonicalRequest=creq)
        unsigned = sorted(h for h in hv if h.startswith("x-amz-") and h not in signed)
        if unsigned:
            raise S3Error(403, "AccessDenied", "There were headers present in the request which "
                          "were not signed", HeadersNotSigned=", ".join(unsigned))
        if srv.session_token is not None:
            tok = self.headers.get("x-amz-security-token")
            if tok is None or tok != srv.session_token:
                raise S3Error(403, "InvalidToken")
        return payload

    # -- routing ------------------------------------------------------------------------------

    def route(self):
        try:
            self._route()
        except S3Error as e:
            if self.response_status is not None:
                raise
            if e.status == 411:
                self.close_connection = True  # answer at once; the body is never read
            else:
                self.drain_body()
            self.error_response(e.status, e.code, e.message, **e.extra)

    def _route(self):
        self.payload_hash = self.authenticate()
        op = self.op
        bucket, key, _ = self.split_target()
        if op == "ListBuckets":
            return self.list_buckets()
        if not self.server.store.has_bucket(bucket):
            raise S3Error(404, "NoSuchBucket", BucketName=bucket)
        if len(key.encode("utf-8", "surrogateescape")) > 1024:
            raise S3Error(400, "KeyTooLongError", Size=len(key.encode("utf-8", "surrogateescape")),
                          MaxSizeAllowed=1024)
        streaming = op in ("PutObject", "UploadPart")
        if not streaming:
            body = self.read_body_bytes()
            self.check_payload_hash(hashlib.sha256(body).hexdigest())
            self.body = body
        handler = {
            "ListObjectsV2": self.list_objects_v2,
            "ListMultipartUploads": self.list_multipart_uploads,
            "GetBucketLocation": self.get_bucket_location,
            "HeadBucket": lambda b, k: self.empty_response(200),
            "DeleteObjects": self.delete_objects,
            "PutObject": self.put_object,
            "UploadPart": self.upload_part,
            "CopyObject": self.copy_object,
            "GetObject": self.get_object,
            "HeadObject": self.get_object,
            "DeleteObject": self.delete_object,
            "CreateMultipartUpload": self.create_multipart_upload,
            "ListParts": self.list_parts,
            "CompleteMultipartUpload": self.complete_multipart_upload,
            "AbortMultipartUpload": self.abort_multipart_upload,
        }.get(op)
        if handler is None:
            if op == "ListObjects":
                raise S3Error(501, "NotImplemented", "ListObjects (v1) is not implemented by this "
                              "fake; use list-type=2")
            raise S3Error(501, "NotImplemented")
        handler(bucket, key)

    def check_payload_hash(self, computed):
        if self.payload_hash != "UNSIGNED-PAYLOAD" and computed != self.payload_hash:
            raise S3Error(400, "XAmzContentSHA256Mismatch",
                          ClientComputedContentSHA256=self.payload_hash,
                          S3ComputedContentSHA256=computed)

    def record_upload(self, op, key, part, status):
        st = self.server.stats
        with st.lock:
            st.upload_attempts.append((op, key, part, status))
            if status < 300:
                st.uploads.append((op, key, part))

    # -- helpers ------------------------------------------------------------------------------

    def user_meta(self):
        meta = {}
        size = 0
        for k, v in self.headers.items():
            lk = k.lower()
            if lk.startswith("x-amz-meta-"):
                name = lk[len("x-amz-meta-"):]
                meta[name] = v if name not in meta else meta[name] + "," + v
        for k, v in meta.items():
            size += len(k.encode()) + len(v.encode("utf-8", "surrogateescape"))
        if size > 2048:
            raise S3Error(400, "MetadataTooLarge", Size=size, MaxSizeAllowed=2048)
        return meta

    def stored_headers(self):
        out = {}
        for h in STORED_HEADERS:
            v = self.headers.get(h)
            if v is not None:
                out[h] = v
        return out

    def receive_body(self, bucket):
        """Streams the body to a tmp file, verifying Content-Length presence, the payload hash,
        Content-MD5 and any x-amz-checksum-* header. Returns (tmp path, size, md5 hex)."""
        if self.is_chunked() or self.headers.get("Content-Length") is None:
            raise S3Error(411, "MissingContentLength")
        cmd5 = self.headers.get("Content-MD5")
        want_md5 = None
        if cmd5 is not None:
            try:
                want_md5 = base64.b64decode(cmd5.strip(), validate=True)
            except ValueError:
                want_md5 = b""
            if len(want_md5) != 16:
                raise S3Error(400, "InvalidDigest", ContentMD5=cmd5)
        checks = []
        for hdr, algo, factory in (("x-amz-checksum-crc32c", "CRC32C", Crc32cHash),
                                   ("x-amz-checksum-crc32", "CRC32", Crc32Hash),
                                   ("x-amz-checksum-sha1", "SHA1", hashlib.sha1),
                                   ("x-amz-checksum-sha256", "SHA256", hashlib.sha256)):
            v = self.headers.get(hdr)
            if v is not None:
                checks.append((hdr, algo, v.strip(), factory()))
        md5 = hashlib.md5()
        sha = hashlib.sha256()
        tmp = self.server.store.tmp_path(bucket)
        try:
            size = self.read_body_to_file(tmp, [md5, sha] + [c[3] for c in checks])
            self.check_payload_hash(sha.hexdigest())
            if want_md5 is not None and md5.digest() != want_md5:
                raise S3Error(400, "BadDigest", ExpectedDigest=cmd5,
                              CalculatedDigest=base64.b64encode(md5.digest()).decode())
            for hdr, algo, v, h in checks:
                if base64.b64encode(h.digest()).decode() != v:
                    raise S3Error(400, "BadDigest", f"The {algo} you specified did not match the "
                                  "calculated checksum.")
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.echo_checksums = [(c[0], c[2]) for c in checks]
        return tmp, size, md5.hexdigest()

    def check_put_conditions(self, bucket, key):
        cur = self.server.store.get(bucket, key)
        inm = self.headers.get("If-None-Match")
        if inm is not None and inm.strip() == "*" and cur:
            raise S3Error(412, "PreconditionFailed", Condition="If-None-Match")
        im = self.headers.get("If-Match")
        if im is not None:
            if not cur:
                raise S3Error(404, "NoSuchKey", Key=key)
            if not etag_matches(im, cur["etag"]):
                raise S3Error(412, "PreconditionFailed", Condition="If-Match")

    # -- objects ------------------------------------------------------------------------------

    def put_object(self, bucket, key):
        status = 500
        try:
            meta = self.user_meta()
            self.check_put_conditions(bucket, key)
            tmp, size, md5 = self.receive_body(bucket)
            self.check_put_conditions(bucket, key)
            m = self.server.store.commit(bucket, key, tmp, {
                "size": size, "etag": md5, "last_modified": int(time.time()), "meta": meta,
                "headers": self.stored_headers(), "parts": None})
            status = 200
            self.empty_response(200, [("ETag", quoted(m["etag"]))] + self.echo_checksums)
        except S3Error as e:
            status = e.status
            raise
        finally:
            self.record_upload("PutObject", key, None, status)

    def object_headers(self, meta):
        h = [("ETag", quoted(meta["etag"])), ("Last-Modified", http_date(meta["last_modified"])),
             ("Accept-Ranges", "bytes")]
        stored = meta.get("headers", {})
        h.append(("Content-Type", stored.get("content-type", "binary/octet-stream")))
        for k in STORED_HEADERS[1:]:
            if k in stored:
                h.append((k.title(), stored[k]))
        for k, v in sorted(meta["meta"].items()):
            h.append((f"x-amz-meta-{k}", v))
        if meta.get("parts"):
            pass  # x-amz-mp-parts-count is only sent for ?partNumber requests
        return h

    def check_get_conditions(self, meta):
        im = self.headers.get("If-Match")
        if im is not None and not etag_matches(im, meta["etag"]):
            raise S3Error(412, "PreconditionFailed", Condition="If-Match")
        ius = self.headers.get("If-Unmodified-Since")
        if im is None and ius is not None:
            t = parse_http_date(ius)
            if t is not None and meta["last_modified"] > t:
                raise S3Error(412, "PreconditionFailed", Condition="If-Unmodified-Since")
        inm = self.headers.get("If-None-Match")
        if inm is not None and etag_matches(inm, meta["etag"]):
            return 304
        ims = self.headers.get("If-Modified-Since")
        if inm is None and ims is not None:
            t = parse_http_date(ims)
            if t is not None and meta["last_modified"] <= t:
                return 304
        return None

    def get_object(self, bucket, key):
        if "partNumber" in self.query:
            raise S3Error(501, "NotImplemented", "GetObject ?partNumber is not implemented by "
                          "this fake")
        meta, f = self.server.store.open_data(bucket, key)
        if not meta:
            raise S3Error(404, "NoSuchKey", Key=key)
        try:
            headers = self.object_headers(meta)
            cond = self.check_get_conditions(meta)
            if cond == 304:
                f.close()
                self.send_bytes(304, [h for h in headers if h[0] in ("ETag", "Last-Modified")],
                                b"")
                return
            size = meta["size"]
            rng = parse_range(self.headers.get("Range"), size)
            if rng == "unsatisfiable":
                f.close()
                raise S3Error(416, "InvalidRange", ActualObjectSize=size,
                              RangeRequested=self.headers.get("Range"))
            if rng is None:
                self.send_file_range(200, headers, f, 0, size)
            else:
                a, b = rng
                headers.append(("Content-Range", f"bytes {a}-{b}/{size}"))
                self.send_file_range(206, headers, f, a, b - a + 1)
        finally:
            f.close()

    def delete_object(self, bucket, key):
        self.server.store.delete(bucket, key)
        self.empty_response(204)

    def copy_object(self, bucket, key):
        src = self.headers["x-amz-copy-source"]
        src_path = src.split("?", 1)[0]
        src_path = urllib.parse.unquote(src_path)
        if src_path.startswith("/"):
            src_path = src_path[1:]
        sbucket, _, skey = src_path.partition("/")
        if not sbucket or not skey:
            raise S3Error(400, "InvalidArgument", "Copy Source must mention the source bucket "
                          "and key: sourcebucket/sourcekey", ArgumentName="x-amz-copy-source")
        store = self.server.store
        if not store.has_bucket(sbucket):
            raise S3Error(404, "NoSuchBucket", BucketName=sbucket)
        directive = self.headers.get("x-amz-metadata-directive", "COPY").strip()
        if directive not in ("COPY", "REPLACE"):
            raise S3Error(400, "InvalidArgument", "Unknown metadata directive.",
                          ArgumentName="x-amz-metadata-directive")
        smeta, f = store.open_data(sbucket, skey)
        if not smeta:
            raise S3Error(404, "NoSuchKey", Key=skey)
        with f:
            im = self.headers.get("x-amz-copy-source-if-match")
            if im is not None and not etag_matches(im, smeta["etag"]):
                raise S3Error(412, "PreconditionFailed", Condition="x-amz-copy-source-If-Match")
            inm = self.headers.get("x-amz-copy-source-if-none-match")
            if inm is not None and etag_matches(inm, smeta["etag"]):
                raise S3Error(412, "PreconditionFailed",
                              Condition="x-amz-copy-source-If-None-Match")
            if (sbucket, skey) == (bucket, key) and directive == "COPY" and \
                    not self.headers.get("x-amz-storage-class"):
                raise S3Error(400, "InvalidRequest", "This copy request is illegal because it is "
                              "trying to copy an object to itself without changing the object's "
                              "metadata, storage class, website redirect location or encryption "
                              "attributes.")
            if directive == "REPLACE":
                meta, headers = self.user_meta(), self.stored_headers()
            else:
                meta, headers = smeta["meta"], smeta.get("headers", {})
            tmp = store.tmp_path(bucket)
            md5 = hashlib.md5()
            with open(tmp, "wb") as out:
                while True:
                    piece = f.read(COPY_CHUNK)
                    if not piece:
                        break
                    md5.update(piece)
                    out.write(piece)
        now = int(time.time())
        m = store.commit(bucket, key, tmp, {"size": smeta["size"], "etag": md5.hexdigest(),
                                            "last_modified": now, "meta": meta,
                                            "headers": headers, "parts": None})
        self.xml_response(200, "CopyObjectResult",
                          f"<LastModified>{iso_ms(now)}</LastModified>"
                          f"<ETag>{xml_escape(quoted(m['etag']))}</ETag>")

    # -- listing ------------------------------------------------------------------------------

    def int_param(self, name, default, lo=0, hi=None):
        v = self.query.get(name, [None])[0]
        if v is None or v == "":
            return default
        if not re.fullmatch(r"\d+", v):
            raise S3Error(400, "InvalidArgument", f"Provided {name} not an integer or within "
                          "integer range", ArgumentName=name, ArgumentValue=v)
        n = int(v)
        if n < lo:
            raise S3Error(400, "InvalidArgument", f"{name} out of range", ArgumentName=name)
        return min(n, hi) if hi is not None else n

    def list_buckets(self):
        items = "".join(f"<Bucket><Name>{xml_escape(b)}</Name><CreationDate>{iso_ms(0)}"
                        "</CreationDate></Bucket>" for b in sorted(self.server.store.index))
        self.xml_response(200, "ListAllMyBucketsResult",
                          "<Owner><ID>fake</ID><DisplayName>fake</DisplayName></Owner>"
                          f"<Buckets>{items}</Buckets>")

    def get_bucket_location(self, bucket, key):
        region = "" if self.server.region == "us-east-1" else self.server.region
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="{S3_NS}">'
                f"{xml_escape(region)}</LocationConstraint>").encode()
        self.send_bytes(200, [("Content-Type", "application/xml")], body)

    def list_objects_v2(self, bucket, key):
        q = self.query
        prefix = q.get("prefix", [""])[0]
        delim = q.get("delimiter", [""])[0]
        max_keys = self.int_param("max-keys", 1000, hi=1000)
        enc = q.get("encoding-type", [None])[0]
        if enc not in (None, "url"):
            raise S3Error(400, "InvalidArgument", "Invalid Encoding Method specified in Request",
                          ArgumentName="encoding-type")
        start_after = q.get("start-after", [""])[0]
        token = q.get("continuation-token", [None])[0]
        marker, marker_is_prefix = start_after, False
        if token is not None:
            try:
                t = json.loads(base64.urlsafe_b64decode(token.encode()))
                marker, marker_is_prefix = t["k"], bool(t["p"])
            except (ValueError, KeyError, TypeError):
                raise S3Error(400, "InvalidArgument", "The continuation token provided is "
                              "incorrect", ArgumentName="continuation-token")
        if marker and start_after and not marker_is_prefix and start_after > marker:
            marker = start_after

        def e(s):
            return urllib.parse.quote_plus(s, safe="/") if enc == "url" else s

        contents, prefixes = [], []
        last, last_is_prefix = None, False
        truncated = False
        for k, meta in self.server.store.keys(bucket):
            if not k.startswith(prefix):
                continue
            if marker:
                if marker_is_prefix and k.startswith(marker):
                    continue
                if k <= marker:
                    continue
            cp = None
            if delim:
                i = k.find(delim, len(prefix))
                if i >= 0:
                    cp = k[: i + len(delim)]
            if cp is not None and prefixes and prefixes[-1] == cp:
                continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if cp is not None:
                prefixes.append(cp)
                last, last_is_prefix = cp, True
                marker, marker_is_prefix = cp, True
            else:
                contents.append((k, meta))
                last, last_is_prefix = k, False
        if max_keys == 0:
            truncated = False
        out = [f"<Name>{xml_escape(bucket)}</Name>", f"<Prefix>{xml_escape(e(prefix))}</Prefix>"]
        if delim:
            out.append(f"<Delimiter>{xml_escape(e(delim))}</Delimiter>")
        out.append(f"<MaxKeys>{max_keys}</MaxKeys>")
        if enc:
            out.append("<EncodingType>url</EncodingType>")
        out.append(f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>")
        if token is not None:
            out.append(f"<ContinuationToken>{xml_escape(token)}</ContinuationToken>")
        if start_after:
            out.append(f"<StartAfter>{xml_escape(e(start_after))}</StartAfter>")
        out.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if truncated:
            nt = base64.urlsafe_b64encode(json.dumps({"k": last, "p": last_is_prefix})
                                          .encode()).decode()
            out.append(f"<NextContinuationToken>{nt}</NextContinuationToken>")
        for k, meta in contents:
            out.append(f"<Contents><Key>{xml_escape(e(k))}</Key><LastModified>"
                       f"{iso_ms(meta['last_modified'])}</LastModified><ETag>"
                       f"{xml_escape(quoted(meta['etag']))}</ETag><Size>{meta['size']}</Size>"
                       "<StorageClass>STANDARD</StorageClass></Contents>")
        for p in prefixes:
            out.append(f"<CommonPrefixes><Prefix>{xml_escape(e(p))}</Prefix></CommonPrefixes>")
        self.xml_response(200, "ListBucketResult", "".join(out))

    def delete_objects(self, bucket, key):
        if self.headers.get("Content-MD5") is None and not any(
                h.lower().startswith("x-amz-checksum-") for h in self.headers.keys()):
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: "
                          "Content-MD5")
        if self.headers.get("Content-MD5") is not None:
            if base64.b64encode(hashlib.md5(self.body).digest()).decode() != \
                    self.headers["Content-MD5"].strip():
                raise S3Error(400, "BadDigest")
        root = self.parse_xml(self.body, "Delete")
        objs = root.findall(f"{{{S3_NS}}}Object") + root.findall("Object")
        if not objs or len(objs) > 1000:
            raise S3Error(400, "MalformedXML")
        quiet = (self.xml_text(root, "Quiet") or "false").lower() == "true"
        out = []
        for o in objs:
            k = self.xml_text(o, "Key")
            if k is None:
                raise S3Error(400, "MalformedXML")
            self.server.store.delete(bucket, k)
            if not quiet:
                out.append(f"<Deleted><Key>{xml_escape(k)}</Key></Deleted>")
        self.xml_response(200, "DeleteResult", "".join(out))

    # -- multipart ----------------------------------------------------------------------------

    @staticmethod
    def parse_xml(body, root_name):
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise S3Error(400, "MalformedXML")
        if root.tag not in (root_name, f"{{{S3_NS}}}{root_name}"):
            raise S3Error(400, "MalformedXML")
        return root

    @staticmethod
    def xml_text(el, name):
        c = el.find(f"{{{S3_NS}}}{name}")
        if c is None:
            c = el.find(name)
        return None if c is None else (c.text or "")

    def upload_or_404(self, bucket, key):
        uid = self.query["uploadId"][0]
        up = self.server.store.get_upload(bucket, uid)
        if not up or up["key"] != key:
            raise S3Error(404, "NoSuchUpload", UploadId=uid)
        return up

    def create_multipart_upload(self, bucket, key):
        up = self.server.store.create_upload(bucket, key, {"meta": self.user_meta(),
                                                           "headers": self.stored_headers()})
        self.xml_response(200, "InitiateMultipartUploadResult",
                          f"<Bucket>{xml_escape(bucket)}</Bucket><Key>{xml_escape(key)}</Key>"
                          f"<UploadId>{up['upload_id']}</UploadId>")

    def upload_part(self, bucket, key):
        pn_raw = self.query.get("partNumber", [""])[0]
        pn = int(pn_raw) if re.fullmatch(r"\d{1,5}", pn_raw) else None
        status = 500
        try:
            if "uploadId" not in self.query:
                raise S3Error(400, "InvalidRequest", "uploadId is required with partNumber")
            if pn is None or not 1 <= pn <= 10000:
                raise S3Error(400, "InvalidArgument", "Part number must be an integer between 1 "
                              "and 10000, inclusive", ArgumentName="partNumber",
                              ArgumentValue=pn_raw)
            up = self.upload_or_404(bucket, key)
            tmp, size, md5 = self.receive_body(bucket)
            if not self.server.store.put_part(bucket, up["upload_id"], pn, tmp, {
                    "size": size, "etag": md5, "last_modified": int(time.time())}):
                raise S3Error(404, "NoSuchUpload", UploadId=up["upload_id"])
            status = 200
            self.empty_response(200, [("ETag", quoted(md5))] + self.echo_checksums)
        except S3Error as e:
            status = e.status
            raise
        finally:
            self.record_upload("UploadPart", key, pn, status)

    def list_parts(self, bucket, key):
        up = self.upload_or_404(bucket, key)
        max_parts = self.int_param("max-parts", 1000, hi=1000)
        marker = self.int_param("part-number-marker", 0)
        nums = sorted(int(n) for n in up["parts"] if int(n) > marker)
        page = nums[:max_parts]
        truncated = len(nums) > len(page)
        out = [f"<Bucket>{xml_escape(bucket)}</Bucket><Key>{xml_escape(key)}</Key>",
               f"<UploadId>{up['upload_id']}</UploadId>",
               "<Initiator><ID>fake</ID><DisplayName>fake</DisplayName></Initiator>",
               "<Owner><ID>fake</ID><DisplayName>fake</DisplayName></Owner>",
               "<StorageClass>STANDARD</StorageClass>",
               f"<PartNumberMarker>{marker}</PartNumberMarker>",
               f"<NextPartNumberMarker>{page[-1] if page else 0}</NextPartNumberMarker>",
               f"<MaxParts>{max_parts}</MaxParts>",
               f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        for n in page:
            p = up["parts"][str(n)]
            out.append(f"<Part><PartNumber>{n}</PartNumber><LastModified>"
                       f"{iso_ms(p['last_modified'])}</LastModified><ETag>"
                       f"{xml_escape(quoted(p['etag']))}</ETag><Size>{p['size']}</Size></Part>")
        self.xml_response(200, "ListPartsResult", "".join(out))

    def list_multipart_uploads(self, bucket, key):
        prefix = self.query.get("prefix", [""])[0]
        max_up = self.int_param("max-uploads", 1000, hi=1000)
        key_marker = self.query.get("key-marker", [""])[0]
        uid_marker = self.query.get("upload-id-marker", [""])[0]
        with self.server.store.lock:
            ups = sorted(((u["key"], u["initiated"], u["upload_id"])
                          for u in self.server.store.uploads[bucket].values()),
                         key=lambda t: (t[0], t[2]))
        sel = []
        for k, init, uid in ups:
            if not k.startswith(prefix):
                continue
            # AWS: with key-marker alone, keys after it; with upload-id-marker too, uploads of
            # key-marker itself whose id sorts after upload-id-marker are also included.
            if key_marker and (k < key_marker or (k == key_marker and
                                                  (not uid_marker or uid <= uid_marker))):
                continue
            sel.append((k, init, uid))
        page = sel[:max_up]
        truncated = len(sel) > len(page)
        out = [f"<Bucket>{xml_escape(bucket)}</Bucket>",
               f"<KeyMarker>{xml_escape(key_marker)}</KeyMarker>",
               f"<UploadIdMarker>{xml_escape(uid_marker)}</UploadIdMarker>",
               f"<NextKeyMarker>{xml_escape(page[-1][0]) if page else ''}</NextKeyMarker>",
               f"<NextUploadIdMarker>{page[-1][2] if page else ''}</NextUploadIdMarker>",
               f"<Prefix>{xml_escape(prefix)}</Prefix>", f"<MaxUploads>{max_up}</MaxUploads>",
               f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        for k, init, uid in page:
            out.append(f"<Upload><Key>{xml_escape(k)}</Key><UploadId>{uid}</UploadId>"
                       "<Initiator><ID>fake</ID><DisplayName>fake</DisplayName></Initiator>"
                       "<Owner><ID>fake</ID><DisplayName>fake</DisplayName></Owner>"
                       f"<StorageClass>STANDARD</StorageClass><Initiated>{iso_ms(init)}"
                       "</Initiated></Upload>")
        self.xml_response(200, "ListMultipartUploadsResult", "".join(out))

    def complete_multipart_upload(self, bucket, key):
        up = self.upload_or_404(bucket, key)
        root = self.parse_xml(self.body, "CompleteMultipartUpload")
        parts = []
        for p in list(root):
            if p.tag not in ("Part", f"{{{S3_NS}}}Part"):
                raise S3Error(400, "MalformedXML")
            num = self.xml_text(p, "PartNumber")
            etag = self.xml_text(p, "ETag")
            if num is None or etag is None or not re.fullmatch(r"\s*\d+\s*", num):
                raise S3Error(400, "MalformedXML")
            parts.append((int(num), unquote_etag(etag)))
        if not parts:
            raise S3Error(400, "MalformedXML", "You must specify at least one part")
        for i in range(1, len(parts)):
            if parts[i][0] <= parts[i - 1][0]:
                raise S3Error(400, "InvalidPartOrder", UploadId=up["upload_id"])
        stored = up["parts"]
        for num, etag in parts:
            p = stored.get(str(num))
            if not p or p["etag"] != etag:
                raise S3Error(400, "InvalidPart", UploadId=up["upload_id"], PartNumber=num,
                              ETag=etag)
        min_part = self.server.min_part
        for num, _ in parts[:-1]:
            if stored[str(num)]["size"] < min_part:
                raise S3Error(400, "EntityTooSmall", ProposedSize=stored[str(num)]["size"],
                              MinSizeAllowed=min_part, PartNumber=num,
                              ETag=quoted(stored[str(num)]["etag"]))
        store = self.server.store
        tmp = store.tmp_path(bucket)
        size = 0
        digests = b""
        with open(tmp, "wb") as out:
            for num, _ in parts:
                p = stored[str(num)]
                digests += bytes.fromhex(p["etag"])
                with open(os.path.join(store.udir(bucket, up["upload_id"]), p["data"]), "rb") as f:
                    while True:
                        piece = f.read(COPY_CHUNK)
                        if not piece:
                            break
                        out.write(piece)
                        size += len(piece)
            out.flush()
            os.fsync(out.fileno())
        etag = f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"
        if not store.drop_upload(bucket, up["upload_id"]):
            os.unlink(tmp)
            raise S3Error(404, "NoSuchUpload", UploadId=up["upload_id"])
        store.commit(bucket, key, tmp, {"size": size, "etag": etag,
                                        "last_modified": int(time.time()), "meta": up["meta"],
                                        "headers": up["headers"], "parts": len(parts)})
        host = self.headers.get("Host", "localhost")
        loc = f"http://{host}/{urllib.parse.quote(bucket)}/{urllib.parse.quote(key)}"
        self.xml_response(200, "CompleteMultipartUploadResult",
                          f"<Location>{xml_escape(loc)}</Location><Bucket>{xml_escape(bucket)}"
                          f"</Bucket><Key>{xml_escape(key)}</Key><ETag>"
                          f"{xml_escape(quoted(etag))}</ETag>")

    def abort_multipart_upload(self, bucket, key):
        up = self.upload_or_404(bucket, key)
        self.server.store.drop_upload(bucket, up["upload_id"])
        self.empty_response(204)


class S3Server(FakeServer):
    def extra_stats(self):
        with self.store.lock:
            return {"objects": {b: len(v) for b, v in self.store.index.items()},
                    "open_uploads": {b: len(v) for b, v in self.store.uploads.items()}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bucket", action="append", default=[])
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--session-token")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--min-part", type=int, default=5 << 20)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.root, exist_ok=True)
    srv = S3Server((a.host, a.port), S3Handler, "fake_s3", a.quiet)
    srv.store = S3Store(a.root, a.bucket)
    srv.access_key = a.access_key
    srv.secret_key = a.secret_key
    srv.session_token = a.session_token
    srv.region = a.region
    srv.min_part = a.min_part
    serve(srv, a.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())

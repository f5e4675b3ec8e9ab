"""Checks the strict S3 and GCS fakes themselves (tests/fakes/fake_s3.py, fake_gcs.py) before
the sync tests trust them: the fake's SigV4 code against AWS's published test vectors, then
each fake started as a subprocess on a temporary root and driven over plain http.client —
with an independent SigV4 signer written here, and RS256 JWTs minted here — through its main
paths, its refusals (tampered signature, skew, bad digests, 256 KiB chunk rules, gaps), fault
injection and stats. Runs in a few seconds."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fake_s3  # noqa: E402  (for the SigV4 vector checks of the fake's own code)

AK, SK = "AKIDFAKE0001", "fake/secret+key0001"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
KIB = 1024


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def start_fake(script, tmp_path, name, *args):
    root = tmp_path / f"{name}-root"
    pf = tmp_path / f"{name}.port"
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, script), "--root", str(root),
                             "--port-file", str(pf), "--quiet", *args],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while not pf.exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"{script} did not start: {(tmp_path / f'{name}.log').read_text()}")
        time.sleep(0.02)
    port = int(pf.read_text())
    return proc, port, log


def stop_fake(proc, log):
    proc.terminate()
    try:
        assert proc.wait(timeout=5) == 0, "fake did not exit 0 on SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


class Resp:
    def __init__(self, r, body):
        self.status = r.status
        self.reason = r.reason
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        self.body = body

    def xml(self):
        return ET.fromstring(self.body)

    def json(self):
        return json.loads(self.body)


class Conn:
    """One keep-alive connection; reopened when the server closed it."""

    def __init__(self, port):
        self.port = port
        self.c = None
        self.opens = 0

    def raw(self, method, target, body=b"", headers=None):
        if self.c is None:
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.opens += 1
        try:
            self.c.request(method, target, body=body, headers=headers or {})
            r = self.c.getresponse()
            data = r.read()
        except Exception:
            self.c.close()
            self.c = None
            raise
        if r.will_close:
            self.c.close()
            self.c = None
        return Resp(r, data)

    def control(self, method, path, obj=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        return self.raw(method, path, body, {"Content-Type": "application/json"}).json()


# An independent SigV4 signer (not the fake's code), pinned below to AWS's S3 example.
def sign_v4(method, path, query, headers, payload_hash, amz_date, secret, region="us-east-1",
            service="s3"):
    def enc(s, slash):
        return urllib.parse.quote(s, safe="-_.~" + ("/" if slash else ""))

    h = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed = sorted(h)
    cq = "&".join(f"{enc(k, False)}={enc(v, False)}" for k, v in sorted(query))
    creq = "\n".join([method, path, cq, "".join(f"{k}:{h[k]}\n" for k in signed),
                      ";".join(signed), payload_hash])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return scope, ";".join(signed), sig


class S3:
    def __init__(self, port):
        self.conn = Conn(port)
        self.port = port

    def req(self, method, key, body=b"", query=(), headers=None, ak=AK, sk=SK, amz_date=None,
            payload_hash=None, tamper=None, unsigned_headers=None):
        path = "/" + urllib.parse.quote(key, safe="/-_.~")
        amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        h = {"Host": f"127.0.0.1:{self.port}", "x-amz-date": amz_date,
             "x-amz-content-sha256": payload_hash or hashlib.sha256(body).hexdigest()}
        h.update(headers or {})
        scope, signed, sig = sign_v4(method, path, list(query), h, h["x-amz-content-sha256"],
                                     amz_date, sk)
        h["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, "
                              f"SignedHeaders={signed}, Signature={sig}")
        h.update(unsigned_headers or {})
        qs = "&".join(urllib.parse.quote(k, safe="-_.~") +
                      ("=" + urllib.parse.quote(v, safe="-_.~") if v is not None else "")
                      for k, v in query)
        target = path + ("?" + qs if qs else "")
        if tamper:
            target, h = tamper(target, h)
        return self.conn.raw(method, target, body, h)


def err_code(resp):
    return resp.xml().find("Code").text


# ---------------------------------------------------------------------------------------------
# SigV4 vectors (AWS signature-v4 test suite, and the S3 API reference examples)
# ---------------------------------------------------------------------------------------------

SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_DATE = "20150830T123600Z"
SUITE_SCOPE = "20150830/us-east-1/service/aws4_request"

# (name, method, raw path, raw query, headers [(name, value)...], signed headers, signature)
SUITE = [
    ("get-vanilla", "GET", "/", "", [], "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", [],
     "host;x-amz-date", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
    ("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", [],
     "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-query-unreserved", "GET", "/",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", [],
     "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ("get-vanilla-utf8-query", "GET", "/", "\u1234=bar", [], "host;x-amz-date",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-utf8", "GET", "/\u1234", "", [], "host;x-amz-date",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     "", [], "host;x-amz-date",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ("get-header-key-duplicate", "GET", "/", "",
     [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
     "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    ("get-header-value-order", "GET", "/", "",
     [("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"),
      ("My-Header1", "value2")], "host;my-header1;x-amz-date",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
    ("get-header-value-trim", "GET", "/", "",
     [("My-Header1", " value1"), ("My-Header2", ' "a   b   c"')],
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("post-vanilla", "POST", "/", "", [], "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("post-vanilla-query", "POST", "/", "Param1=value1", [], "host;x-amz-date",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ("post-header-value-case", "POST", "/", "", [("My-Header1", "VALUE1")],
     "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
]


@pytest.mark.parametrize("case", SUITE, ids=[c[0] for c in SUITE])
def test_fake_sigv4_matches_aws_test_suite(case):
    name, method, path, query, extra, signed, want = case
    hv = {"host": ["example.amazonaws.com"], "x-amz-date": [SUITE_DATE]}
    for k, v in extra:
        hv.setdefault(k.lower(), []).append(v)
    sig, creq, _ = fake_s3.sigv4_compute(method, path, query, hv, signed.split(";"),
                                         fake_s3.EMPTY_SHA256, SUITE_DATE, SUITE_SCOPE,
                                         SUITE_SECRET)
    assert sig == want, creq


def test_fake_sigv4_canonical_request_text():
    # get-vanilla-query-order-key .creq, byte for byte
    _, creq, sts = fake_s3.sigv4_compute(
        "GET", "/", "Param1=value2&Param1=Value1",
        {"host": ["example.amazonaws.com"], "x-amz-date": [SUITE_DATE]},
        ["host", "x-amz-date"], fake_s3.EMPTY_SHA256, SUITE_DATE, SUITE_SCOPE, SUITE_SECRET)
    assert creq == ("GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n"
                    "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert sts.endswith("\n704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89")


S3_DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
S3_DOC_DATE = "20130524T000000Z"
S3_DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
S3_DOC_HOST = "examplebucket.s3.amazonaws.com"


@pytest.mark.parametrize("method,path,query,extra,payload,want", [
    ("GET", "/test.txt", "", {"range": "bytes=0-9"}, fake_s3.EMPTY_SHA256,
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    ("PUT", "/test%24file.text", "", {"date": "Fri, 24 May 2013 00:00:00 GMT",
                                      "x-amz-storage-class": "REDUCED_REDUNDANCY"},
     hashlib.sha256(b"Welcome to Amazon S3.").hexdigest(),
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    # the same request with '$' left unencoded on the wire: AWS canonicalizes it to %24
    ("PUT", "/test$file.text", "", {"date": "Fri, 24 May 2013 00:00:00 GMT",
                                    "x-amz-storage-class": "REDUCED_REDUNDANCY"},
     hashlib.sha256(b"Welcome to Amazon S3.").hexdigest(),
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    ("GET", "/", "lifecycle", {}, fake_s3.EMPTY_SHA256,
     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    ("GET", "/", "max-keys=2&prefix=J", {}, fake_s3.EMPTY_SHA256,
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
])
def test_fake_sigv4_matches_s3_documentation_examples(method, path, query, extra, payload, want):
    hv = {"host": [S3_DOC_HOST], "x-amz-date": [S3_DOC_DATE], "x-amz-content-sha256": [payload]}
    hv.update({k: [v] for k, v in extra.items()})
    sig, creq, _ = fake_s3.sigv4_compute(method, path, query, hv, sorted(hv), payload,
                                         S3_DOC_DATE, S3_DOC_SCOPE, S3_DOC_SECRET)
    assert sig == want, creq


def test_test_signer_matches_s3_documentation_example():
    _, signed, sig = sign_v4("GET", "/test.txt", [], {
        "Host": S3_DOC_HOST, "Range": "bytes=0-9", "x-amz-date": S3_DOC_DATE,
        "x-amz-content-sha256": fake_s3.EMPTY_SHA256}, fake_s3.EMPTY_SHA256, S3_DOC_DATE,
        S3_DOC_SECRET)
    assert signed == "host;range;x-amz-content-sha256;x-amz-date"
    assert sig == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


def test_crc32c_known_values():
    assert fake_s3.crc32c_update(0, b"123456789") == 0xE3069283
    assert fake_s3.crc32c_update(0, b"") == 0
    assert fake_s3.crc32c_update(0, bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 zero bytes
    data = os.urandom(1000)
    assert fake_s3.crc32c_update(fake_s3.crc32c_update(0, data[:333]), data[333:]) == \
        fake_s3.crc32c_update(0, data)


# ---------------------------------------------------------------------------------------------
# fake S3 over HTTP
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s3")
    proc, port, log = start_fake("fake_s3.py", tmp, "s3", "--bucket", "bkt", "--bucket", "other",
                                 "--access-key", AK, "--secret-key", SK, "--min-part", "1024")
    yield S3(port)
    stop_fake(proc, log)


def b64md5(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_s3_put_get_head_range(s3):
    data = bytes(range(256)) * 4
    r = s3.req("PUT", "bkt/dir/obj one.bin", data, headers={
        "Content-MD5": b64md5(data), "x-amz-meta-origin": "gpu-a", "Content-Type": "app/x"})
    assert r.status == 200, r.body
    assert r.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'

    r = s3.req("GET", "bkt/dir/obj one.bin")
    assert (r.status, r.body) == (200, data)
    assert r.headers["content-length"] == "1024"
    assert r.headers["x-amz-meta-origin"] == "gpu-a"
    assert r.headers["content-type"] == "app/x"
    assert r.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", r.headers["last-modified"])

    r = s3.req("GET", "bkt/dir/obj one.bin", headers={"Range": "bytes=10-19"})
    assert (r.status, r.body) == (206, data[10:20])
    assert r.headers["content-range"] == "bytes 10-19/1024"
    r = s3.req("GET", "bkt/dir/obj one.bin", headers={"Range": "bytes=1000-"})
    assert (r.status, r.body, r.headers["content-range"]) == (206, data[1000:],
                                                              "bytes 1000-1023/1024")
    r = s3.req("GET", "bkt/dir/obj one.bin", headers={"Range": "bytes=-4"})
    assert (r.status, r.body) == (206, data[-4:])
    r = s3.req("GET", "bkt/dir/obj one.bin", headers={"Range": "bytes=5000-"})
    assert (r.status, err_code(r)) == (416, "InvalidRange")

    r = s3.req("HEAD", "bkt/dir/obj one.bin")
    assert (r.status, r.body, r.headers["content-length"]) == (200, b"", "1024")
    r = s3.req("GET", "bkt/dir/obj one.bin", headers={"If-Match": '"0000"'})
    assert (r.status, err_code(r)) == (412, "PreconditionFailed")
    r = s3.req("GET", "bkt/dir/obj one.bin",
               headers={"If-Match": f'"{hashlib.md5(data).hexdigest()}"'})
    assert r.status == 200

    r = s3.req("GET", "bkt/missing")
    assert (r.status, err_code(r)) == (404, "NoSuchKey")
    r = s3.req("HEAD", "bkt/missing")
    assert (r.status, r.body) == (404, b"")
    r = s3.req("GET", "nobucket/x")
    assert (r.status, err_code(r)) == (404, "NoSuchBucket")


def test_s3_keeps_connections_alive(s3):
    s3.conn.raw("GET", "/_stats")
    opens = s3.conn.opens
    r = s3.req("GET", "")
    assert [b.text for b in r.xml().iter(NS + "Name")] == ["bkt", "other"]
    for _ in range(2):
        assert s3.req("HEAD", "bkt").status == 200
        assert s3.req("HEAD", "bkt/none").status == 404
        assert s3.req("PUT", "bkt/ka", b"x" * 100, headers={"Content-MD5": b64md5(b"y")}).status \
            == 400
        assert s3.req("GET", "bkt", query=[("location", "")]).status == 200
        assert s3.req("GET", "bkt/ka", sk="bad").status == 403
    assert s3.conn.opens == opens


def test_s3_refuses_what_aws_refuses(s3):
    body = b"payload"
    ok = s3.req("PUT", "bkt/auth", body)
    assert ok.status == 200

    def change_path(target, h):
        return target.replace("/auth", "/auth2"), h
    r = s3.req("PUT", "bkt/auth", body, tamper=change_path)
    assert (r.status, err_code(r)) == (403, "SignatureDoesNotMatch")
    assert "<CanonicalRequest>" in r.body.decode()

    def change_header(target, h):
        return target, dict(h, **{"x-amz-date": h["x-amz-date"][:-3] + "01Z"})
    r = s3.req("GET", "bkt/auth", tamper=change_header)
    assert (r.status, err_code(r)) == (403, "SignatureDoesNotMatch")

    r = s3.req("GET", "bkt/auth", sk="wrong-secret")
    assert (r.status, err_code(r)) == (403, "SignatureDoesNotMatch")
    r = s3.req("GET", "bkt/auth", ak="AKIDUNKNOWN")
    assert (r.status, err_code(r)) == (403, "InvalidAccessKeyId")
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 20 * 60))
    r = s3.req("GET", "bkt/auth", amz_date=old)
    assert (r.status, err_code(r)) == (403, "RequestTimeTooSkewed")
    r = s3.req("PUT", "bkt/auth", body, payload_hash=hashlib.sha256(b"other").hexdigest())
    assert (r.status, err_code(r)) == (400, "XAmzContentSHA256Mismatch")
    r = s3.req("PUT", "bkt/auth", body, payload_hash="UNSIGNED-PAYLOAD")
    assert r.status == 200
    r = s3.req("PUT", "bkt/auth", body, headers={"Content-MD5": b64md5(b"nope")})
    assert (r.status, err_code(r)) == (400, "BadDigest")
    r = s3.req("PUT", "bkt/auth", body, headers={"Content-MD5": "bm90LW1kNQ=="})
    assert (r.status, err_code(r)) == (400, "InvalidDigest")
    r = s3.req("PUT", "bkt/auth", body, headers={
        "x-amz-checksum-crc32c": base64.b64encode(
            fake_s3.crc32c_update(0, b"other").to_bytes(4, "big")).decode()})
    assert (r.status, err_code(r)) == (400, "BadDigest")
    r = s3.req("PUT", "bkt/auth", body, unsigned_headers={"x-amz-meta-sneaky": "1"})
    assert (r.status, err_code(r)) == (403, "AccessDenied")

    def drop_auth(target, h):
        h = dict(h)
        del h["Authorization"]
        return target, h
    r = s3.req("GET", "bkt/auth", tamper=drop_auth)
    assert (r.status, err_code(r)) == (403, "AccessDenied")
    # none of the refused writes changed the object
    r = s3.req("GET", "bkt/auth")
    assert (r.status, r.body) == (200, body)


def list_v2(s3, bucket, **params):
    q = [("list-type", "2")] + [(k.replace("_", "-"), str(v)) for k, v in params.items()]
    r = s3.req("GET", bucket, query=q)
    assert r.status == 200, r.body
    x = r.xml()
    return x, [c.find(NS + "Key").text for c in x.findall(NS + "Contents")], \
        [p.find(NS + "Prefix").text for p in x.findall(NS + "CommonPrefixes")]


def test_s3_list_objects_v2(s3):
    for k in ("L/a", "L/b", "L/d/x", "L/d/y", "L/e f+g", "L/z"):
        assert s3.req("PUT", f"other/{k}", b"x" * 3).status == 200
    x, keys, prefixes = list_v2(s3, "other", prefix="L/")
    assert keys == ["L/a", "L/b", "L/d/x", "L/d/y", "L/e f+g", "L/z"] and prefixes == []
    assert x.find(NS + "KeyCount").text == "6"
    assert x.find(NS + "IsTruncated").text == "false"
    c = x.find(NS + "Contents")
    assert c.find(NS + "Size").text == "3"
    assert c.find(NS + "ETag").text == f'"{hashlib.md5(b"xxx").hexdigest()}"'
    assert c.find(NS + "StorageClass").text == "STANDARD"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", c.find(NS + "LastModified").text)

    # delimiter + pagination: a, b | d/ (prefix), e f+g | z
    pages = []
    token = None
    while True:
        extra = {"continuation_token": token} if token else {}
        x, keys, prefixes = list_v2(s3, "other", prefix="L/", delimiter="/", max_keys=2, **extra)
        pages.append((keys, prefixes, x.find(NS + "KeyCount").text))
        if x.find(NS + "IsTruncated").text == "false":
            assert x.find(NS + "NextContinuationToken") is None
            break
        token = x.find(NS + "NextContinuationToken").text
    assert pages == [(["L/a", "L/b"], [], "2"), (["L/e f+g"], ["L/d/"], "2"), (["L/z"], [], "1")]

    x, keys, _ = list_v2(s3, "other", prefix="L/e", encoding_type="url")
    assert keys == ["L/e+f%2Bg"] and x.find(NS + "EncodingType").text == "url"
    _, keys, _ = list_v2(s3, "other", prefix="L/", start_after="L/d/y")
    assert keys == ["L/e f+g", "L/z"]
    r = s3.req("GET", "other", query=[("list-type", "2"), ("continuation-token", "garbage!")])
    assert (r.status, err_code(r)) == (400, "InvalidArgument")


def upload_id_of(r):
    return r.xml().find(NS + "UploadId").text


def complete_xml(parts):
    return ("<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts) +
        "</CompleteMultipartUpload>").encode()


def test_s3_multipart_rules(s3):
    key = "bkt/mp/big.bin"
    r = s3.req("POST", key, query=[("uploads", "")], headers={"x-amz-meta-kind": "ckpt"})
    assert r.status == 200
    uid = upload_id_of(r)
    p1, p2, p3 = os.urandom(1024), os.urandom(1500), os.urandom(10)
    etags = {}
    for n, d in ((1, p1), (2, p2), (3, p3)):
        r = s3.req("PUT", key, d, query=[("partNumber", str(n)), ("uploadId", uid)],
                   headers={"Content-MD5": b64md5(d)})
        assert r.status == 200 and r.headers["etag"] == f'"{hashlib.md5(d).hexdigest()}"'
        etags[n] = r.headers["etag"]
    r = s3.req("PUT", key, b"x", query=[("partNumber", "10001"), ("uploadId", uid)])
    assert (r.status, err_code(r)) == (400, "InvalidArgument")

    r = s3.req("GET", key, query=[("uploadId", uid), ("max-parts", "2")])
    x = r.xml()
    assert [p.find(NS + "PartNumber").text for p in x.findall(NS + "Part")] == ["1", "2"]
    assert x.find(NS + "IsTruncated").text == "true"
    assert x.find(NS + "NextPartNumberMarker").text == "2"
    r = s3.req("GET", key, query=[("uploadId", uid), ("part-number-marker", "2")])
    x = r.xml()
    assert [(p.find(NS + "PartNumber").text, p.find(NS + "Size").text)
            for p in x.findall(NS + "Part")] == [("3", "10")]

    r = s3.req("GET", "bkt", query=[("uploads", ""), ("prefix", "mp/")])
    assert [u.find(NS + "UploadId").text for u in r.xml().findall(NS + "Upload")] == [uid]

    def complete(parts):
        return s3.req("POST", key, complete_xml(parts), query=[("uploadId", uid)])
    r = complete([(2, etags[2]), (1, etags[1])])
    assert (r.status, err_code(r)) == (400, "InvalidPartOrder")
    r = complete([(1, etags[1]), (2, etags[1])])
    assert (r.status, err_code(r)) == (400, "InvalidPart")
    r = complete([(1, etags[1]), (4, etags[1])])
    assert (r.status, err_code(r)) == (400, "InvalidPart")
    r = complete([(1, etags[1]), (3, etags[3]), (2, etags[2])])
    assert (r.status, err_code(r)) == (400, "InvalidPartOrder")
    # Part numbers need not be consecutive nor start at 1: completing with part 3 alone is
    # valid (a last part may be any size); unlisted parts are discarded.
    r = complete([(3, etags[3])])
    assert r.status == 200, r.body
    want = hashlib.md5(hashlib.md5(p3).digest()).hexdigest() + "-1"
    assert r.xml().find(NS + "ETag").text == f'"{want}"'
    r = s3.req("GET", key)
    assert (r.status, r.body, r.headers["x-amz-meta-kind"]) == (200, p3, "ckpt")
    r = complete([(1, etags[1])])
    assert (r.status, err_code(r)) == (404, "NoSuchUpload")

    # EntityTooSmall: a non-last part under --min-part (1024)
    r = s3.req("POST", key, query=[("uploads", "")])
    uid = upload_id_of(r)
    small, last = os.urandom(1023), os.urandom(5)
    e = [s3.req("PUT", key, d, query=[("partNumber", str(n)), ("uploadId", uid)])
         .headers["etag"] for n, d in ((1, small), (2, last))]
    r = complete([(1, e[0]), (2, e[1])])
    assert (r.status, err_code(r)) == (400, "EntityTooSmall")
    # good completion with 2 parts, ETag = md5(md5(p1)+md5(p2))-2, quotes optional in the XML
    big = os.urandom(1024)
    eb = s3.req("PUT", key, big, query=[("partNumber", "1"), ("uploadId", uid)]).headers["etag"]
    r = complete([(1, eb.strip('"')), (2, e[1])])
    assert r.status == 200, r.body
    want = hashlib.md5(hashlib.md5(big).digest() + hashlib.md5(last).digest()).hexdigest()
    assert r.xml().find(NS + "ETag").text == f'"{want}-2"'
    r = s3.req("GET", key)
    assert (r.status, r.body, r.headers["etag"]) == (200, big + last, f'"{want}-2"')

    # abort
    r = s3.req("POST", key, query=[("uploads", "")])
    uid = upload_id_of(r)
    assert s3.req("DELETE", key, query=[("uploadId", uid)]).status == 204
    r = s3.req("GET", key, query=[("uploadId", uid)])
    assert (r.status, err_code(r)) == (404, "NoSuchUpload")
    r = s3.req("PUT", key, b"x", query=[("partNumber", "1"), ("uploadId", uid)])
    assert (r.status, err_code(r)) == (404, "NoSuchUpload")


def test_s3_copy_and_delete(s3):
    assert s3.req("PUT", "bkt/c/src", b"source", headers={"x-amz-meta-a": "1"}).status == 200
    r = s3.req("PUT", "bkt/c/dst", headers={"x-amz-copy-source": "/bkt/c/src",
                                            "x-amz-meta-b": "2"})
    assert r.status == 200
    assert r.xml().find(NS + "ETag").text == f'"{hashlib.md5(b"source").hexdigest()}"'
    r = s3.req("GET", "bkt/c/dst")
    assert r.body == b"source" and r.headers["x-amz-meta-a"] == "1" and \
        "x-amz-meta-b" not in r.headers
    r = s3.req("PUT", "bkt/c/dst2", headers={"x-amz-copy-source": "bkt/c/src",
                                             "x-amz-metadata-directive": "REPLACE",
                                             "x-amz-meta-b": "2"})
    assert r.status == 200
    r = s3.req("HEAD", "bkt/c/dst2")
    assert r.headers["x-amz-meta-b"] == "2" and "x-amz-meta-a" not in r.headers
    r = s3.req("PUT", "bkt/c/src", headers={"x-amz-copy-source": "bkt/c/src"})
    assert (r.status, err_code(r)) == (400, "InvalidRequest")
    r = s3.req("PUT", "bkt/c/x", headers={"x-amz-copy-source": "bkt/c/none"})
    assert (r.status, err_code(r)) == (404, "NoSuchKey")
    assert s3.req("DELETE", "bkt/c/dst").status == 204
    assert s3.req("DELETE", "bkt/c/dst").status == 204
    assert s3.req("GET", "bkt/c/dst").status == 404
    # SDKs append x-id; a subresource the fake does not implement is refused, not misread
    assert s3.req("GET", "bkt/c/src", query=[("x-id", "GetObject")]).body == b"source"
    r = s3.req("GET", "bkt/c/src", query=[("tagging", "")])
    assert (r.status, err_code(r)) == (501, "NotImplemented")
    # DeleteObjects needs Content-MD5 (or an x-amz-checksum-*)
    xml = (b"<Delete><Object><Key>c/dst2</Key></Object><Object><Key>c/none</Key></Object>"
           b"</Delete>")
    r = s3.req("POST", "bkt", xml, query=[("delete", "")])
    assert (r.status, err_code(r)) == (400, "InvalidRequest")
    r = s3.req("POST", "bkt", xml, query=[("delete", "")], headers={"Content-MD5": b64md5(xml)})
    assert r.status == 200
    assert [d.find(NS + "Key").text for d in r.xml().findall(NS + "Deleted")] == \
        ["c/dst2", "c/none"]
    assert s3.req("HEAD", "bkt/c/dst2").status == 404


def test_s3_session_token(tmp_path):
    proc, port, log = start_fake("fake_s3.py", tmp_path, "s3tok", "--bucket", "b",
                                 "--access-key", AK, "--secret-key", SK, "--session-token",
                                 "FQoGtoken//x+y=")
    try:
        s3t = S3(port)
        r = s3t.req("PUT", "b/k", b"v")
        assert (r.status, err_code(r)) == (403, "InvalidToken")
        r = s3t.req("PUT", "b/k", b"v",
                    unsigned_headers={"x-amz-security-token": "FQoGtoken//x+y="})
        assert (r.status, err_code(r)) == (403, "AccessDenied")  # present but not signed
        r = s3t.req("PUT", "b/k", b"v", headers={"x-amz-security-token": "wrong"})
        assert (r.status, err_code(r)) == (403, "InvalidToken")
        r = s3t.req("PUT", "b/k", b"v", headers={"x-amz-security-token": "FQoGtoken//x+y="})
        assert r.status == 200
    finally:
        stop_fake(proc, log)


def test_s3_fault_injection_and_stats(s3):
    c = s3.conn
    c.control("POST", "/_fault/clear")
    c.control("POST", "/_stats/clear")
    # a resumed multipart upload: part 2 fails twice with 500, only part 2 is re-sent
    key = "bkt/f/resume"
    uid = upload_id_of(s3.req("POST", key, query=[("uploads", "")]))
    c.control("POST", "/_fault", {"method": "PUT", "path_re": "partNumber=2", "status": 500,
                                  "count": 2})
    parts = {1: os.urandom(1024), 2: os.urandom(1024), 3: os.urandom(7)}
    statuses = []
    for n in (1, 2, 2, 2, 3):
        r = s3.req("PUT", key, parts[n], query=[("partNumber", str(n)), ("uploadId", uid)])
        statuses.append(r.status)
    assert statuses == [200, 500, 500, 200, 200]
    st = c.control("GET", "/_stats")
    assert st["uploads"] == [["UploadPart", "f/resume", 1], ["UploadPart", "f/resume", 2],
                             ["UploadPart", "f/resume", 3]]
    assert st["requests"]["PUT UploadPart"] == 5
    assert st["faults_fired"] == 2
    assert st["bytes_received"] == 4 * 1024 + 7

    # drop: the request is read, not applied, and the connection closes with no answer
    c.control("POST", "/_fault", {"method": "PUT", "path_re": "^/bkt/f/dropped", "action": "drop"})
    with pytest.raises(http.client.RemoteDisconnected):
        s3.req("PUT", "bkt/f/dropped", b"lost")
    assert s3.req("GET", "bkt/f/dropped").status == 404
    # drop with apply: stored, but the answer is lost
    c.control("POST", "/_fault", {"method": "PUT", "path_re": "^/bkt/f/applied",
                                  "action": "drop", "apply": True})
    with pytest.raises(http.client.RemoteDisconnected):
        s3.req("PUT", "bkt/f/applied", b"kept")
    assert s3.req("GET", "bkt/f/applied").body == b"kept"
    # truncate: headers promise the full length, half the body comes, then EOF
    assert s3.req("PUT", "bkt/f/long", b"0123456789" * 100).status == 200
    c.control("POST", "/_fault", {"method": "GET", "path_re": "f/long", "action": "truncate"})
    with pytest.raises(http.client.IncompleteRead) as ei:
        s3.req("GET", "bkt/f/long")
    assert len(ei.value.partial) == 500
    # delay
    c.control("POST", "/_fault", {"method": "HEAD", "action": "delay", "seconds": 0.3})
    t = time.time()
    assert s3.req("HEAD", "bkt/f/long").status == 200
    assert time.time() - t >= 0.3
    # skip + status with code
    c.control("POST", "/_fault", {"method": "GET", "path_re": "f/long", "skip": 1,
                                  "status": 503, "code": "SlowDown", "retry_after": 1})
    assert s3.req("GET", "bkt/f/long").status == 200
    r = s3.req("GET", "bkt/f/long")
    assert (r.status, err_code(r), r.headers["retry-after"]) == (503, "SlowDown", "1")
    assert s3.req("GET", "bkt/f/long").status == 200
    # clear removes pending rules
    c.control("POST", "/_fault", {"method": "GET", "status": 500, "count": -1})
    c.control("POST", "/_fault/clear")
    assert s3.req("GET", "bkt/f/long").status == 200
    bad = c.raw("POST", "/_fault", b'{"action":"explode"}')
    assert bad.status == 400


# ---------------------------------------------------------------------------------------------
# fake GCS over HTTP
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    tmp = tmp_path_factory.mktemp("keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pub = tmp / "sa.pub.pem"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, other, str(pub)


SA_EMAIL = "sync@fake-project.iam.gserviceaccount.com"
SCOPE_RW = "https://www.googleapis.com/auth/devstorage.read_write"


@pytest.fixture(scope="module")
def gcs(tmp_path_factory, rsa_key):
    tmp = tmp_path_factory.mktemp("gcs")
    proc, port, log = start_fake("fake_gcs.py", tmp, "gcs", "--bucket", "gb", "--public-key",
                                 rsa_key[2], "--client-email", SA_EMAIL, "--refresh-token",
                                 "1//refresh-fake", "--token-ttl", "1")
    yield port
    stop_fake(proc, log)


@pytest.fixture(scope="module")
def gcs_open(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gcs_open")
    proc, port, log = start_fake("fake_gcs.py", tmp, "gcs_open", "--bucket", "gb", "--no-auth")
    yield port
    stop_fake(proc, log)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(key, port, **over):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    now = int(time.time())
    claims = {"iss": SA_EMAIL, "scope": SCOPE_RW, "aud": f"http://127.0.0.1:{port}/token",
              "iat": now, "exp": now + 3600}
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64url(sig)}"


def get_token(conn, form):
    return conn.raw("POST", "/token", urllib.parse.urlencode(form).encode(),
                    {"Content-Type": "application/x-www-form-urlencoded"})


def jwt_grant(assertion):
    return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}


def test_gcs_token_endpoint_and_bearer_auth(gcs, rsa_key):
    key, other, _ = rsa_key
    c = Conn(gcs)
    r = c.raw("GET", "/storage/v1/b/gb/o")
    assert r.status == 401 and r.json()["error"]["code"] == 401
    assert r.headers["www-authenticate"].startswith("Bearer")

    r = get_token(c, jwt_grant(make_jwt(key, gcs)))
    assert r.status == 200, r.body
    tok = r.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 1 and \
        tok["access_token"].startswith("ya29.")
    auth = {"Authorization": f"Bearer {tok['access_token']}"}
    r = c.raw("GET", "/storage/v1/b/gb/o", headers=auth)
    assert r.status == 200 and r.json() == {"kind": "storage#objects"}  # no empty items[]

    refused = [
        make_jwt(other, gcs),                                  # signed by another key
        make_jwt(key, gcs, aud="https://oauth2.googleapis.com/token"),  # not this token_uri
        make_jwt(key, gcs, exp=int(time.time()) + 7200),       # lives longer than 1 h
        make_jwt(key, gcs, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),  # expired
        make_jwt(key, gcs, scope=None),                        # claim missing
        make_jwt(key, gcs, iss="someone@else.iam.gserviceaccount.com"),
        make_jwt(key, gcs, scope="https://www.googleapis.com/auth/bigquery"),
        make_jwt(key, gcs) + "=",                              # padded segment
    ]
    for i, jwt in enumerate(refused):
        r = get_token(c, jwt_grant(jwt))
        assert r.status == 400, (i, r.body)
        assert r.json()["error"] in ("invalid_grant", "invalid_scope"), (i, r.body)
    r = get_token(c, {"grant_type": "password"})
    assert (r.status, r.json()["error"]) == (400, "unsupported_grant_type")

    r = get_token(c, {"grant_type": "refresh_token", "refresh_token": "1//refresh-fake",
                      "client_id": "cid", "client_secret": "cs"})
    assert r.status == 200
    auth2 = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = get_token(c, {"grant_type": "refresh_token", "refresh_token": "1//wrong",
                      "client_id": "cid", "client_secret": "cs"})
    assert (r.status, r.json()["error"]) == (400, "invalid_grant")

    assert c.raw("GET", "/storage/v1/b/gb/o", headers={"Authorization": "Bearer nope"}).status \
        == 401
    # --token-ttl 1: the tokens stop working once expired
    time.sleep(1.05)
    for h in (auth, auth2):
        r = c.raw("GET", "/storage/v1/b/gb/o", headers=h)
        assert r.status == 401 and r.json()["error"]["errors"][0]["reason"] == "authError"


def gput_media(c, name, data, ctype="application/octet-stream", headers=None):
    q = urllib.parse.urlencode({"uploadType": "media", "name": name})
    return c.raw("POST", f"/upload/storage/v1/b/gb/o?{q}", data,
                 dict({"Content-Type": ctype}, **(headers or {})))


def obj_path(name, bucket="gb"):
    return f"/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}"


def crc_b64(data):
    return base64.b64encode(fake_s3.crc32c_update(0, data).to_bytes(4, "big")).decode()


def test_gcs_objects_media_multipart_list(gcs_open):
    c = Conn(gcs_open)
    r = gput_media(c, "d/nine.txt", b"123456789", "text/plain")
    assert r.status == 200, r.body
    o = r.json()
    assert o["kind"] == "storage#object" and o["name"] == "d/nine.txt" and o["bucket"] == "gb"
    assert o["size"] == "9" and isinstance(o["generation"], str) and o["metageneration"] == "1"
    assert o["crc32c"] == "4waSgw=="  # CRC32C(123456789) = e3069283, big-endian
    assert o["md5Hash"] == base64.b64encode(hashlib.md5(b"123456789").digest()).decode()
    assert o["contentType"] == "text/plain"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["updated"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["timeCreated"])

    r = c.raw("GET", obj_path("d/nine.txt"))
    assert r.status == 200 and r.json()["md5Hash"] == o["md5Hash"]
    assert c.raw("GET", "/storage/v1/b/gb/o/d/nine.txt").status == 404  # '/' must be encoded
    r = c.raw("GET", obj_path("d/nine.txt") + "?alt=media", headers={"Range": "bytes=2-4"})
    assert (r.status, r.body, r.headers["content-range"]) == (206, b"345", "bytes 2-4/9")
    assert r.headers["x-goog-hash"] == f"crc32c=4waSgw==,md5={o['md5Hash']}"  # whole object
    assert r.headers["x-goog-generation"] == o["generation"]
    r = c.raw("GET", obj_path("d/nine.txt") + "?alt=media")
    assert (r.status, r.body, r.headers["content-type"]) == (200, b"123456789", "text/plain")
    r = c.raw("GET", obj_path("d/nine.txt") + "?alt=media", headers={"Range": "bytes=9-"})
    assert r.status == 416
    r = c.raw("GET", obj_path("nope"))
    assert r.status == 404 and r.json()["error"]["errors"][0]["reason"] == "notFound"

    boundary = "bnd_xyz"

    def multipart(meta, data):
        body = (f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
                f"{json.dumps(meta)}\r\n--{boundary}\r\nContent-Type: application/x-ckpt\r\n\r\n"
                ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return c.raw("POST", "/upload/storage/v1/b/gb/o?uploadType=multipart", body,
                     {"Content-Type": f'multipart/related; boundary="{boundary}"'})
    data = os.urandom(3000)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    r = multipart({"name": "d/mp.bin", "md5Hash": base64.b64encode(b"x" * 16).decode()}, data)
    assert r.status == 400
    r = multipart({"name": "d/mp.bin", "crc32c": "AAAAAA=="}, data)
    assert r.status == 400
    assert c.raw("GET", obj_path("d/mp.bin")).status == 404
    r = multipart({"name": "d/mp.bin", "md5Hash": md5, "crc32c": crc_b64(data),
                   "metadata": {"src": "gpu-a"}}, data)
    assert r.status == 200, r.body
    o = r.json()
    assert (o["size"], o["md5Hash"], o["metadata"], o["contentType"]) == \
        ("3000", md5, {"src": "gpu-a"}, "application/x-ckpt")

    for n in ("d/sub/a", "d/sub/b", "e"):
        assert gput_media(c, n, b"z").status == 200
    seen, prefixes, token = [], [], None
    while True:
        q = {"prefix": "d/", "delimiter": "/", "maxResults": "1"}
        if token:
            q["pageToken"] = token
        r = c.raw("GET", "/storage/v1/b/gb/o?" + urllib.parse.urlencode(q))
        j = r.json()
        seen += [i["name"] for i in j.get("items", [])]
        prefixes += j.get("prefixes", [])
        assert len(j.get("items", [])) + len(j.get("prefixes", [])) == 1
        token = j.get("nextPageToken")
        if not token:
            break
    assert seen == ["d/mp.bin", "d/nine.txt"] and prefixes == ["d/sub/"]
    j = c.raw("GET", "/storage/v1/b/gb/o?prefix=d/sub/").json()
    assert [(i["name"], i["size"]) for i in j["items"]] == [("d/sub/a", "1"), ("d/sub/b", "1")]
    assert "prefixes" not in j and "nextPageToken" not in j
    assert c.raw("GET", "/storage/v1/b/gb/o?pageToken=bogus!").status == 400
    assert c.raw("GET", "/storage/v1/b/nob/o").status == 404


def start_session(c, name, size=None, meta=None):
    h = {"Content-Type": "application/json; charset=UTF-8"}
    if size is not None:
        h["X-Upload-Content-Length"] = str(size)
    r = c.raw("POST", "/upload/storage/v1/b/gb/o?uploadType=resumable&name=" +
              urllib.parse.quote(name, safe=""), json.dumps(meta or {}).encode(), h)
    assert r.status == 200, r.body
    loc = urllib.parse.urlsplit(r.headers["location"])
    assert loc.netloc == f"127.0.0.1:{c.port}"
    return loc.path + "?" + loc.query


def put_chunk(c, session, data, first, total):
    last = first + len(data) - 1
    cr = f"bytes {first}-{last}/{total}" if data else f"bytes */{total}"
    return c.raw("PUT", session, data, {"Content-Range": cr})


def test_gcs_resumable_upload_rules(gcs_open):
    c = Conn(gcs_open)
    data = os.urandom(3 * 256 * KIB + 1000)
    total = len(data)
    s = start_session(c, "r/obj.bin", total, {"metadata": {"k": "v"}})
    r = c.raw("PUT", s, b"", {"Content-Range": f"bytes */{total}"})
    assert r.status == 308 and "range" not in r.headers  # nothing persisted yet
    r = put_chunk(c, s, data[:512 * KIB], 0, "*")
    assert (r.status, r.headers["range"]) == (308, f"bytes=0-{512 * KIB - 1}")
    # a non-final chunk that is not a multiple of 256 KiB is refused
    r = put_chunk(c, s, data[512 * KIB:512 * KIB + 1000], 512 * KIB, "*")
    assert r.status == 400
    # a gap is refused
    r = put_chunk(c, s, data[768 * KIB:], 768 * KIB, total)
    assert r.status == 400
    # re-sent bytes that are already persisted are ignored, the new ones appended
    r = put_chunk(c, s, data[256 * KIB:768 * KIB], 256 * KIB, "*")
    assert (r.status, r.headers["range"]) == (308, f"bytes=0-{768 * KIB - 1}")
    r = c.raw("PUT", s, b"", {"Content-Range": "bytes */*"})
    assert (r.status, r.headers["range"]) == (308, f"bytes=0-{768 * KIB - 1}")
    # the final chunk may be any size
    r = put_chunk(c, s, data[768 * KIB:], 768 * KIB, total)
    assert r.status == 200, r.body
    o = r.json()
    assert (o["size"], o["metadata"], o["crc32c"]) == (str(total), {"k": "v"}, crc_b64(data))
    assert o["md5Hash"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    r = c.raw("PUT", s, b"", {"Content-Range": f"bytes */{total}"})
    assert r.status == 200 and r.json()["generation"] == o["generation"]
    assert c.raw("GET", obj_path("r/obj.bin") + "?alt=media").body == data

    # a total that disagrees with X-Upload-Content-Length is refused
    s = start_session(c, "r/small", 10)
    assert put_chunk(c, s, b"0123456789a", 0, 11).status == 400
    assert put_chunk(c, s, b"0123456789", 0, 10).status == 200
    # unknown size: finish with bytes */N once all bytes are persisted
    s = start_session(c, "r/unknown")
    assert put_chunk(c, s, data[:256 * KIB], 0, "*").status == 308
    r = c.raw("PUT", s, b"", {"Content-Range": f"bytes */{256 * KIB}"})
    assert r.status == 200 and r.json()["size"] == str(256 * KIB)
    # md5Hash in the session metadata is checked at the end
    s = start_session(c, "r/bad", 4, {"md5Hash": base64.b64encode(b"y" * 16).decode()})
    assert put_chunk(c, s, b"abcd", 0, 4).status == 400
    assert c.raw("GET", obj_path("r/bad")).status == 404
    # cancel: 499, then the session is gone
    s = start_session(c, "r/cancel")
    r = c.raw("DELETE", s)
    assert r.status == 499
    assert c.raw("PUT", s, b"", {"Content-Range": "bytes */*"}).status == 404
    assert c.raw("PUT", "/upload/storage/v1/b/gb/o?uploadType=resumable&upload_id=nope", b"",
                 {"Content-Range": "bytes */*"}).status == 404


def test_gcs_persist_less_makes_the_client_resend(tmp_path):
    proc, port, log = start_fake("fake_gcs.py", tmp_path, "gcs_pl", "--bucket", "gb",
                                 "--no-auth", "--persist-less", "1")
    try:
        c = Conn(port)
        data = os.urandom(1024 * KIB + 5)
        s = start_session(c, "pl", len(data))
        # 512 KiB received, persisted = (512 KiB - 1) rounded down to 256 KiB
        r = put_chunk(c, s, data[:512 * KIB], 0, len(data))
        assert (r.status, r.headers["range"]) == (308, f"bytes=0-{256 * KIB - 1}")
        r = put_chunk(c, s, data[256 * KIB:768 * KIB], 256 * KIB, len(data))
        assert (r.status, r.headers["range"]) == (308, f"bytes=0-{512 * KIB - 1}")
        r = put_chunk(c, s, data[512 * KIB:], 512 * KIB, len(data))  # final: kept whole
        assert r.status == 200 and r.json()["size"] == str(len(data))
        assert c.raw("GET", obj_path("pl") + "?alt=media").body == data
    finally:
        stop_fake(proc, log)


def test_gcs_patch_compose_delete_and_faults(gcs_open):
    c = Conn(gcs_open)
    a, b = os.urandom(1000), os.urandom(777)
    assert gput_media(c, "k/a", a).status == 200
    assert gput_media(c, "k/b", b).status == 200
    r = c.raw("PATCH", obj_path("k/a"), json.dumps({"metadata": {"x": "1", "y": "2"}}).encode(),
              {"Content-Type": "application/json"})
    assert r.status == 200 and r.json()["metadata"] == {"x": "1", "y": "2"}
    r = c.raw("PATCH", obj_path("k/a"), json.dumps({"metadata": {"x": None, "z": "3"}}).encode(),
              {"Content-Type": "application/json"})
    o = r.json()
    assert o["metadata"] == {"y": "2", "z": "3"} and o["metageneration"] == "3"

    body = {"sourceObjects": [{"name": "k/a"}, {"name": "k/b"}],
            "destination": {"contentType": "application/x-ckpt"}}
    r = c.raw("POST", obj_path("k/ab") + "/compose", json.dumps(body).encode(),
              {"Content-Type": "application/json"})
    assert r.status == 200, r.body
    o = r.json()
    assert "md5Hash" not in o and o["componentCount"] == 2 and o["crc32c"] == crc_b64(a + b)
    assert o["size"] == str(len(a + b))
    r = c.raw("GET", obj_path("k/ab") + "?alt=media")
    assert r.body == a + b and r.headers["x-goog-hash"] == f"crc32c={crc_b64(a + b)}"
    body["sourceObjects"].append({"name": "k/missing"})
    assert c.raw("POST", obj_path("k/x") + "/compose", json.dumps(body).encode(),
                 {"Content-Type": "application/json"}).status == 404

    assert c.raw("DELETE", obj_path("k/ab")).status == 204
    assert c.raw("DELETE", obj_path("k/ab")).status == 404
    r = c.raw("DELETE", obj_path("k/a") + "?ifGenerationMatch=1")
    assert r.status == 412

    # faults and stats: a resumable PUT failing once with 503 is retried from the same offset
    data = os.urandom(512 * KIB)
    s = start_session(c, "k/f", len(data))
    c.control("POST", "/_stats/clear")
    c.control("POST", "/_fault", {"method": "PUT", "path_re": "upload_id=", "status": 503})
    r = put_chunk(c, s, data[:256 * KIB], 0, len(data))
    assert r.status == 503 and r.json()["error"]["code"] == 503
    assert put_chunk(c, s, data[:256 * KIB], 0, len(data)).status == 308
    assert put_chunk(c, s, data[256 * KIB:], 256 * KIB, len(data)).status == 200
    st = c.control("GET", "/_stats")
    assert st["uploads"] == [["resumable.put", "k/f", 0], ["resumable.put", "k/f", 256 * KIB]]
    assert st["requests"]["PUT resumable.put"] == 3
    assert st["bytes_received"] == 3 * 256 * KIB
    c.control("POST", "/_fault", {"method": "GET", "action": "drop"})
    with pytest.raises(http.client.RemoteDisconnected):
        c.raw("GET", obj_path("k/f"))
    assert c.raw("GET", obj_path("k/f")).status == 200

"""gpumigrate sync to and from object stores: a tree with every kind of entry an object store
can keep goes up to s3rver (an independent S3 server that checks SigV4) and comes back
byte-identical with its modes, times and symlinks, as rsync -ani --checksum judges; a rerun
sends nothing; --delete removes objects; names a store cannot hold and wrong credentials give
one clear error without a secret in it. The strict fakes (tests/fakes) add what s3rver does
not check: multipart resume after kill -9 without re-sending parts, injected faults, GCS."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BIN, run
from objstore import ACCESS_KEY, BUCKET, FAKE_SECRET, start_fake_s3


def make_tree(root):
    os.makedirs(root / "dir with space" / "deeper", exist_ok=True)
    os.makedirs(root / "empty dir", exist_ok=True)
    (root / "small.txt").write_bytes(b"hello\n")
    (root / "empty").write_bytes(b"")
    (root / "dir with space" / "deeper" / "f").write_bytes(os.urandom(100000))
    (root / "plus+and%percent ünïcode").write_bytes(b"odd name")
    (root / "big.bin").write_bytes(os.urandom(20 << 20 | 12345))  # multipart, odd tail
    with open(root / "sparse", "wb") as f:  # a hole becomes zeros in an object
        f.write(b"start")
        f.seek(3 << 20)
        f.write(b"end")
    os.symlink("small.txt", root / "link")
    os.symlink("/nonexistent/target", root / "dangling")
    os.chmod(root / "small.txt", 0o640)
    os.chmod(root / "dir with space", 0o750)
    os.utime(root / "empty", ns=(1_500_000_000_123_456_789, 1_500_000_000_123_456_789))


def rsync_diff(src, dst):
    p = subprocess.run(["rsync", "-ani", "--checksum", f"{src}/", f"{dst}/"],
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode(errors="replace")


def sync(store, *args, env=None, timeout=120):
    e = dict(store.env)
    if env:
        e.update(env)
    return run("sync", *args, env=e, timeout=timeout)


def summary(r):
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_round_trip_through_s3rver(s3rver, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    up = summary(sync(s3rver, "--json", f"{src}/", f"s3://{BUCKET}/data/"))
    assert up["copied"] >= 6
    back = tmp_path / "back"
    r = sync(s3rver, f"s3://{BUCKET}/data/", f"{back}/")
    assert r.code == 0, r.err
    assert rsync_diff(src, back) == ""
    assert (back / "empty dir").is_dir()
    assert os.readlink(back / "dangling") == "/nonexistent/target"
    assert os.stat(back / "empty").st_mtime_ns == 1_500_000_000_123_456_789
    # Nothing changed: nothing travels, either way.
    again = summary(sync(s3rver, "--json", f"{src}/", f"s3://{BUCKET}/data/"))
    assert again["copied"] == 0 and again["bytes_sent"] == 0
    down = summary(sync(s3rver, "--json", f"s3://{BUCKET}/data/", f"{back}/"))
    assert down["copied"] == 0


def test_delete_removes_objects(s3rver, tmp_path):
    src = tmp_path / "src"
    (src / "keep").mkdir(parents=True)
    (src / "keep" / "a").write_bytes(b"a")
    (src / "gone").mkdir()
    (src / "gone" / "b").write_bytes(b"b")
    (src / "c").write_bytes(b"c")
    assert sync(s3rver, f"{src}/", f"s3://{BUCKET}/t/").code == 0
    import shutil
    shutil.rmtree(src / "gone")
    os.unlink(src / "c")
    r = sync(s3rver, "--json", "--delete", f"{src}/", f"s3://{BUCKET}/t/")
    s = summary(r)
    assert s["deleted"] >= 2
    back = tmp_path / "back"
    assert sync(s3rver, f"s3://{BUCKET}/t/", f"{back}/").code == 0
    assert sorted(os.listdir(back)) == [".gpumigrate", "keep"]
    assert rsync_diff(src, back) == ""


def test_invalid_utf8_name_is_one_clear_error(s3rver, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "fine").write_bytes(b"ok")
    with open(os.fsencode(str(src)) + b"/bad\xff", "wb") as f:
        f.write(b"x")
    p = subprocess.run([BIN, "sync", f"{src}/", f"s3://{BUCKET}/u/"], capture_output=True,
                       env={**os.environ, **s3rver.env})
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 3, (p.returncode, err)
    assert "not valid UTF-8" in err and "--exclude" in err
    back = tmp_path / "back"
    assert sync(s3rver, f"s3://{BUCKET}/u/", f"{back}/").code == 0
    assert sorted(os.listdir(back)) == [".gpumigrate", "fine"]


def test_wrong_secret_is_refused_without_leaking_it(fake_s3, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    wrong = "WrongSecretValue0123456789"
    r = sync(fake_s3, "-v", "-v", f"{src}/", f"s3://{BUCKET}/w/",
             env={"AWS_SECRET_ACCESS_KEY": wrong})
    assert r.code != 0
    assert "403" in r.err and "credentials" in r.err
    assert wrong not in r.err and wrong not in r.out


def test_missing_bucket_and_prefix(s3rver, tmp_path):
    r = sync(s3rver, "s3://no-such-bucket/x/", f"{tmp_path}/d/")
    assert r.code != 0 and "no-such-bucket" in r.err
    r = sync(s3rver, f"s3://{BUCKET}/never/written/", f"{tmp_path}/d/")
    assert r.code == 4 and "no such file" in r.err and "never/written" in r.err


def parts_sent(stats, key):
    return [u[2] for u in stats["uploads"] if u[0] == "UploadPart" and u[1] == key]


def kill_mid_upload(fake_s3, src, prefix):
    """Uploads src/model.ckpt (five 8 MiB parts and a 5-byte one) to prefix with part 4 held
    back by the fake, and kills the run with -9 once parts 1-3 are stored. Returns the
    file's bytes."""
    src.mkdir()
    data = os.urandom((40 << 20) + 5)
    (src / "model.ckpt").write_bytes(data)
    fake_s3.fault(method="PUT", path_re="partNumber=4", action="delay", seconds=60, count=1)
    env = {**os.environ, **fake_s3.env}
    p = subprocess.Popen([BIN, "sync", f"{src}/", f"s3://{BUCKET}/{prefix}/"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not {1, 2, 3} <= set(parts_sent(fake_s3.stats(), f"{prefix}/model.ckpt")):
        assert time.time() < deadline and p.poll() is None, "parts 1-3 never arrived"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    fake_s3.clear_faults()
    return data


def test_multipart_killed_then_resumed_without_resending_parts(fake_s3, tmp_path):
    src = tmp_path / "src"
    data = kill_mid_upload(fake_s3, src, "ck")
    state = tmp_path / "state" / "gpumigrate" / "uploads"
    assert oct(os.stat(state).st_mode & 0o777) == "0o700"
    journals = os.listdir(state)
    assert journals, "the killed run left no upload journal"
    for j in journals:
        assert os.stat(state / j).st_mode & 0o077 == 0
        assert FAKE_SECRET.encode() not in (state / j).read_bytes()
    before = fake_s3.stats()
    r = sync(fake_s3, "--json", f"{src}/", f"s3://{BUCKET}/ck/")
    s = summary(r)
    assert s["resumed_bytes"] >= 3 * (8 << 20)
    after = parts_sent(fake_s3.stats(), "ck/model.ckpt")
    again = after[len(parts_sent(before, "ck/model.ckpt")):]
    assert not {1, 2, 3} & set(again), f"finished parts were sent again: {again}"
    assert 6 in again
    assert os.listdir(state) == []
    back = tmp_path / "back"
    assert sync(fake_s3, f"s3://{BUCKET}/ck/", f"{back}/").code == 0
    assert (back / "model.ckpt").read_bytes() == data
    assert fake_s3.stats()["open_uploads"] == {BUCKET: 0}


def test_transient_faults_are_retried(fake_s3, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    fake_s3.fault(method="PUT", status=500, count=2)
    fake_s3.fault(method="HEAD", status=503, count=2)
    fake_s3.fault(method="GET", status=429, count=1)
    fake_s3.fault(action="drop", count=1)
    fake_s3.fault(method="PUT", action="delay", seconds=2, count=1)  # slow, not stalled
    fake_s3.fault(method="PUT", action="truncate", count=1)
    r = sync(fake_s3, f"{src}/", f"s3://{BUCKET}/f/")
    assert r.code == 0, r.err
    assert fake_s3.stats()["faults_fired"] >= 8
    back = tmp_path / "back"
    assert sync(fake_s3, f"s3://{BUCKET}/f/", f"{back}/").code == 0
    assert rsync_diff(src, back) == ""


def test_persistent_failure_stops_with_the_status(fake_s3, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    fake_s3.fault(method="PUT", status=503, count=-1)
    r = sync(fake_s3, f"{src}/", f"s3://{BUCKET}/p/", env={"GPUMIGRATE_RETRY_BASE_MS": "1"})
    assert r.code != 0
    assert "503" in r.err and "try again" in r.err


def test_round_trip_through_gcs_with_verify(fake_gcs, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    assert sync(fake_gcs, f"{src}/", f"gs://{BUCKET}/g/").code == 0
    back = tmp_path / "back"
    assert sync(fake_gcs, f"gs://{BUCKET}/g/", f"{back}/").code == 0
    assert rsync_diff(src, back) == ""
    again = summary(sync(fake_gcs, "--json", f"{src}/", f"gs://{BUCKET}/g/"))
    assert again["copied"] == 0 and again["bytes_sent"] == 0
    v = run("verify", f"{src}/", f"gs://{BUCKET}/g/", env=fake_gcs.env)
    assert v.code == 0, v.err
    (src / "small.txt").write_bytes(b"HELLO\n")  # same size, content differs
    os.utime(src / "small.txt", ns=(os.stat(back / "small.txt").st_mtime_ns,) * 2)
    v = run("verify", f"{src}/", f"gs://{BUCKET}/g/", env=fake_gcs.env)
    assert v.code == 1 and "small.txt" in v.out + v.err


def test_gcs_to_s3_straight_through(fake_gcs, s3rver, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    assert sync(fake_gcs, f"{src}/", f"gs://{BUCKET}/x/").code == 0
    r = run("sync", f"gs://{BUCKET}/x/", f"s3://{BUCKET}/y/",
            env={**fake_gcs.env, **s3rver.env}, timeout=120)
    assert r.code == 0, r.err
    assert not os.listdir(tmp_path / "state" / "gpumigrate" / "uploads")
    back = tmp_path / "back"
    assert sync(s3rver, f"s3://{BUCKET}/y/", f"{back}/").code == 0
    assert rsync_diff(src, back) == ""


def test_gcs_with_a_service_account(tmp_path):
    from objstore import start_fake_gcs
    keys = tmp_path / "keys"
    keys.mkdir()
    make_key = os.path.join(os.path.dirname(__file__), "..", "fixtures", "gcs", "make_key.py")
    subprocess.run(["/usr/bin/python3", make_key, str(keys), "http://placeholder/token"],
                   check=True)
    store = start_fake_gcs(str(tmp_path), "--public-key", str(keys / "pub.pem"))
    try:
        sa = json.loads((keys / "sa.json").read_text())
        sa["token_uri"] = f"{store.url}/token"
        (keys / "sa.json").write_text(json.dumps(sa))
        env = {**store.env, "GOOGLE_APPLICATION_CREDENTIALS": str(keys / "sa.json")}
        src = tmp_path / "src"
        src.mkdir()
        (src / "f").write_bytes(b"through oauth")
        r = sync(store, "-v", "-v", "--endpoint", store.url, f"{src}/", f"gs://{BUCKET}/a/",
                 env=env)
        assert r.code == 0, r.err
        key_body = sa["private_key"].splitlines()[1]
        assert key_body not in r.err and "ya29" not in r.err
        assert "Bearer" not in r.err
        # Without credentials the same store refuses, and the message says what to set.
        r = sync(store, "--endpoint", store.url, f"{src}/", f"gs://{BUCKET}/b/",
                 env={"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "none.json")})
        assert r.code != 0 and "none.json" in r.err
    finally:
        store.stop()


def test_gcs_resumable_upload_resumes_after_kill(fake_gcs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom((40 << 20) + 77)
    (src / "w.bin").write_bytes(data)
    third = 3 * (8 << 20)
    fake_gcs.fault(method="PUT", path_re="upload_id", action="delay", seconds=60, count=1,
                   skip=3)
    env = {**os.environ, **fake_gcs.env}
    p = subprocess.Popen([BIN, "sync", f"{src}/", f"gs://{BUCKET}/r/"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60

    def chunks(st):
        return [u[2] for u in st["uploads"] if u[0] == "resumable.put" and u[1] == "r/w.bin"]
    while time.time() < deadline and len(chunks(fake_gcs.stats())) < 3:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert sorted(chunks(fake_gcs.stats())) == [0, 8 << 20, 16 << 20]
    fake_gcs.clear_faults()
    s = summary(sync(fake_gcs, "--json", f"{src}/", f"gs://{BUCKET}/r/"))
    assert s["resumed_bytes"] == third
    sent = chunks(fake_gcs.stats())[3:]
    assert min(sent) == third, sent
    back = tmp_path / "back"
    r = sync(fake_gcs, f"gs://{BUCKET}/r/", f"{back}/")
    assert r.code == 0, r.err
    assert (back / "w.bin").read_bytes() == data


def test_lost_answer_to_a_completed_upload(fake_s3, tmp_path):
    """The store completes the upload but the answer is lost: the retry finds no upload,
    and the client recognises the object as its own instead of failing."""
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom((17 << 20) + 3)
    (src / "c.bin").write_bytes(data)
    fake_s3.fault(method="POST", path_re="uploadId=", action="drop", apply=True, count=1)
    r = sync(fake_s3, f"{src}/", f"s3://{BUCKET}/l/")
    assert r.code == 0, r.err
    assert fake_s3.stats()["faults_fired"] == 1
    back = tmp_path / "back"
    assert sync(fake_s3, f"s3://{BUCKET}/l/", f"{back}/").code == 0
    assert (back / "c.bin").read_bytes() == data


def test_download_costs_one_request_per_file(fake_s3, tmp_path):
    """An S3 listing has no metadata: a copy into an empty destination still needs no HEAD
    per file (the GET's answer carries it); a rerun HEADs each file once to compare times."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(40):
        (src / "d" / f"f{i}").write_bytes(os.urandom(100 + i))
        os.utime(src / "d" / f"f{i}", ns=(1_600_000_000_000_000_000 + i,) * 2)
    os.chmod(src / "d" / "f7", 0o600)
    assert sync(fake_s3, f"{src}/", f"s3://{BUCKET}/n/").code == 0
    urllib_post = fake_s3._post
    urllib_post("/_stats/clear", {})
    back = tmp_path / "back"
    assert sync(fake_s3, f"s3://{BUCKET}/n/", f"{back}/").code == 0
    req = fake_s3.stats()["requests"]
    assert req.get("GET GetObject") == 40
    assert req.get("HEAD HeadObject", 0) <= 3, req  # markers: the root (at open, by the engine), d/
    assert rsync_diff(src, back) == ""  # modes and times came with the GETs
    urllib_post("/_stats/clear", {})
    s = summary(sync(fake_s3, "--json", f"s3://{BUCKET}/n/", f"{back}/"))
    assert s["copied"] == 0
    req = fake_s3.stats()["requests"]
    assert "GET GetObject" not in req and req.get("HEAD HeadObject", 0) >= 40


def test_ssh_host_to_s3(sshd, s3rver, tmp_path):
    """host:/data → s3:// with no local staging: the remote reads, the client uploads."""
    src = tmp_path / "src"
    make_tree(src)
    r = sync(s3rver, *sshd.sync_args(), sshd.spec(f"{src}/"), f"s3://{BUCKET}/h/")
    assert r.code == 0, r.err
    back = tmp_path / "back"
    assert sync(s3rver, f"s3://{BUCKET}/h/", f"{back}/").code == 0
    assert rsync_diff(src, back) == ""


def test_dry_run_into_a_new_prefix(fake_s3, tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a").write_bytes(b"a")
    r = sync(fake_s3, "-n", f"{src}/", f"s3://{BUCKET}/new/")
    assert r.code == 0, r.err
    assert ">f+++++++++ d/a" in r.out
    assert "PUT PutObject" not in fake_s3.stats()["requests"]


def test_credentials_and_endpoint_from_a_profile(fake_s3, tmp_path):
    """No AWS_* keys in the environment: --profile picks the credentials, region and endpoint
    from the shared files, as the AWS CLI does."""
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n"
        f"[lab]\naws_access_key_id = S3RVER\naws_secret_access_key = {FAKE_SECRET}\n")
    os.chmod(aws / "credentials", 0o600)
    (aws / "config").write_text(
        f"[profile lab]\nregion = us-east-1\nendpoint_url = {fake_s3.url}\n")
    env = {k: v for k, v in fake_s3.env.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
                "AWS_CONFIG_FILE": str(aws / "config")})
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"profile")
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(env)
    p = subprocess.run([BIN, "sync", "--profile", "lab", f"{src}/", f"s3://{BUCKET}/p/"],
                       capture_output=True, text=True, env=e)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([BIN, "sync", f"{src}/", f"s3://{BUCKET}/q/"], capture_output=True,
                       text=True, env=e)  # the default profile: wrong keys, no endpoint
    assert p.returncode != 0
    p = subprocess.run([BIN, "sync", "--profile", "nope", f"{src}/", f"s3://{BUCKET}/q/"],
                       capture_output=True, text=True, env=e)
    assert p.returncode != 0 and "nope" in p.stderr


def test_multipart_object_keeps_its_hash(fake_s3, tmp_path):
    """A file uploaded in parts gets its content hash into the object's metadata once the
    upload is complete (S3 rewrites the object onto itself), so a checksum run and verify
    answer from HEADs and never read it back."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.ckpt").write_bytes(os.urandom((24 << 20) + 7))
    (src / "small").write_bytes(b"x" * 100)
    r = sync(fake_s3, f"{src}/", f"s3://{BUCKET}/h/")
    assert r.code == 0, r.err
    req = fake_s3.stats()["requests"]
    assert req.get("PUT CopyObject") == 1, req  # the multipart one only
    fake_s3._post("/_stats/clear", {})
    s = summary(sync(fake_s3, "--json", "--checksum", f"{src}/", f"s3://{BUCKET}/h/"))
    assert s["copied"] == 0
    r = run("verify", f"{src}/", f"s3://{BUCKET}/h/", env=fake_s3.env)
    assert r.code == 0, r.err
    req = fake_s3.stats()["requests"]
    assert "GET GetObject" not in req, req
    # the hash is the content's: a same-size change behind the store's back is caught
    (src / "model.ckpt").write_bytes(os.urandom((24 << 20) + 7))
    r = run("verify", f"{src}/", f"s3://{BUCKET}/h/", env=fake_s3.env)
    assert r.code == 1 and "model.ckpt" in r.out + r.err


def test_credentials_from_a_credential_process(tmp_path):
    """A profile whose credential_process prints the keys and a session token, as aws-vault
    or `aws configure export-credentials` do: the strict fake requires the token (signed) on
    every request; the program's stderr shows only with -v; a wrong secret from the program
    gives the usual 403, naming the profile's credential_process and not the secret."""
    token = "FwoGZXIvYXdzEXAMPLE/session+token=="
    store = start_fake_s3(str(tmp_path / "fake"), "--session-token", token)
    try:
        aws = tmp_path / "aws dir"
        aws.mkdir()
        secret_file = aws / "secret"
        secret_file.write_text(FAKE_SECRET)
        prog = aws / "creds helper"  # a blank in the path: quoted on the command line
        prog.write_text(
            "#!/bin/sh\n"
            '[ "$#" = 2 ] && [ "$1" = --secret-file ] || exit 9\n'
            "echo gm-credproc-noise-on-stderr >&2\n"
            f"printf '{{\"Version\": 1, \"AccessKeyId\": \"{ACCESS_KEY}\", "
            f"\"SecretAccessKey\": \"%s\", \"SessionToken\": \"{token}\", "
            f"\"Expiration\": \"2999-01-01T00:00:00Z\"}}\\n' \"$(cat \"$2\")\"\n")
        os.chmod(prog, 0o700)
        (aws / "config").write_text(
            f"[profile vault]\nregion = us-east-1\nendpoint_url = {store.url}\n"
            f"credential_process = \"{prog}\" --secret-file '{secret_file}'\n")
        e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        e.update({"AWS_CONFIG_FILE": str(aws / "config"),
                  "AWS_SHARED_CREDENTIALS_FILE": str(aws / "none"),
                  "XDG_STATE_HOME": store.env["XDG_STATE_HOME"]})
        src = tmp_path / "src"
        src.mkdir()
        (src / "f").write_bytes(b"from a credential process")
        (src / "g").write_bytes(os.urandom(3000))
        p = subprocess.run([BIN, "sync", "--profile", "vault", f"{src}/", f"s3://{BUCKET}/cp/"],
                           capture_output=True, text=True, env=e, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "gm-credproc-noise-on-stderr" not in p.stderr
        back = tmp_path / "back"
        p = subprocess.run([BIN, "sync", "-v", "--profile", "vault", f"s3://{BUCKET}/cp/",
                            f"{back}/"], capture_output=True, text=True, env=e, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "gm-credproc-noise-on-stderr" in p.stderr
        assert (back / "f").read_bytes() == b"from a credential process"
        assert (back / "g").read_bytes() == (src / "g").read_bytes()
        assert store.stats()["requests"].get("PUT PutObject", 0) >= 2

        wrong = "WrongProcSecret0123456789"
        secret_file.write_text(wrong)
        p = subprocess.run([BIN, "sync", "-v", "-v", "--profile", "vault", f"{src}/",
                            f"s3://{BUCKET}/cp2/"], capture_output=True, text=True, env=e,
                           timeout=120)
        assert p.returncode != 0
        assert "403" in p.stderr and "credential_process of profile 'vault'" in p.stderr
        for s in (wrong, token, FAKE_SECRET):
            assert s not in p.stderr and s not in p.stdout
    finally:
        store.stop()


def test_upload_puts_each_marker_once(fake_s3, tmp_path):
    """A directory's marker is written once, with its final time, and nothing is HEADed to
    set it: a fresh upload costs one PUT per file and per directory."""
    src = tmp_path / "src"
    for d in ["a", "a/b", "c", "empty"]:
        (src / d).mkdir(parents=True)
    for f in ["a/1", "a/b/2", "c/3", "top"]:
        (src / f).write_bytes(f.encode())
    fake_s3._post("/_stats/clear", {})
    assert sync(fake_s3, f"{src}/", f"s3://{BUCKET}/m/").code == 0
    st = fake_s3.stats()
    puts = [key for op, key, _ in st["uploads"] if op == "PutObject"]
    assert sorted(puts) == sorted(set(puts)), puts  # no key written twice
    assert {"m/a/", "m/a/b/", "m/c/", "m/empty/", "m/a/1", "m/a/b/2", "m/c/3",
            "m/top"} <= set(puts)
    assert st["requests"].get("HEAD HeadObject", 0) <= 1, st["requests"]  # the root, at open
    assert st["requests"]["PUT PutObject"] == 9  # 4 files, 4 directories, the prefix's own
    back = tmp_path / "back"
    assert sync(fake_s3, f"s3://{BUCKET}/m/", f"{back}/").code == 0
    assert rsync_diff(src, back) == ""  # the empty directory and every time came back


def test_upload_without_its_journal_is_taken_over(fake_s3, tmp_path):
    """A killed multipart upload whose journal is gone (the run moved to another pod): the
    next run finds the unfinished upload of the same key, keeps the parts whose bytes match
    (their ETags are the MD5 it computes anyway) and sends only the rest, so nothing is left
    behind in the store."""
    src = tmp_path / "src"
    data = kill_mid_upload(fake_s3, src, "adopt")
    shutil.rmtree(tmp_path / "state")  # a new pod: no journal
    held = parts_sent(fake_s3.stats(), "adopt/model.ckpt")  # stored before the kill
    r = sync(fake_s3, "-v", f"{src}/", f"s3://{BUCKET}/adopt/")
    assert r.code == 0, r.err
    assert "taking over an unfinished upload" in r.err
    again = parts_sent(fake_s3.stats(), "adopt/model.ckpt")[len(held):]
    assert sorted(again) == sorted(set(range(1, 7)) - set(held)), (held, again)
    assert 4 in again  # the one the fault held back
    assert fake_s3.stats()["open_uploads"] == {BUCKET: 0}
    back = tmp_path / "back"
    assert sync(fake_s3, f"s3://{BUCKET}/adopt/", f"{back}/").code == 0
    assert (back / "model.ckpt").read_bytes() == data
    assert rsync_diff(src, back) == ""  # the object's metadata is this run's

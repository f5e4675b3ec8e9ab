"""gpumigrate sync over a real sshd on loopback: push and pull of a tree with every kind of
entry, judged by rsync -ani --checksum (which must print nothing); an unreachable host and
a host without gpumigrate give exit 4 and one clear message; a hostile server is refused
without anything written outside the destination; a transfer killed with -9 completes on
the rerun."""
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import BIN, run


def make_tree(root):
    os.makedirs(root / "dir with space" / "deeper", exist_ok=True)
    os.makedirs(root / "empty dir", exist_ok=True)
    (root / "small.txt").write_bytes(b"hello\n")
    (root / "empty").write_bytes(b"")
    (root / "dir with space" / "deeper" / "f").write_bytes(os.urandom(100000))
    (root / "new\nline").write_bytes(b"newline in the name")
    with open(os.fsencode(str(root)) + b"/bad\xff\xfeutf8", "wb") as f:
        f.write(b"invalid utf-8 name")
    (root / "big.bin").write_bytes(os.urandom(20 << 20))
    with open(root / "sparse", "wb") as f:  # data, a 30 MiB hole, data
        f.write(b"start")
        f.seek(30 << 20)
        f.write(b"end")
    os.symlink("small.txt", root / "link")
    os.symlink("/nonexistent/target", root / "dangling")
    os.link(root / "small.txt", root / "hardlink")
    os.chmod(root / "small.txt", 0o640)
    os.utime(root / "empty", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))


def rsync_diff(src, dst):
    """rsync's itemized differences by checksum (empty when the trees agree)."""
    p = subprocess.run(["rsync", "-ani", "--checksum", "-H", f"{src}/", f"{dst}/"],
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode(errors="replace")


def sync(sshd, *args, timeout=120):
    return run("sync", *sshd.sync_args(), *args, timeout=timeout)


def test_push_and_pull_every_kind(sshd, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_tree(src)
    remote = tmp_path / "remote"
    r = sync(sshd, f"{src}/", sshd.spec(f"{remote}/"))
    assert r.code == 0, r.err
    assert rsync_diff(src, remote) == ""
    assert os.stat(remote / "hardlink").st_ino == os.stat(remote / "small.txt").st_ino
    assert os.stat(remote / "sparse").st_blocks * 512 < (1 << 20)
    assert not (remote / ".gpumigrate").exists() or stat.S_ISDIR(
        os.lstat(remote / ".gpumigrate").st_mode)
    # a second run changes nothing
    r = sync(sshd, "-i", f"{src}/", sshd.spec(f"{remote}/"))
    assert r.code == 0, r.err
    assert r.out == ""

    back = tmp_path / "back"
    r = sync(sshd, "-z", sshd.spec(f"{remote}/"), f"{back}/")
    assert r.code == 0, r.err
    assert rsync_diff(src, back) == ""


def test_unreachable_host(sshd, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    closed = sshd.ssh_command.replace(f"-p {sshd.port}", "-p 1")
    r = run("sync", "--rsh", closed, "--remote-bin", sshd.remote_bin, f"{src}/",
            f"127.0.0.1:{tmp_path}/dst/")
    assert r.code == 4
    assert "cannot reach '127.0.0.1' over ssh: " in r.err
    assert "Connection refused" in r.err
    assert len([ln for ln in r.err.splitlines() if ln.startswith("gpumigrate: error")]) == 1


def test_remote_without_gpumigrate(sshd, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    r = run("sync", "--rsh", sshd.ssh_command, "--remote-bin", "/nonexistent/gpumigrate",
            f"{src}/", sshd.spec(f"{tmp_path}/dst/"))
    assert r.code == 4
    assert "gpumigrate is not installed on '127.0.0.1' (or not on its PATH)" in r.err
    assert "--remote-bin PATH" in r.err
    assert not (tmp_path / "dst").exists()


EVIL_SERVER = textwrap.dedent(r'''
    import struct, sys
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    def v(n):
        b = b""
        while True:
            c = n & 0x7f; n >>= 7
            b += bytes([c | (0x80 if n else 0)])
            if not n: return b
    def s(x): return v(len(x)) + x
    def z(n): return v((n << 1) ^ (n >> 63))
    def meta(kind, size): return v(kind)+v(0o644)+v(0)+v(0)+v(1)+v(size)+v(size)+z(1)+z(1)+v(1)+v(1)
    def send(t, i, p, flags=0): out.write(struct.pack("<IBBI", len(p), t, flags, i) + p); out.flush()
    def frame():
        h = inp.read(10)
        if len(h) < 10: sys.exit(0)
        n, t, f, i = struct.unpack("<IBBI", h)
        return t, i, inp.read(n)
    frame()  # HELLO, answered with our protocol version (proto.h: GM_PROTO_VERSION)
    send(1, 0, b"GMSYNC" + v(3) + s(b"0.1.0") + v(0x7f) + v(0) + v(2) + v(0) + s(b"")
         + v(0) + bytes(16))
    mode = sys.argv[1]
    while True:
        t, i, p = frame()
        if t == 10:   # STAT: the root is a directory, anything else a file
            send(11, i, meta(2 if p == b"\x00" else 1, 3) + v(0) + s(b""))
        elif t == 12:  # LIST
            if mode == "dotdot": names = [b"..", b"ok"]
            elif mode == "absolute": names = [b"/etc/evil"]
            else: names = [b"ok"]
            body = v(len(names))
            for n in names:
                body += s(n) + v(0) + s(b"") + meta(1, 3)
            send(13, i, body)
        elif t == 20:  # OPEN_READ: a "file" whose content claims a path outside
            send(21, i, b"evil")
            send(2, i, v(2) + s(b"gone"))
        else:
            send(2, i, v(1) + s(b"no"))
''')


@pytest.mark.parametrize("mode", ["dotdot", "absolute"])
def test_hostile_server_is_refused(sshd, tmp_path, mode):
    evil = tmp_path / "evil.py"
    evil.write_text(EVIL_SERVER)
    wrapper = tmp_path / "evil-gpumigrate"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {evil} {mode}\n")
    os.chmod(wrapper, 0o755)
    dst = tmp_path / "inner" / "dst"
    dst.mkdir(parents=True)
    r = run("sync", "--rsh", sshd.ssh_command, "--remote-bin", str(wrapper),
            sshd.spec("/whatever/"), f"{dst}/")
    assert r.code != 0
    assert "protocol error" in r.err
    assert sorted(os.listdir(tmp_path / "inner")) == ["dst"]
    assert not os.path.exists("/etc/evil")
    assert [n for n in os.listdir(dst) if n != ".gpumigrate"] == []


def test_kill_mid_transfer_then_rerun(sshd, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"big{i}").write_bytes(os.urandom(48 << 20))
    for i in range(200):
        (src / f"small{i}").write_bytes(os.urandom(1000))
    dst = tmp_path / "dst"
    args = [BIN, "sync", *sshd.sync_args(), "--streams", "2", "--bwlimit", "40M",
            f"{src}/", sshd.spec(f"{dst}/")]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline and p.poll() is None:
        if dst.exists() and any(os.scandir(dst / ".gpumigrate")) if (dst / ".gpumigrate").exists() else False:
            break
        time.sleep(0.05)
    time.sleep(1.0)
    # kill -9 the whole group: the client, its ssh processes (the servers lose their input)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    r = sync(sshd, f"{src}/", sshd.spec(f"{dst}/"))
    assert r.code == 0, r.err
    assert rsync_diff(src, dst) == ""


def test_push_with_four_writing_streams(sshd, tmp_path):
    """Every connection writes (they share the lock through its token): a tree of many small
    files in many directories, pushed over 4 streams, then changed and pushed again with
    --delete, is judged identical by rsync both times."""
    src = tmp_path / "src"
    for d in range(20):
        sub = src / f"dir{d:02d}" / "inner"
        sub.mkdir(parents=True)
        for i in range(25):
            (sub / f"f{i}").write_bytes(os.urandom(4096))
    make_tree(src)
    dst = tmp_path / "dst"
    r = sync(sshd, "--streams", "4", "-j", "8", f"{src}/", sshd.spec(f"{dst}/"))
    assert r.code == 0, r.err
    assert rsync_diff(src, dst) == ""
    assert sorted(os.listdir(dst / ".gpumigrate")) == ["lock"]

    # change, add and remove files and whole directories
    import shutil
    shutil.rmtree(src / "dir03")
    (src / "dir04" / "inner" / "f1").write_bytes(b"changed")
    (src / "dir05" / "inner" / "f2").unlink()
    (src / "dir05" / "inner" / "f2").mkdir()
    (src / "dir05" / "inner" / "f2" / "now a dir").write_bytes(b"x")
    (src / "dir99").mkdir()
    (src / "dir99" / "new").write_bytes(os.urandom(10000))
    r = sync(sshd, "--streams", "4", "-j", "8", "--delete", f"{src}/", sshd.spec(f"{dst}/"))
    assert r.code == 0, r.err
    assert rsync_diff(src, dst) == ""
    assert not (dst / "dir03").exists()


def test_changed_big_file_travels_as_a_delta(sshd, tmp_path):
    """1 MiB changed inside a 40 MiB file that the remote already has: a librsync delta
    crosses, not the file, and the rebuilt file is byte for byte the source."""
    src = tmp_path / "src"
    src.mkdir()
    data = bytearray(os.urandom(40 << 20))
    (src / "ckpt.bin").write_bytes(data)
    remote = tmp_path / "remote"
    r = sync(sshd, "--json", f"{src}/", sshd.spec(f"{remote}/"))
    assert r.code == 0, r.err
    assert r.json()["wire_bytes"] > 40 << 20
    data[17 << 20:18 << 20] = os.urandom(1 << 20)
    (src / "ckpt.bin").write_bytes(data)
    r = sync(sshd, "--json", f"{src}/", sshd.spec(f"{remote}/"))
    assert r.code == 0, r.err
    summary = r.json()
    assert summary["copied"] == 1
    assert summary["bytes_sent"] < 2 << 20
    assert summary["wire_bytes"] < 2 << 20
    assert (remote / "ckpt.bin").read_bytes() == bytes(data)
    assert rsync_diff(src, remote) == ""


def test_delta_against_an_unrelated_basis_is_still_exact(sshd, tmp_path):
    """The remote copy shares nothing with the new source: the delta carries every byte and
    the rebuilt file is still exactly the source (checked by its whole-file hash)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(20 << 20))
    remote = tmp_path / "remote"
    assert sync(sshd, f"{src}/", sshd.spec(f"{remote}/")).code == 0
    (src / "f.bin").write_bytes(os.urandom(20 << 20))
    r = sync(sshd, "--json", f"{src}/", sshd.spec(f"{remote}/"))
    assert r.code == 0, r.err
    assert r.json()["bytes_sent"] >= 20 << 20
    assert (remote / "f.bin").read_bytes() == (src / "f.bin").read_bytes()


def test_killed_many_times_at_random_then_complete(sshd, tmp_path):
    """kill -9 the client or the remote servers at random moments, six times, each time
    starting the same command again; then once more while a big file has journalled chunks:
    the last run resumes it and completes, the tree is exact, and nothing partial sits under
    a final name."""
    import random
    rng = random.Random(5)
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(2):
        (src / f"big{i}").write_bytes(os.urandom(40 << 20))
    for i in range(300):
        (src / "d" / f"small{i}").write_bytes(os.urandom(rng.randint(0, 20000)))
    dst = tmp_path / "dst"
    args = [BIN, "sync", "--json", *sshd.sync_args(), "--bwlimit", "60M", f"{src}/",
            sshd.spec(f"{dst}/")]

    def kill(p, client):
        if client:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the client and its ssh processes
            except ProcessLookupError:
                pass  # it finished first
        else:
            subprocess.run(["pkill", "-9", "-f", f"sync --server --root '?{dst}"])
        p.communicate(timeout=60)

    for attempt in range(6):
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        time.sleep(rng.uniform(0.2, 1.2))
        kill(p, attempt % 2 == 0)
    # A new big file (not a delta), slowed down, killed once its journal holds a chunk.
    (src / "big2").write_bytes(os.urandom(40 << 20))
    slow = [a if a != "60M" else "10M" for a in args]
    p = subprocess.Popen(slow, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    area = dst / ".gpumigrate"
    deadline = time.time() + 30
    while time.time() < deadline and p.poll() is None:
        journals = [e for e in os.scandir(area) if e.name.startswith("journal.")] \
            if area.exists() else []
        if any(e.stat().st_size > 200 for e in journals):
            break
        time.sleep(0.02)
    assert p.poll() is None, "the slowed copy ended before its journal held a chunk"
    kill(p, True)
    r = sync(sshd, "--json", f"{src}/", sshd.spec(f"{dst}/"))
    assert r.code == 0, r.err
    assert r.json()["resumed_bytes"] >= 8 << 20
    assert rsync_diff(src, dst) == ""
    # Whatever a kill left behind lives only in the work area.
    for d, _, files in os.walk(dst):
        if ".gpumigrate" in d:
            continue
        for f in files:
            assert (src / os.path.relpath(os.path.join(d, f), dst)).exists(), f


# ---- -X: xattr-only changes, both ways ----

def user_xattrs(path):
    return {n: os.getxattr(path, n, follow_symlinks=False)
            for n in os.listxattr(path, follow_symlinks=False) if n.startswith("user.")}


def items(res):
    assert res.code == 0, res.err
    return sorted(ln for ln in res.out.splitlines() if ln)


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_xattr_only_changes_are_synced_with_X(sshd, tmp_path, direction):
    """The remote side reads (XATTRS) or sets (SET_XATTRS) the xattrs of unchanged entries:
    added, changed and removed names on a file and a directory; no -X, no change; a dry run
    changes nothing; a second run has nothing to do."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    probe = src / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError as e:
        pytest.skip(f"no user xattrs under {tmp_path}: {e}")
    probe.unlink()
    (src / "d").mkdir()
    (src / "f").write_bytes(b"content\n")
    (src / "d" / "g").write_bytes(b"g\n")
    os.setxattr(src / "f", "user.keep", b"k")
    os.setxattr(src / "f", "user.chg", b"old")
    os.setxattr(src / "f", "user.gone", b"x")
    os.setxattr(src / "d", "user.tag", b"v1")

    def go(*args):
        if direction == "push":
            return sync(sshd, *args, f"{src}/", sshd.spec(f"{dst}/"))
        return sync(sshd, *args, sshd.spec(f"{src}/"), f"{dst}/")

    r = go("-X")
    assert r.code == 0, r.err
    for rel in ("f", "d", "d/g"):
        assert user_xattrs(dst / rel) == user_xattrs(src / rel), rel
    st = os.stat(dst / "f")

    os.setxattr(src / "f", "user.chg", b"new value")
    os.setxattr(src / "f", "user.added", b"\x00bin\xff")
    os.removexattr(src / "f", "user.gone")
    os.setxattr(src / "d", "user.tag", b"v2")
    old_f = {"user.keep": b"k", "user.chg": b"old", "user.gone": b"x"}

    assert items(go("-i")) == []
    assert user_xattrs(dst / "f") == old_f
    assert items(go("-X", "-i", "-n")) == [".d........x d/", ".f........x f"]
    assert user_xattrs(dst / "f") == old_f
    assert user_xattrs(dst / "d") == {"user.tag": b"v1"}
    assert items(go("-X", "-i")) == [".d........x d/", ".f........x f"]
    assert user_xattrs(dst / "f") == {"user.keep": b"k", "user.chg": b"new value",
                                      "user.added": b"\x00bin\xff"}
    assert user_xattrs(dst / "d") == {"user.tag": b"v2"}
    now = os.stat(dst / "f")
    assert (now.st_mtime_ns, now.st_ino, now.st_size) == (st.st_mtime_ns, st.st_ino, st.st_size)
    assert (dst / "f").read_bytes() == b"content\n"
    assert items(go("-X", "-i")) == []

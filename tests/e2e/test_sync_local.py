"""`gpumigrate sync` between local trees, with rsync as the referee: a tree holding every kind
of entry (empty files and directories, symlinks inside and pointing outside, hard links, a
sparse file, names with spaces, a newline and invalid UTF-8, modes, mtimes) must come out so
that `rsync -aniHc --delete` finds nothing to do. Also: re-runs copy nothing, --delete only
after a clean run, --dry-run writes nothing, filters, --checksum, shards, manifests, resume
after kill -9, SIGINT, a full disk."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BIN, run

RSYNC = shutil.which("rsync")


def write(path, data=b"", mode=None, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def make_tree(root):
    """Every kind of entry; returns root as bytes."""
    r = os.fsencode(root)
    os.makedirs(r, exist_ok=True)
    write(os.path.join(r, b"a.txt"), b"hello\n", 0o644, 1_600_000_000)
    write(os.path.join(r, b"empty"), b"")
    os.makedirs(os.path.join(r, b"emptydir"))
    write(os.path.join(r, b"sub", b"deep", b"x.bin"), os.urandom(100_000), 0o600)
    write(os.path.join(r, b"sub", b"run.sh"), b"#!/bin/sh\n", 0o755)
    write(os.path.join(r, b"with space.txt"), b"space\n")
    write(os.path.join(r, b"new\nline"), b"nl\n")
    write(os.path.join(r, b"bad\xff\xfeutf8"), b"latin\n")
    os.symlink(b"a.txt", os.path.join(r, b"link-in"))
    os.symlink(b"/etc/hostname", os.path.join(r, b"link-out"))
    os.symlink(b"../a.txt", os.path.join(r, b"sub", b"link-up"))
    os.link(os.path.join(r, b"a.txt"), os.path.join(r, b"sub", b"hard"))
    os.link(os.path.join(r, b"a.txt"), os.path.join(r, b"hard2"))
    sparse = os.path.join(r, b"sparse")
    with open(sparse, "wb") as f:
        f.truncate(64 << 20)
        f.seek(32 << 20)
        f.write(b"data in the middle")
    os.chmod(os.path.join(r, b"sub"), 0o750)
    os.utime(os.path.join(r, b"sub"), (1_500_000_000, 1_500_000_000))
    return r


def referee(src, dst):
    """rsync's list of what it would still change (empty = identical trees)."""
    if not RSYNC:
        pytest.skip("rsync is not installed")
    p = subprocess.run([RSYNC, "-aniHc", "--delete", "--exclude=/.gpumigrate",
                        os.fsencode(src) + b"/", os.fsencode(dst) + b"/"],
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode("utf-8", "replace")


def sync(*args, **kw):
    return run("sync", *[os.fsdecode(a) for a in args], **kw)


def summary(res):
    assert res.code == 0, res.err
    return json.loads(res.out)


def files_under(root):
    out = set()
    for d, dirs, files in os.walk(os.fsencode(root)):
        if d == os.fsencode(root):
            dirs[:] = [x for x in dirs if x != b".gpumigrate"]
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), os.fsencode(root)))
    return out


def test_every_kind_matches_rsync(tmp_path):
    src = make_tree(tmp_path / "src")
    dst = tmp_path / "dst"
    s = summary(sync("--json", src + b"/", dst))
    assert s["copied"] == 8 and s["failed"] == 0
    assert s["hardlinks"] == 2
    assert referee(src, dst) == ""
    d = os.fsencode(dst)
    # links are links, never followed, even when they point outside
    assert os.readlink(os.path.join(d, b"link-out")) == b"/etc/hostname"
    assert os.readlink(os.path.join(d, b"sub", b"link-up")) == b"../a.txt"
    # hard links share an inode
    ino = os.stat(os.path.join(d, b"a.txt")).st_ino
    assert os.stat(os.path.join(d, b"sub", b"hard")).st_ino == ino
    assert os.stat(os.path.join(d, b"hard2")).st_ino == ino
    # holes stay holes
    ss, ds = os.stat(os.path.join(src, b"sparse")), os.stat(os.path.join(d, b"sparse"))
    assert ds.st_size == 64 << 20
    assert ds.st_blocks <= ss.st_blocks + 16, (ds.st_blocks, ss.st_blocks)
    assert os.stat(os.path.join(d, b"sub", b"deep", b"x.bin")).st_mode & 0o777 == 0o600
    assert os.stat(os.path.join(d, b"sub")).st_mtime == 1_500_000_000
    # nothing left behind in the work area
    assert [n for n in os.listdir(os.path.join(d, b".gpumigrate")) if n != b"lock"] == []

    again = summary(sync("--json", src + b"/", dst))
    assert again["copied"] == 0 and again["bytes_sent"] == 0
    assert again["unchanged"] == again["files"] == 10


def test_without_trailing_slash_copies_the_directory_itself(tmp_path):
    src = tmp_path / "data"
    write(str(src / "f"), b"x")
    dst = tmp_path / "out"
    dst.mkdir()
    assert sync(src, dst).code == 0
    assert (dst / "data" / "f").read_bytes() == b"x"
    assert referee(src, dst / "data") == ""
    # a single file: into an existing directory, or as the given name
    assert sync(src / "f", dst).code == 0
    assert (dst / "f").read_bytes() == b"x"
    assert sync(src / "f", dst / "renamed").code == 0
    assert (dst / "renamed").read_bytes() == b"x"


def test_missing_source(tmp_path):
    r = sync(tmp_path / "nope", tmp_path / "dst")
    assert r.code == 4
    assert f"no such file or directory: '{tmp_path / 'nope'}'" in r.err
    assert not (tmp_path / "dst").exists()


def test_delete_and_dry_run(tmp_path):
    src = make_tree(tmp_path / "src")
    dst = tmp_path / "dst"
    # a dry run lists everything and writes nothing, not even the destination
    r = sync("-n", src + b"/", dst)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert ">f+++++++++ a.txt" in lines
    assert "cd+++++++++ emptydir/" in lines
    assert "cL+++++++++ link-out" in lines
    assert "hf+++++++++ sub/hard" in lines or "hf+++++++++ a.txt" in lines
    assert ">f+++++++++ new\\#012line" in lines
    assert not dst.exists()
    # the same as JSON: one array of every item
    r = sync("--json", "-n", src + b"/", dst)
    items = json.loads(r.out)["items"]
    assert {"change": ">f+++++++++", "path": "a.txt"} in items
    assert len(items) == len(lines)
    assert not dst.exists()

    assert sync(src + b"/", dst).code == 0
    write(str(dst / "extra.txt"), b"x")
    write(str(dst / "olddir" / "f"), b"y")
    write(str(dst / "keep.log"), b"z")
    r = sync("-n", "--delete", "--exclude", "*.log", src + b"/", dst)
    assert "*deleting   extra.txt" in r.out.splitlines()
    assert "*deleting   olddir" in r.out.splitlines()
    assert "keep.log" not in r.out
    assert (dst / "extra.txt").exists()
    s = summary(sync("--json", "--delete", "--exclude", "*.log", src + b"/", dst))
    assert s["deleted"] == 2 and s["delete"] == "done"
    assert not (dst / "extra.txt").exists() and not (dst / "olddir").exists()
    assert (dst / "keep.log").exists()  # excluded: not deleted
    os.unlink(dst / "keep.log")  # (changes the top's mtime: the next run sets it back)
    assert summary(sync("--json", src + b"/", dst))["copied"] == 0
    assert referee(src, dst) == ""


def test_delete_skipped_after_a_source_error(tmp_path):
    src = tmp_path / "src"
    write(str(src / "ok"), b"1")
    dst = tmp_path / "dst"
    assert sync(str(src) + "/", dst).code == 0
    write(str(dst / "extra"), b"x")
    if os.geteuid() != 0:
        bad = src / "locked"
        bad.mkdir()
        bad.chmod(0)
    else:
        # root reads everything: a path too long for any endpoint is the source error
        fd = os.open(src, os.O_RDONLY)
        for _ in range(22):
            name = "d" * 200
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        os.close(fd)
    try:
        r = sync("--json", "--delete", str(src) + "/", dst)
    finally:
        if os.geteuid() != 0:
            (src / "locked").chmod(0o755)
    assert r.code == 3, r.err
    s = json.loads(r.out)
    assert s["delete"] == "skipped" and s["deleted"] == 0 and s["failed"] >= 1
    assert "failed during the transfer" in s["delete_skipped"]
    assert "--delete skipped" in r.err
    assert (dst / "extra").exists()


def test_filters(tmp_path):
    src = tmp_path / "src"
    for p in ["a.log", "b.txt", "keep/c.log", "skip/d.txt", "sub/skip/e.txt"]:
        write(str(src / p), b"x")
    dst = tmp_path / "dst"
    r = sync("--exclude", "/skip/", "--include", "keep/***", "--exclude", "*.log",
             str(src) + "/", dst)
    assert r.code == 0, r.err
    assert files_under(dst) == {b"b.txt", b"keep/c.log", b"sub/skip/e.txt"}


def test_checksum_catches_same_size_same_mtime_change(tmp_path):
    src = tmp_path / "src"
    write(str(src / "f"), b"aaaa", mtime=1_700_000_000)
    dst = tmp_path / "dst"
    assert sync(str(src) + "/", dst).code == 0
    write(str(src / "f"), b"bbbb", mtime=1_700_000_000)
    assert summary(sync("--json", str(src) + "/", dst))["copied"] == 0
    assert (dst / "f").read_bytes() == b"aaaa"
    s = summary(sync("--json", "-c", str(src) + "/", dst))
    assert s["copied"] == 1
    assert (dst / "f").read_bytes() == b"bbbb"
    assert summary(sync("--json", "-c", str(src) + "/", dst))["copied"] == 0


def test_shards_cover_the_tree_once(tmp_path):
    src = tmp_path / "src"
    for i in range(60):
        write(str(src / f"d{i % 7}" / f"f{i}"), str(i).encode())
    os.makedirs(src / "emptydir")
    parts = []
    for i in range(3):
        dst = tmp_path / f"dst{i}"
        s = summary(sync("--json", "--shard", f"{i}/3", str(src) + "/", dst))
        parts.append(files_under(dst))
        assert s["copied"] == len(parts[-1])
        assert (dst / "emptydir").is_dir()  # every shard makes the directories
    assert set().union(*parts) == files_under(src)
    assert sum(len(p) for p in parts) == 60
    assert all(len(p) > 0 for p in parts)
    # --delete with a shard removes only its own extras
    write(str(tmp_path / "dst0" / "d1" / "zz-extra"), b"x")
    for name in ["f1", "f8"]:
        write(str(tmp_path / "dst0" / "d1" / name), b"other")
    r = sync("--delete", "--shard", "0/3", str(src) + "/", tmp_path / "dst0")
    assert r.code == 0
    left = files_under(tmp_path / "dst0") - parts[0]
    assert all(p.startswith(b"d1/") for p in left)
    assert run("sync", "--shard", "3/3", "a", "b").code == 2


def test_shards_keep_hard_links(tmp_path):
    """Every name of a file with several falls to the shard of its inode, which copies it
    once and links the others: shards run one after another into one destination leave
    the same links as one run."""
    src = tmp_path / "src"
    groups = []
    for g in range(12):
        first = src / f"a{g % 3}" / f"g{g}"
        write(str(first), f"group {g}".encode() * 100)
        names = [first]
        for k in range(3):
            other = src / f"b{(g + k) % 4}" / f"g{g}-{k}"
            os.makedirs(other.parent, exist_ok=True)
            os.link(first, other)
            names.append(other)
        groups.append(names)
    for i in range(10):
        write(str(src / "plain" / f"p{i}"), str(i).encode())
    dst = tmp_path / "dst"
    copied = 0
    for i in range(3):
        s = summary(sync("--json", "--shard", f"{i}/3", str(src) + "/", dst))
        copied += s["copied"]
        assert s["failed"] == 0
    assert copied == 12 + 10  # one copy per inode, the other names linked
    assert files_under(dst) == files_under(src)
    for names in groups:
        inos = {os.stat(dst / n.relative_to(src)).st_ino for n in names}
        assert len(inos) == 1, names
        assert os.stat(dst / names[0].relative_to(src)).st_nlink == 4
    # a rerun of every shard changes nothing
    for i in range(3):
        s = summary(sync("--json", "--shard", f"{i}/3", str(src) + "/", dst))
        assert s["copied"] == 0 and s["hardlinks"] == 0


def test_manifest_and_verify(tmp_path):
    src = make_tree(tmp_path / "src")
    dst = tmp_path / "dst"
    man = tmp_path / "m.jsonl"
    assert sync("--manifest", man, src + b"/", dst).code == 0
    lines = [json.loads(x) for x in man.read_text().splitlines()]
    by_path = {x["path"]: x for x in lines}
    assert len(lines) == 10
    assert by_path["a.txt"]["size"] == 6 and by_path["a.txt"]["mode"] == "0644"
    assert by_path["a.txt"]["mtime"] == "2020-09-13T12:26:40.000000000Z"
    assert len(by_path["a.txt"]["xxh128"]) == 32 and by_path["a.txt"]["copied"] is True
    assert any("path_hex" in x for x in lines)  # the invalid UTF-8 name
    assert not [n for n in os.listdir(tmp_path) if ".tmp." in n]

    # a second run hashes the unchanged files for the record
    man2 = tmp_path / "m2.jsonl"
    assert sync("--manifest", man2, src + b"/", dst).code == 0
    lines2 = {json.loads(x)["path"]: json.loads(x) for x in man2.read_text().splitlines()}
    assert lines2["a.txt"]["xxh128"] == by_path["a.txt"]["xxh128"]
    assert lines2["a.txt"]["copied"] is False

    r = run("verify", "--manifest", str(man), str(dst))
    assert r.code == 0, r.out + r.err
    with open(dst / "sub" / "deep" / "x.bin", "r+b") as f:
        f.seek(5000)
        b = f.read(1)
        f.seek(5000)
        f.write(bytes([b[0] ^ 1]))
    r = run("verify", "--manifest", str(man), str(dst))
    assert r.code == 1
    assert "differs  sub/deep/x.bin" in r.out
    j = run("--json", "verify", "--manifest", str(man), str(dst))
    assert j.code == 1
    diffs = json.loads(j.out)["differences"]
    assert [(d["kind"], d["path"]) for d in diffs] == [("differs", "sub/deep/x.bin")]


def wait_for(cond, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def area_bytes(dst):
    area = os.path.join(dst, ".gpumigrate")
    total = 0
    for d, _, files in os.walk(area):
        for f in files:
            try:
                total += os.stat(os.path.join(d, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def test_kill_9_then_resume(tmp_path):
    src = tmp_path / "src"
    write(str(src / "big"), os.urandom(72 << 20))
    dst = tmp_path / "dst"
    p = subprocess.Popen([BIN, "sync", "--bwlimit", "24M", str(src) + "/", str(dst)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: area_bytes(dst) > (24 << 20)), "no progress"
    finally:
        p.kill()
        p.wait()
    assert not (dst / "big").exists()
    s = summary(sync("--json", str(src) + "/", dst))
    assert s["copied"] == 1
    assert s["resumed_bytes"] >= 16 << 20, s
    assert s["resumed_bytes"] % (8 << 20) == 0
    assert s["bytes_sent"] + s["resumed_bytes"] == 72 << 20
    assert referee(src, dst) == ""


def test_sigint_exits_130_and_resumes(tmp_path):
    src = tmp_path / "src"
    write(str(src / "big"), os.urandom(40 << 20))
    dst = tmp_path / "dst"
    p = subprocess.Popen([BIN, "sync", "--bwlimit", "16M", str(src) + "/", str(dst)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_for(lambda: area_bytes(dst) > (8 << 20))
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 130
    assert b"interrupted" in err
    assert not (dst / "big").exists()
    s = summary(sync("--json", str(src) + "/", dst))
    assert s["resumed_bytes"] > 0
    assert (dst / "big").read_bytes() == (src / "big").read_bytes()


def test_disk_full(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    dst = tmp_path / "small"
    dst.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(dst)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        src = tmp_path / "src"
        write(str(src / "a"), os.urandom(1 << 20))
        for i in range(7):
            write(str(src / f"b{i}"), os.urandom(1 << 20))
        r = sync("--json", str(src) + "/", dst)
        assert r.code in (3, 4), r.err
        assert "is full" in r.err and "free at least" in r.err
        s = json.loads(r.out)
        assert s["no_space"]["bytes_needed"] >= 3 << 20
        # whatever has a final name is complete and correct
        for name in os.listdir(dst):
            if name != ".gpumigrate":
                assert (dst / name).read_bytes() == (src / name).read_bytes()
        assert s["copied"] == len([n for n in os.listdir(dst) if n != ".gpumigrate"])
    finally:
        subprocess.run(["umount", str(dst)])


# ---- -X: xattr-only changes ----

def user_xattrs(path):
    """The user.* xattrs of path (not followed), as a dict."""
    return {n: os.getxattr(path, n, follow_symlinks=False)
            for n in os.listxattr(path, follow_symlinks=False) if n.startswith("user.")}


def need_user_xattrs(path):
    """Skips unless the file system under path keeps user.* xattrs (tmpfs does only on
    kernels from 6.6; ext4, xfs and btrfs do)."""
    probe = os.path.join(path, ".xattr-probe")
    write(probe, b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError as e:
        pytest.skip(f"no user xattrs under {path}: {e}")
    finally:
        os.unlink(probe)


def items(res):
    assert res.code == 0, res.err
    return sorted(ln for ln in res.out.splitlines() if ln)


def xattr_scenario(tmp_path, sync_to, dst_path):
    """After a first -X sync, only xattrs change on an unchanged file and on a directory:
    a run without -X leaves them, a dry run lists them and changes nothing, a run with -X
    updates exactly them (added, changed and removed names) and leaves content and mtime
    alone, and the next one has nothing to do. sync_to(*args) runs sync with args + SRC/ DST/.
    """
    src = tmp_path / "src"
    need_user_xattrs(str(tmp_path))
    write(str(src / "f"), b"content\n", 0o644, 1_600_000_000)
    write(str(src / "d" / "g"), b"g\n", 0o644, 1_600_000_000)
    write(str(src / "same"), b"same\n", 0o644, 1_600_000_000)
    os.setxattr(src / "f", "user.keep", b"k")
    os.setxattr(src / "f", "user.chg", b"old")
    os.setxattr(src / "f", "user.gone", b"x")
    os.setxattr(src / "d", "user.tag", b"v1")
    os.setxattr(src / "same", "user.s", b"1")
    os.utime(src / "d", (1_500_000_000, 1_500_000_000))
    dst = dst_path
    r = sync_to("-X")
    assert r.code == 0, r.err
    for rel in ("f", "d", "same", "d/g"):
        assert user_xattrs(dst / rel) == user_xattrs(src / rel), rel
    before = {rel: os.stat(dst / rel) for rel in ("f", "d", "same")}

    os.setxattr(src / "f", "user.chg", b"new value")
    os.setxattr(src / "f", "user.added", b"\x00bin\xff")
    os.removexattr(src / "f", "user.gone")
    os.setxattr(src / "d", "user.tag", b"v2")
    want_f = {"user.keep": b"k", "user.chg": b"new value", "user.added": b"\x00bin\xff"}
    old_f = {"user.keep": b"k", "user.chg": b"old", "user.gone": b"x"}

    # without -X nothing is compared, nothing changes
    assert items(sync_to("-i")) == []
    assert user_xattrs(dst / "f") == old_f
    assert user_xattrs(dst / "d") == {"user.tag": b"v1"}
    # a dry run lists exactly them and changes nothing
    assert items(sync_to("-X", "-i", "-n")) == [".d........x d/", ".f........x f"]
    assert user_xattrs(dst / "f") == old_f
    assert user_xattrs(dst / "d") == {"user.tag": b"v1"}
    # -X updates exactly them
    assert items(sync_to("-X", "-i")) == [".d........x d/", ".f........x f"]
    assert user_xattrs(dst / "f") == want_f
    assert user_xattrs(dst / "d") == {"user.tag": b"v2"}
    assert user_xattrs(dst / "same") == {"user.s": b"1"}
    assert (dst / "f").read_bytes() == b"content\n"
    for rel, st in before.items():
        now = os.stat(dst / rel)
        assert (now.st_mtime_ns, now.st_ino, now.st_size, now.st_mode) == \
            (st.st_mtime_ns, st.st_ino, st.st_size, st.st_mode), rel
    # nothing left to do
    assert items(sync_to("-X", "-i")) == []
    # counted: one entry's attributes updated, no content sent
    os.setxattr(src / "same", "user.s", b"2")
    r = sync_to("-X", "--json")
    assert r.code == 0, r.err
    s = json.loads(r.out)
    assert (s["meta_updated"], s["copied"], s["unchanged"], s["bytes_sent"]) == (1, 0, 3, 0)
    assert user_xattrs(dst / "same") == {"user.s": b"2"}
    if RSYNC:  # the referee agrees the xattrs match
        p = subprocess.run([RSYNC, "-aniX", "--exclude=/.gpumigrate", f"{src}/", f"{dst}/"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert p.stdout == ""


def test_xattr_only_changes_are_synced_with_X(tmp_path):
    dst = tmp_path / "dst"
    xattr_scenario(tmp_path, lambda *a: sync(*a, f"{tmp_path / 'src'}/", f"{dst}/"), dst)

"""`gpumigrate sync --watch`: after the first pass the destination follows creates, writes,
renames, deletes and new directory trees at the source until SIGINT, and the result is what
rsync would make (rsync -ani --checksum --delete as referee prints nothing)."""
import os
import shutil
import signal
import subprocess
import time

from conftest import BIN, run


def rsync_diff(src, dst):
    proc = subprocess.run(["rsync", "-aniH", "--checksum", "--delete", "--exclude=/.gpumigrate",
                           src, dst], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def wait_same(src, dst, timeout=15):
    deadline = time.time() + timeout
    diff = rsync_diff(src, dst)
    while diff and time.time() < deadline:
        time.sleep(0.1)
        diff = rsync_diff(src, dst)
    return diff


def start_watch(*args):
    proc = subprocess.Popen([BIN, "sync", "-v", "--no-progress", "--watch", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # The first pass is done and the watch is on once it says so.
    line = b""
    deadline = time.time() + 15
    while b"watching" not in line and time.time() < deadline:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "sync --watch ended early"
    assert b"watching" in line
    return proc


def stop(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    return proc.returncode, out, err


def test_watch_follows_every_kind_of_change(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    (src / "a" / "keep").write_bytes(b"1" * 100)
    (src / "a" / "old-name").write_bytes(b"rename me")
    (src / "b" / "gone").write_bytes(b"delete me")
    proc = start_watch("--delete", f"{src}/", f"{dst}/")
    try:
        assert rsync_diff(f"{src}/", f"{dst}/") == ""
        (src / "a" / "new").write_bytes(os.urandom(200_000))            # create
        (src / "a" / "keep").write_bytes(b"2" * 100)                    # rewrite
        os.rename(src / "a" / "old-name", src / "b" / "new-name")       # rename across dirs
        (src / "b" / "gone").unlink()                                   # delete
        (src / "c" / "d" / "e").mkdir(parents=True)                     # a new tree
        (src / "c" / "d" / "e" / "deep").write_bytes(b"deep")
        os.symlink("../a/new", src / "c" / "link")
        assert wait_same(f"{src}/", f"{dst}/") == ""
        # The new tree is watched too.
        (src / "c" / "d" / "e" / "later").write_bytes(b"later")
        shutil.rmtree(src / "a")
        assert wait_same(f"{src}/", f"{dst}/") == ""
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert b"stopped watching" in err
    # Passes work in the destination's own area, never litter subdirectories with it.
    areas = [d for d, subdirs, _ in os.walk(dst) if ".gpumigrate" in subdirs]
    assert areas == [str(dst)]


def test_watch_without_trailing_slash_lands_below_dst(tmp_path):
    src, dst = tmp_path / "data", tmp_path / "dst"
    src.mkdir()
    (src / "x").write_bytes(b"x")
    proc = start_watch(str(src), f"{dst}/")
    try:
        (src / "y").write_bytes(b"y")
        assert wait_same(str(src), f"{dst}/") == ""
        assert (dst / "data" / "y").read_bytes() == b"y"
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert not (dst / "data" / ".gpumigrate").exists()


def test_watch_refusals(tmp_path):
    (tmp_path / "s").mkdir()
    r = run("sync", "--watch", "somehost:/data/", str(tmp_path / "d"))
    assert r.code == 2 and "--watch needs a local source" in r.err
    r = run("sync", "--watch", "--dry-run", f"{tmp_path}/s/", str(tmp_path / "d"))
    assert r.code == 2 and "--dry-run" in r.err
    r = run("sync", "--watch", "--shard", "0/2", f"{tmp_path}/s/", str(tmp_path / "d"))
    assert r.code == 2 and "--shard" in r.err

"""`gpumigrate verify SRC DST`: identical trees exit 0; every kind of difference (missing,
extra, differs by size, by content with the same size and time, by symlink target, kind)
exits 1 and is named, one line each and in --json."""
import json
import os
import shutil

from conftest import run


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tree(root):
    write(os.path.join(root, "a"), b"alpha")
    write(os.path.join(root, "d", "b"), b"beta")
    write(os.path.join(root, "d", "c"), b"gamma")
    write(os.path.join(root, "e", "f"), b"phi")
    write(os.path.join(root, "n\nl"), b"newline")
    os.makedirs(os.path.join(root, "empty"))
    os.symlink("a", os.path.join(root, "ln"))


def test_identical(tmp_path):
    tree(tmp_path / "s")
    shutil.copytree(tmp_path / "s", tmp_path / "d", symlinks=True)
    r = run("verify", f"{tmp_path}/s/", f"{tmp_path}/d/")
    assert r.code == 0, r.out + r.err
    assert r.out == ""
    j = run("--json", "verify", f"{tmp_path}/s/", f"{tmp_path}/d/")
    assert j.code == 0
    doc = json.loads(j.out)
    assert doc["identical"] is True and doc["files"] == 5 and doc["differences"] == []


def test_every_difference_is_named(tmp_path):
    s, d = tmp_path / "s", tmp_path / "d"
    tree(s)
    shutil.copytree(s, d, symlinks=True)
    os.unlink(d / "a")                          # missing
    write(str(d / "zz"), b"extra")              # extra
    write(str(d / "d" / "b"), b"BETA")          # same size, other content
    st = os.stat(s / "d" / "b")
    os.utime(d / "d" / "b", ns=(st.st_atime_ns, st.st_mtime_ns))
    write(str(d / "d" / "c"), b"gam")           # other size
    os.unlink(d / "ln")
    os.symlink("elsewhere", d / "ln")           # other target
    shutil.rmtree(d / "e")
    write(str(d / "e"), b"now a file")          # kind
    shutil.rmtree(d / "empty")                  # a missing directory
    r = run("verify", f"{s}/", f"{d}/")
    assert r.code == 1, r.err
    lines = sorted(line.split("  (")[0] for line in r.out.splitlines())
    assert lines == sorted([
        "missing  a", "extra    zz", "differs  d/b", "differs  d/c", "differs  ln",
        "kind     e", "missing  empty",
    ])
    assert "content: xxh128" in r.out and "size: 3 at the source, 5" not in r.out
    assert "size: 5 at the source, 3 at the destination" in r.out
    assert "symlink target: 'a' at the source, 'elsewhere'" in r.out
    assert "a directory at the source, a file at the destination" in r.out

    j = run("--json", "verify", f"{s}/", f"{d}/")
    assert j.code == 1
    doc = json.loads(j.out)
    assert doc["identical"] is False and doc["difference_count"] == 7
    got = sorted((x["kind"], x["path"]) for x in doc["differences"])
    assert got == sorted([("missing", "a"), ("extra", "zz"), ("differs", "d/b"),
                          ("differs", "d/c"), ("differs", "ln"), ("kind", "e"),
                          ("missing", "empty")])


def test_newline_name_and_missing_tree(tmp_path):
    s, d = tmp_path / "s", tmp_path / "d"
    tree(s)
    shutil.copytree(s, d, symlinks=True)
    os.unlink(d / "n\nl")
    r = run("verify", f"{s}/", f"{d}/")
    assert r.code == 1
    assert r.out.startswith("missing  n\\#012l")
    r = run("verify", f"{s}/", f"{tmp_path}/nope/")
    assert r.code == 4
    assert "no such file or directory" in r.err
    assert run("verify", str(s)).code == 2

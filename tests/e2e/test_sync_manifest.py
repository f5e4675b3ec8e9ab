"""The sync manifest's hashes are the standard XXH3-128 that `xxhsum -H2` prints, so an
auditor can check a destination without gpumigrate; every file of the selection is listed,
copied or not."""
import json
import os
import subprocess

from conftest import run


def test_manifest_hashes_match_xxhsum(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (src / "empty").write_bytes(b"")
    (src / "d" / "big").write_bytes(os.urandom(9 << 20))  # more than one 8 MiB chunk
    with open(src / "d" / "sparse", "wb") as f:
        f.truncate(3 << 20)
        f.write(b"head")
    r = run("sync", "-q", f"{src}/", f"{dst}/")
    assert r.code == 0, r.err
    (src / "new").write_bytes(b"new")
    manifest = tmp_path / "m.jsonl"
    r = run("sync", "-q", "--manifest", str(manifest), f"{src}/", f"{dst}/")
    assert r.code == 0, r.err
    lines = [json.loads(l) for l in manifest.read_text().splitlines()]
    by_path = {l["path"]: l for l in lines}
    assert sorted(by_path) == ["d/big", "d/sparse", "empty", "new"]
    assert by_path["new"]["copied"] is True and by_path["d/big"]["copied"] is False
    for path, line in by_path.items():
        out = subprocess.run(["xxhsum", "-H2", str(src / path)], capture_output=True,
                             text=True, check=True).stdout
        assert line["xxh128"] == out.split()[0], path
        assert line["size"] == os.path.getsize(src / path)

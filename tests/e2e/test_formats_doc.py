"""doc/formats.md documents every key the inventory document has."""
import json
import os
import re

from conftest import run, fixture

SRC = os.environ.get("GM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))


def keys(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "unknown":
                out.add(k)
                keys(v, out)
            else:
                for entry in v.values():
                    keys(entry, out)
    elif isinstance(node, list):
        for v in node:
            keys(v, out)
    return out


def test_every_inventory_key_is_documented():
    doc = open(os.path.join(SRC, "doc", "formats.md"), encoding="utf-8").read()
    documented = set(re.findall(r"`([a-z_]+)`", doc))
    r = run("inventory", "--json", "--sysroot", fixture("sysroot", "onprem-l40s"),
            nvml_fixture="a2-highgpu-8g.yaml")
    assert r.code == 0, r.err
    found = keys(json.loads(r.out), set())
    missing = sorted(found - documented - {"state", "reason"})
    assert not missing, f"keys not in doc/formats.md: {missing}"

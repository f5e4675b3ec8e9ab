"""The documentation matches the code: every option a command accepts is in its man page,
every command has a page, and the man pages build with scdoc."""
import os
import re
import subprocess

import pytest

from conftest import run

SRC = os.environ.get("GM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))


def commands():
    out = run("--help").out
    block = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def options(cmd):
    out = run(cmd, "--help").out
    own = out.split("global options:", 1)[0]
    return re.findall(r"--([a-z][a-z0-9-]*)", own)


@pytest.mark.parametrize("cmd", [c for c in commands() if c != "completion"])
def test_every_option_is_in_the_man_page(cmd):
    page = os.path.join(SRC, "doc", f"gpumigrate-{cmd}.1.scd")
    assert os.path.exists(page), f"no man page for {cmd}"
    text = open(page, encoding="utf-8").read()
    for opt in options(cmd):
        assert f"*--{opt}*" in text, f"--{opt} of {cmd} is not documented in {page}"


def test_global_options_in_main_page():
    text = open(os.path.join(SRC, "doc", "gpumigrate.1.scd"), encoding="utf-8").read()
    for opt in ("json", "quiet", "verbose", "color", "version", "help"):
        assert f"*--{opt}*" in text
    for cmd in commands():
        assert f"*{cmd}*" in text, f"command {cmd} missing from gpumigrate(1)"


def test_man_pages_build():
    for name in os.listdir(os.path.join(SRC, "doc")):
        if name.endswith(".scd"):
            with open(os.path.join(SRC, "doc", name), "rb") as f:
                proc = subprocess.run(["scdoc"], stdin=f, capture_output=True)
            assert proc.returncode == 0, f"{name}: {proc.stderr.decode()}"
            assert proc.stdout.startswith(b".\\\"") or b".TH" in proc.stdout

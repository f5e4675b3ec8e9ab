"""Shared fixtures for the e2e suite: where the built binary, the fake NVML library and the
fixtures are, and a helper that runs the binary the way a user would."""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("GPUMIGRATE_BIN", "build/gpumigrate")
FIXTURES = os.environ.get("GM_FIXTURES", os.path.join(os.path.dirname(__file__), "..", "fixtures"))
FAKE_NVML = os.environ.get("GM_FAKE_NVML", "")


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)


def run(*args, env=None, nvml_fixture=None, input=None, timeout=60):
    """Runs gpumigrate with args. nvml_fixture: a file under fixtures/nvml to serve through
    the fake NVML library; without it NVML is pointed at a library that does not exist, so
    the host's real driver (if any) never leaks into a test."""
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    if nvml_fixture:
        e["GPUMIGRATE_NVML_LIBRARY"] = FAKE_NVML
        e["GPUMIGRATE_FAKE_NVML"] = os.path.join(FIXTURES, "nvml", nvml_fixture)
    else:
        e["GPUMIGRATE_NVML_LIBRARY"] = "/nonexistent/libnvidia-ml.so.1"
    if env:
        e.update(env)
    proc = subprocess.run([BIN, *args], capture_output=True, text=True, env=e, input=input,
                          timeout=timeout)
    return Result(proc)


@pytest.fixture
def gm():
    return run


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)

from sshd import sshd  # noqa: E402,F401  (the real sshd fixture, tests/e2e/sshd.py)
from objstore import fake_gcs, fake_s3, s3rver  # noqa: E402,F401  (tests/e2e/objstore.py)

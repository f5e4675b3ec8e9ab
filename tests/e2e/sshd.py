"""A real OpenSSH server on loopback for the sync tests: host and client keys made with
ssh-keygen in a temporary directory, an sshd_config that trusts only that client key, sshd
in the foreground, and an ssh command line that reaches it without touching the user's own
ssh configuration. The remote side runs the built binary (--remote-bin)."""
import os
import shutil
import socket
import subprocess
import time

import pytest

SSHD = "/usr/sbin/sshd"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, tmp, port, key, known_hosts):
        self.host = "127.0.0.1"
        self.port = port
        self.key = key
        self.tmp = tmp
        self.ssh_command = (f"ssh -F /dev/null -i {key} -o StrictHostKeyChecking=no "
                            f"-o UserKnownHostsFile={known_hosts} -o LogLevel=ERROR "
                            f"-p {port} -o BatchMode=yes")
        self.remote_bin = os.path.abspath(os.environ.get("GPUMIGRATE_BIN", "build/gpumigrate"))

    def spec(self, path):
        """An scp-style endpoint name for path on this server."""
        return f"{self.host}:{path}"

    def sync_args(self):
        """The options that make gpumigrate sync reach this server."""
        return ["--rsh", self.ssh_command, "--remote-bin", self.remote_bin]


@pytest.fixture
def sshd(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("sshd needs root to run (it changes to the logged-in user)")
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        pytest.skip("openssh-server is not installed (scripts/install-deps installs it)")
    tmp = tmp_path_factory.mktemp("sshd")
    os.chmod(tmp, 0o755)
    host_key = tmp / "host_ed25519"
    client_key = tmp / "client_ed25519"
    for k in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    auth = tmp / "authorized_keys"
    auth.write_text((tmp / "client_ed25519.pub").read_text())
    os.chmod(auth, 0o600)
    port = _free_port()
    config = tmp / "sshd_config"
    config.write_text(f"""ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
AuthorizedKeysFile {auth}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin yes
UsePAM no
StrictModes no
PidFile {tmp}/sshd.pid
Subsystem sftp none
PrintMotd no
""")
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    log = open(tmp / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("sshd did not start: " + (tmp / "sshd.log").read_text())
            time.sleep(0.05)
    try:
        yield Sshd(tmp, port, client_key, tmp / "known_hosts")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

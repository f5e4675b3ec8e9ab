"""`gpumigrate check` as a user runs it: on sysfs fixture trees with the fake NVML (a healthy
on-prem node, a broken host, a degraded GPU, a cloud VM with Xids, a lost GPU, no driver at
all), on saved inventories (a fleet), with JSON and JUnit output, and every usage error."""
import json
import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from conftest import FIXTURES, fixture, run

SRC = os.environ.get("GM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))

IDS = [
    "driver.loaded", "driver.nouveau", "driver.dev-nodes", "driver.nvml", "driver.uvm",
    "driver.cuda-compat", "driver.persistence", "iommu.enabled", "iommu.passthrough",
    "iommu.groups", "numa.gpu-nic", "pcie.sriov", "pcie.link-width", "pcie.link-gen",
    "pcie.replay", "health.row-remap", "health.retired-pages", "health.ecc", "health.xid",
    "runtime.nvidia", "runtime.toolkit", "k8s.kubelet", "k8s.device-plugin", "k8s.node-labels",
    "anthos.os", "anthos.swap", "anthos.time-sync", "anthos.ports", "gpu.count", "gpu.model",
    "gpu.memory",
]

TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
              "  timeout inode\n")


def host_root(tmp_path, name, log=None, log_as="kern.log", procs=(), listen=()):
    """A copy of a fixture tree plus the local evidence check reads: a kernel log from
    fixtures/kernlog, /proc/PID/comm for each process name, /proc/net/tcp with LISTEN
    sockets on the given ports."""
    src = fixture("sysroot", name)
    if not os.path.isdir(src):
        pytest.skip(f"fixture tree {name} not there yet")
    dst = tmp_path / name
    shutil.copytree(src, dst, symlinks=True)
    if log:
        (dst / "var" / "log").mkdir(parents=True, exist_ok=True)
        shutil.copy(fixture("kernlog", log), dst / "var" / "log" / log_as)
    for pid, comm in enumerate(procs, start=1):
        (dst / "proc" / str(pid)).mkdir(parents=True)
        (dst / "proc" / str(pid) / "comm").write_text(comm + "\n")
    if listen is not None:
        (dst / "proc" / "net").mkdir(parents=True, exist_ok=True)
        lines = [f"   {i}: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000"
                 f" 00000000     0        0 {1000 + i} 1 0000000000000000 100 0 0 10 0\n"
                 for i, port in enumerate(listen)]
        (dst / "proc" / "net" / "tcp").write_text(TCP_HEADER + "".join(lines))
    return str(dst)


def results(res, host=0):
    doc = res.json()
    assert doc["schema"] == "gpumigrate.check/v1"
    return {r["id"]: r for r in doc["hosts"][host]["results"]}


def status_of(rs):
    return {i: r["status"] for i, r in rs.items()}


def test_list_and_man_page():
    res = run("check", "--list")
    assert res.code == 0
    listed = [line.split()[0] for line in res.out.splitlines()[1:]]
    assert listed == IDS
    page = open(os.path.join(SRC, "doc", "gpumigrate-check.1.scd"), encoding="utf-8").read()
    for i in IDS:
        assert f"*{i}*" in page, f"{i} is not documented in gpumigrate-check(1)"


def test_healthy_node_passes_everything(tmp_path):
    root = host_root(tmp_path, "onprem-l40s", log="clean-boot.log",
                     procs=["systemd", "chronyd", "nvidia-persiste", "kubelet"], listen=[22])
    for profile in ("k8s", "anthos-baremetal", "docker"):
        res = run("--json", "check", "--sysroot", root, "--profile", profile,
                  "--require-cuda", "12.4", "--require-gpus", "4", "--require-gpu-model", "l40s",
                  "--require-gpu-memory", "44", nvml_fixture="l40s-4x-pcie.yaml")
        assert res.code == 0, res.out + res.err
        rs = results(res)
        assert list(rs) == IDS
        bad = {i: r for i, r in rs.items() if r["status"] in ("WARN", "FAIL")}
        assert bad == {}, f"{profile}: {bad}"
        for r in rs.values():
            if r["status"] == "SKIP":
                assert r["skip_reason"] and r["evidence"] is None
            else:
                assert r["evidence"] and r["skip_reason"] is None
        host = res.json()["hosts"][0]
        assert host["host"] == "gpu-node-01" and host["profile"] == profile
        assert host["summary"]["failed"] == 0 and host["summary"]["warnings"] == 0
    # the anthos run covers the local evidence
    assert rs is not None
    res = run("--json", "check", "--sysroot", root, "--profile", "anthos-baremetal",
              "--require-cuda", "12.4", nvml_fixture="l40s-4x-pcie.yaml")
    rs = results(res)
    assert rs["health.xid"]["evidence"] == "no Xid errors in /var/log/kern.log"
    assert rs["anthos.time-sync"]["evidence"] == "chronyd running"
    assert rs["anthos.ports"]["evidence"] == "all 17 required TCP ports free"
    assert rs["anthos.os"]["evidence"] == "Ubuntu 22.04.4 LTS is supported"
    assert rs["driver.persistence"]["evidence"] == "nvidia-persistenced running"
    assert rs["driver.cuda-compat"]["evidence"] == \
        "driver 550.90.07 (CUDA 12.4) runs CUDA 12.4 (needs >= 550.54.14)"
    assert rs["numa.gpu-nic"]["status"] == "PASS"
    assert rs["k8s.node-labels"]["hint"] == \
        "kubectl label nodes gpu-node-01 nvidia.com/gpu.product=NVIDIA-L40S"


def test_broken_host_trips_its_checks(tmp_path):
    root = host_root(tmp_path, "broken-host", log="broken-messages", log_as="messages",
                     procs=["systemd", "sshd", "containerd"], listen=[22, 6444])
    res = run("--json", "check", "--sysroot", root, "--profile", "anthos-baremetal",
              "--require-cuda", "12.4")
    assert res.code == 1, res.err
    rs = results(res)
    st = status_of(rs)
    fails = {"driver.loaded", "driver.nouveau", "driver.dev-nodes", "driver.nvml", "driver.uvm",
             "driver.cuda-compat", "pcie.link-width", "health.xid", "runtime.nvidia",
             "anthos.swap", "anthos.time-sync"}
    warns = {"iommu.passthrough", "numa.gpu-nic", "k8s.device-plugin", "anthos.ports"}
    assert {i for i, s in st.items() if s == "FAIL"} == fails
    assert {i for i, s in st.items() if s == "WARN"} == warns
    assert rs["driver.loaded"]["evidence"] == \
        "nvidia kernel module not loaded; no NVIDIA driver found (/nonexistent/libnvidia-ml.so.1)"
    assert rs["driver.loaded"]["hint"] == \
        "sudo dnf module install -y nvidia-driver:570-dkms && sudo reboot"
    assert rs["driver.nouveau"]["evidence"] == "nouveau bound to 0000:41:00.0"
    assert "sudo dracut --force" in rs["driver.nouveau"]["hint"]
    assert rs["driver.dev-nodes"]["evidence"] == "0 /dev/nvidiaN nodes for 1 GPU (the PCI bus)"
    assert rs["driver.cuda-compat"]["hint"] == \
        "sudo dnf module install -y nvidia-driver:550-dkms && sudo reboot"
    assert rs["pcie.link-width"]["evidence"] == "width x8 of x16 on GPU at 0000:41:00.0"
    assert "sudo lspci -vv -s 0000:41:00.0 | grep LnkSta" in rs["pcie.link-width"]["hint"]
    assert rs["health.xid"]["evidence"] == \
        "Xid 79 (GPU has fallen off the bus) x1 on PCI 0000:41:00 in /var/log/messages"
    assert rs["health.xid"]["hint"].startswith("Xid 79: drain the node and power-cycle the host")
    assert rs["iommu.passthrough"]["evidence"].startswith("IOMMU on (amd) in translated mode")
    assert rs["iommu.passthrough"]["hint"] == \
        'sudo grubby --update-kernel=ALL --args="iommu=pt" && sudo reboot'
    assert rs["numa.gpu-nic"]["evidence"] == \
        ("SYS pairs (no RDMA NIC on the GPU's NUMA node): GPU at 0000:41:00.0, node 0 - "
         "mlx5_0 (node 1), mlx5_1 (node 1)")
    assert rs["anthos.swap"]["hint"] == \
        "sudo swapoff -a && sudo sed -i '/\\sswap\\s/s/^/#/' /etc/fstab"
    assert rs["anthos.time-sync"]["hint"] == \
        "sudo dnf install -y chrony && sudo systemctl enable --now chronyd"
    assert rs["anthos.ports"]["evidence"].startswith("in use: 6444 (Kubernetes API server)")
    assert rs["anthos.os"]["status"] == "PASS"
    # k8s: the containerd runtime is not wired in
    res = run("--json", "check", "--sysroot", root)
    rs = results(res)
    assert rs["runtime.nvidia"]["status"] == "FAIL"
    assert rs["runtime.nvidia"]["hint"] == \
        ("sudo nvidia-ctk runtime configure --runtime=containerd && sudo systemctl restart "
         "containerd")


def test_degraded_gpu(tmp_path):
    root = host_root(tmp_path, "onprem-l40s", log="clean-boot.log", procs=["systemd"])
    res = run("--json", "check", "--sysroot", root, nvml_fixture="degraded.yaml")
    assert res.code == 1
    rs = results(res)
    assert rs["pcie.link-width"]["status"] == "FAIL"
    assert rs["pcie.link-width"]["evidence"] == "width x8 of x16 on GPU 0 (0000:3b:00.0)"
    assert rs["pcie.replay"]["status"] == "WARN"
    assert rs["pcie.replay"]["evidence"] == \
        "replay counter 250 on GPU 0 (0000:3b:00.0) (threshold 100)"
    assert rs["health.row-remap"]["status"] == "WARN"
    assert rs["health.row-remap"]["evidence"] == \
        "row remap pending on GPU 0 (0000:3b:00.0): takes effect at the next GPU reset"
    assert rs["health.row-remap"]["hint"] == "drain the GPU and reset it: sudo nvidia-smi -r -i 0"
    assert rs["health.ecc"]["status"] == "FAIL"
    assert rs["health.ecc"]["evidence"] == \
        "uncorrected ECC errors since the driver loaded: 1 on GPU 0 (0000:3b:00.0)"
    # the fixture tree has four L40S on the bus, NVML one A100
    assert rs["driver.nvml"]["evidence"] == "NVML 12.550.90.07 sees 1 of 4 NVIDIA GPUs on the PCI bus"
    assert rs["k8s.node-labels"]["hint"] == \
        ("kubectl label nodes gpu-node-01 accelerator=nvidia-tesla-a100 "
         "cloud.google.com/gke-accelerator=nvidia-tesla-a100")


def test_cloud_vm_with_xids(tmp_path):
    root = host_root(tmp_path, "gce-t4-vm", log="gce-t4.log", procs=["systemd", "dockerd"])
    res = run("--json", "check", "--sysroot", root, "--profile", "docker",
              nvml_fixture="n1-t4.yaml")
    assert res.code == 1
    rs = results(res)
    assert rs["health.xid"]["status"] == "WARN"
    assert rs["health.xid"]["evidence"] == \
        ("Xid 13 (Graphics Engine Exception) x2 on GPU 0 (0000:00:04.0); Xid 43 (GPU stopped "
         "processing) x1 on GPU 0 (0000:00:04.0) in /var/log/kern.log")
    assert rs["runtime.nvidia"]["status"] == "FAIL"
    assert rs["runtime.nvidia"]["evidence"] == "docker has no nvidia runtime: containers get no GPU"
    assert rs["runtime.nvidia"]["hint"] == \
        "sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker"
    assert rs["runtime.toolkit"]["status"] == "FAIL"
    assert rs["health.retired-pages"]["status"] == "PASS"


def test_lost_gpu(tmp_path):
    root = host_root(tmp_path, "gce-t4-vm")
    res = run("--json", "check", "--sysroot", root, "--only", "driver.nvml",
              nvml_fixture="lost.yaml")
    assert res.code == 1
    r = results(res)["driver.nvml"]
    assert r["status"] == "FAIL"
    assert r["evidence"] == "NVML 12.550.90.07: GPU 1 (0000:00:04.0) lost (fell off the bus)"
    assert "power-cycle" in r["hint"]


def test_no_driver_is_a_clear_failure_not_a_crash(tmp_path):
    root = host_root(tmp_path, "onprem-l40s", log="clean-boot.log", procs=["systemd"])
    res = run("--json", "check", "--sysroot", root, "--require-gpu-model", "L40S")
    assert res.code == 1, res.err
    rs = results(res)
    why = "no NVIDIA driver found (/nonexistent/libnvidia-ml.so.1)"
    assert rs["driver.nvml"]["status"] == "FAIL"
    assert rs["driver.nvml"]["evidence"] == f"{why} (4 NVIDIA GPUs on the PCI bus)"
    assert rs["driver.nvml"]["hint"] == \
        "sudo apt-get install -y nvidia-driver-570-server && sudo reboot"
    assert rs["gpu.model"]["status"] == "FAIL"
    assert rs["gpu.model"]["evidence"] == f"'L40S' required; no GPU names: {why}"
    # host checks still run
    assert rs["iommu.passthrough"]["status"] == "PASS"
    assert rs["pcie.link-width"]["evidence"] == "4 GPU links at full width"
    assert rs["numa.gpu-nic"]["status"] == "PASS"
    assert rs["runtime.nvidia"]["status"] == "PASS"
    # and the table says the same without crashing
    res = run("check", "--sysroot", root)
    assert res.code == 1
    assert why in res.out


def test_table_output(tmp_path):
    root = host_root(tmp_path, "broken-host", procs=["systemd"])
    res = run("check", "--sysroot", root)
    assert res.code == 1
    lines = res.out.splitlines()
    assert lines[0] == f"host gpu-bad-07, profile k8s ({root})"
    assert re.match(r"ID\s+STATUS\s+EVIDENCE$", lines[1])
    assert re.search(r"^driver\.uvm\s+FAIL\s+nvidia_uvm not loaded", res.out, re.M)
    assert re.search(r"^\s+fix: sudo modprobe nvidia_uvm && echo nvidia_uvm", res.out, re.M)
    assert "\x1b[" not in res.out  # not a TTY
    js = run("--json", "check", "--sysroot", root).json()["hosts"][0]["summary"]
    assert lines[-1] == (f"{js['passed']} passed, {js['warnings']} warnings, "
                         f"{js['failed']} failed, {js['skipped']} skipped")
    res = run("--color", "always", "check", "--sysroot", root)
    assert "\x1b[" in res.out and "FAIL" in res.out


def test_junit_is_well_formed(tmp_path):
    root = host_root(tmp_path, "broken-host", log="broken-messages", log_as="messages")
    out = tmp_path / "check.xml"
    res = run("--json", "check", "--sysroot", root, "--junit", str(out))
    assert res.code == 1
    rs = results(res)
    tree = ET.parse(out)
    suites = tree.getroot()
    assert suites.tag == "testsuites"
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "gpu-bad-07"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == IDS
    assert int(suite.get("tests")) == len(IDS)
    assert int(suite.get("failures")) == sum(1 for r in rs.values() if r["status"] == "FAIL")
    assert int(suite.get("skipped")) == sum(1 for r in rs.values() if r["status"] == "SKIP")
    for c in cases:
        r = rs[c.get("name")]
        failure, skipped = c.find("failure"), c.find("skipped")
        if r["status"] == "FAIL":
            assert failure.get("message") == r["evidence"]
            assert failure.text == r["hint"]
        elif r["status"] == "SKIP":
            assert skipped.get("message") == r["skip_reason"]
        else:
            assert failure is None and skipped is None
            assert c.find("system-out").text.startswith(r["status"] + ": " + r["evidence"])
    assert not [p for p in os.listdir(tmp_path) if p.startswith("check.xml.")]  # no temp left


def test_fleet_of_inventories(tmp_path):
    inv = lambda n: fixture("inventory", n)  # noqa: E731
    res = run("--json", "check", "--inventory", inv("healthy-a100.json"), inv("degraded-t4.json"),
              inv("no-driver.json"))
    assert res.code == 1
    hosts = res.json()["hosts"]
    assert [h["host"] for h in hosts] == ["gpu-a100-01", "gpu-t4-07", "gpu-new-03"]
    assert [h["source"] for h in hosts] == [inv("healthy-a100.json"), inv("degraded-t4.json"),
                                            inv("no-driver.json")]
    assert hosts[0]["summary"]["failed"] == 0 and hosts[0]["summary"]["warnings"] == 0
    assert hosts[1]["summary"]["failed"] == 5
    xid = {r["id"]: r for r in hosts[0]["results"]}["health.xid"]
    assert xid["status"] == "SKIP"
    assert xid["skip_reason"] == "kernel log not in a saved inventory (run check on the host)"
    # the repeated form, and a fleet in JUnit
    out = tmp_path / "fleet.xml"
    res = run("check", "-i", inv("healthy-a100.json"), "--inventory", inv("degraded-t4.json"),
              "--junit", str(out))
    assert res.code == 1
    assert [s.get("name") for s in ET.parse(out).getroot()] == ["gpu-a100-01", "gpu-t4-07"]
    res = run("check", "--inventory", inv("healthy-a100.json"), "--require-cuda", "12.4")
    assert res.code == 0, res.out


def test_bad_inventory_is_a_usage_error():
    res = run("check", "--inventory", fixture("inventory", "bad-syntax.json"))
    assert res.code == 2
    assert "bad-syntax.json:5:6: 'iommu_groups' must be an integer" in res.err
    assert res.out == ""
    res = run("check", "--inventory", fixture("inventory", "healthy-a100.json"),
              fixture("inventory", "missing.json"))
    assert res.code == 2
    assert "missing.json" in res.err and res.out == ""


@pytest.mark.parametrize("args,message", [
    (["--profile", "kubernetes"], "unknown profile 'kubernetes'"),
    (["--require-cuda", "12.7"], "CUDA 12.7 is not in the driver table"),
    (["--require-cuda", "twelve"], "--require-cuda needs a version like 12.4"),
    (["--require-gpus", "0"], "--require-gpus needs a count"),
    (["--require-gpu-memory", "lots"], "--require-gpu-memory needs GiB"),
    (["--only", "drvier.*"], "'drvier.*' matches no check id"),
    (["stray"], "check takes no operands"),
    (["--sysroot", "/nonexistent/root"], "sysroot '/nonexistent/root' does not exist"),
])
def test_usage_errors(args, message):
    res = run("check", *args)
    assert res.code == 2
    assert message in res.err
    assert res.out == ""


def test_only_and_skip():
    res = run("--json", "check", "--inventory", fixture("inventory", "degraded-t4.json"),
              "--only", "driver.*", "--only", "pcie.link-*", "--skip", "driver.nouveau")
    assert list(results(res)) == ["driver.loaded", "driver.dev-nodes", "driver.nvml",
                                  "driver.uvm", "driver.cuda-compat", "driver.persistence",
                                  "pcie.link-width", "pcie.link-gen"]
    res = run("--json", "check", "--inventory", fixture("inventory", "degraded-t4.json"),
              "--only", "driver.persistence")
    assert res.code == 0  # only a WARN left
    assert results(res)["driver.persistence"]["status"] == "WARN"


def test_requirements_from_the_plan(tmp_path):
    """The plan's target (4 x L40S, CUDA 12.2, k8s) becomes the requirements; flags win."""
    plan = os.path.join(SRC, "examples", "gke-a100-to-l40s.yaml")
    inv = fixture("plans", "l40s-server.inventory.json")
    r = run("check", "--json", "-p", plan, "--inventory", inv)
    assert r.code == 0, r.err
    res = {x["id"]: x for x in r.json()["hosts"][0]["results"]}
    assert res["gpu.count"]["status"] == "PASS" and "4 required" in res["gpu.count"]["evidence"]
    assert res["gpu.model"]["evidence"] == "4 x NVIDIA L40S match 'NVIDIA L40S'"
    assert res["driver.cuda-compat"]["status"] == "PASS"
    assert "12.2" in res["driver.cuda-compat"]["evidence"]
    r = run("check", "--json", "-p", plan, "--require-gpus", "8", "--inventory", inv)
    assert r.code == 1
    res = {x["id"]: x for x in r.json()["hosts"][0]["results"]}
    assert res["gpu.count"]["status"] == "FAIL"

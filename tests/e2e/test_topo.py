"""`gpumigrate topo`: the nvidia-smi style matrix from saved lstopo XML files and a sysfs tree,
with NVML absent (the library path points nowhere) and served by the fake NVML."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import fixture, run

SOURCE_ROOT = os.environ.get("GM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))


def topo(*args, **kw):
    return run("topo", *args, **kw)


def rows(text):
    """Expected matrix rows written as space-separated cells."""
    return [line.split() for line in text.strip().splitlines()]


# dgx-a100.xml: per host bridge a root port and a first-level PEX88096 switch holding one
# ConnectX-6 (mlx5_1/3/5/7), the NVSwitches and a second-level switch with two A100s and a
# ConnectX-6 (mlx5_0/2/4/6); two host bridges per EPYC socket.
DGX_NAMES = [f"GPU{i}" for i in range(8)] + [f"mlx5_{i}" for i in range(8)]
DGX_PCI = rows("""
X PIX NODE NODE SYS SYS SYS SYS PIX PXB NODE NODE SYS SYS SYS SYS
PIX X NODE NODE SYS SYS SYS SYS PIX PXB NODE NODE SYS SYS SYS SYS
NODE NODE X PIX SYS SYS SYS SYS NODE NODE PIX PXB SYS SYS SYS SYS
NODE NODE PIX X SYS SYS SYS SYS NODE NODE PIX PXB SYS SYS SYS SYS
SYS SYS SYS SYS X PIX NODE NODE SYS SYS SYS SYS PIX PXB NODE NODE
SYS SYS SYS SYS PIX X NODE NODE SYS SYS SYS SYS PIX PXB NODE NODE
SYS SYS SYS SYS NODE NODE X PIX SYS SYS SYS SYS NODE NODE PIX PXB
SYS SYS SYS SYS NODE NODE PIX X SYS SYS SYS SYS NODE NODE PIX PXB
PIX PIX NODE NODE SYS SYS SYS SYS X PXB NODE NODE SYS SYS SYS SYS
PXB PXB NODE NODE SYS SYS SYS SYS PXB X NODE NODE SYS SYS SYS SYS
NODE NODE PIX PIX SYS SYS SYS SYS NODE NODE X PXB SYS SYS SYS SYS
NODE NODE PXB PXB SYS SYS SYS SYS NODE NODE PXB X SYS SYS SYS SYS
SYS SYS SYS SYS PIX PIX NODE NODE SYS SYS SYS SYS X PXB NODE NODE
SYS SYS SYS SYS PXB PXB NODE NODE SYS SYS SYS SYS PXB X NODE NODE
SYS SYS SYS SYS NODE NODE PIX PIX SYS SYS SYS SYS NODE NODE X PXB
SYS SYS SYS SYS NODE NODE PXB PXB SYS SYS SYS SYS NODE NODE PXB X
""")

# pcie-8gpu-rdma.xml: one PEX89000 switch per host bridge with two L40S, a ConnectX-7 on the
# first switch of each socket, an X710 (eno1) on its own root port of the first host bridge.
PCIE_NAMES = [f"GPU{i}" for i in range(8)] + ["mlx5_0", "eno1", "mlx5_1"]
PCIE_PCI = rows("""
X PIX NODE NODE SYS SYS SYS SYS PIX PHB SYS
PIX X NODE NODE SYS SYS SYS SYS PIX PHB SYS
NODE NODE X PIX SYS SYS SYS SYS NODE NODE SYS
NODE NODE PIX X SYS SYS SYS SYS NODE NODE SYS
SYS SYS SYS SYS X PIX NODE NODE SYS SYS PIX
SYS SYS SYS SYS PIX X NODE NODE SYS SYS PIX
SYS SYS SYS SYS NODE NODE X PIX SYS SYS NODE
SYS SYS SYS SYS NODE NODE PIX X SYS SYS NODE
PIX PIX NODE NODE SYS SYS SYS SYS X PHB SYS
PHB PHB NODE NODE SYS SYS SYS SYS PHB X SYS
SYS SYS SYS SYS PIX PIX NODE NODE SYS SYS X
""")

# hgx-h100.xml: each H100 on its own root complex, behind a switch shared with one ConnectX-7.
H100_NAMES = [f"GPU{i}" for i in range(8)] + [f"mlx5_{i}" for i in range(8)]


def h100_matrix(gpu_gpu):
    """gpu_gpu: the cell of two different GPUs on the same socket / other socket, as a pair."""
    m = []
    for i in range(16):
        row = []
        for j in range(16):
            same_socket = (i % 8 < 4) == (j % 8 < 4)
            if i == j:
                row.append("X")
            elif i < 8 and j < 8:
                row.append(gpu_gpu[0] if same_socket else gpu_gpu[1])
            elif i % 8 == j % 8:
                row.append("PIX")  # a GPU and the NIC of its switch
            else:
                row.append("NODE" if same_socket else "SYS")
        m.append(row)
    return m


def check_devices(doc, names, kinds):
    assert [d["name"] for d in doc["devices"]] == names
    assert [d["kind"] for d in doc["devices"]] == kinds


def test_dgx_a100_json_without_nvml():
    r = topo("--json", "-x", fixture("topo", "dgx-a100.xml"))
    assert r.code == 0, r.err
    doc = r.json()
    assert list(doc) == ["schema", "source", "devices", "matrix", "warnings"]
    assert doc["schema"] == "gpumigrate.topo/v1"
    assert doc["source"] == "xml:" + fixture("topo", "dgx-a100.xml")
    check_devices(doc, DGX_NAMES, ["gpu"] * 8 + ["nic"] * 8)
    assert doc["devices"][0] == {"name": "GPU0", "kind": "gpu", "bdf": "0000:05:00.0",
                                 "numa_node": 0, "cpu_affinity": "0-63,128-191"}
    assert doc["devices"][15] == {"name": "mlx5_7", "kind": "nic", "bdf": "0000:b0:00.0",
                                  "numa_node": 1, "cpu_affinity": "64-127,192-255"}
    assert doc["matrix"] == DGX_PCI
    assert len(doc["warnings"]) == 1
    w = doc["warnings"][0]
    assert w.startswith("16 GPU pairs cross CPU sockets over the SMP interconnect (SYS): "
                        "GPU0-GPU4, GPU0-GPU5,")
    assert "NVLink not known: no NVIDIA driver found" in w


def test_dgx_a100_table():
    r = topo("-x", fixture("topo", "dgx-a100.xml"), "--color=never")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == DGX_NAMES + ["CPU", "Affinity", "NUMA", "Affinity"]
    for i, name in enumerate(DGX_NAMES):
        cells = lines[1 + i].split()
        assert cells[0] == name
        assert cells[1:17] == DGX_PCI[i]
        assert cells[17] == ("0-63,128-191" if i % 8 < 4 else "64-127,192-255")
        assert cells[18] == ("0" if i % 8 < 4 else "1")
    # the columns line up: every row starts its cells where the header does
    col = lines[0].index("GPU0")
    assert all(line[col - 2:col] == "  " and line[col] != " " for line in lines[1:17])
    legend = r.out[r.out.index("\nLegend:\n"):]
    for key, text in (("X", "Self"), ("SYS", "SMP interconnect between NUMA nodes"),
                      ("NODE", "between PCIe Host Bridges within a NUMA node"),
                      ("PHB", "PCIe Host Bridge (typically the CPU)"),
                      ("PXB", "multiple PCIe bridges"), ("PIX", "at most a single PCIe bridge"),
                      ("NV#", "bonded set of # NVLinks")):
        assert re.search(rf"^  {re.escape(key)} +=.*{re.escape(text)}", legend, re.M), key
    assert "\nWarnings:\n  - 16 GPU pairs cross CPU sockets" in r.out
    assert "\033[" not in r.out


def test_pcie_8gpu_rdma():
    r = topo("--json", "-x", fixture("topo", "pcie-8gpu-rdma.xml"))
    assert r.code == 0, r.err
    doc = r.json()
    check_devices(doc, PCIE_NAMES, ["gpu"] * 8 + ["nic"] * 3)
    assert [d["bdf"] for d in doc["devices"]] == [
        "0000:19:00.0", "0000:1a:00.0", "0000:3b:00.0", "0000:3c:00.0", "0000:9b:00.0",
        "0000:9c:00.0", "0000:bd:00.0", "0000:be:00.0", "0000:1b:00.0", "0000:1c:00.0",
        "0000:9d:00.0"]
    assert [d["numa_node"] for d in doc["devices"]] == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1]
    assert doc["matrix"] == PCIE_PCI
    assert len(doc["warnings"]) == 2
    assert doc["warnings"][0].startswith("16 GPU pairs cross CPU sockets")
    assert doc["warnings"][1].startswith("GPU2, GPU3, GPU6, GPU7 have no RDMA NIC behind their "
                                         "PCIe switch (PIX/PXB)")


def test_gce_vm_flat_topology():
    # Cloud VMs fake a flat topology: every device on one host bridge, all pairs PHB.
    r = topo("--json", "-x", fixture("topo", "gce-vm.xml"))
    assert r.code == 0, r.err
    doc = r.json()
    check_devices(doc, ["GPU0", "GPU1", "ens4"], ["gpu", "gpu", "nic"])
    assert doc["matrix"] == rows("X PHB PHB\nPHB X PHB\nPHB PHB X")
    assert [d["cpu_affinity"] for d in doc["devices"]] == ["0-7"] * 3
    assert len(doc["warnings"]) == 1
    assert doc["warnings"][0].startswith("this is a virtual machine (Google Compute Engine): "
                                         "the hypervisor shows a flat PCI tree")


def test_sysroot_tree():
    root = fixture("topo", "sysfs-2gpu")
    r = topo("--json", "--sysroot", root)
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["source"] == "sysroot:" + root
    assert doc["devices"] == [
        {"name": "GPU0", "kind": "gpu", "bdf": "0000:03:00.0", "numa_node": 0, "cpu_affinity": "0-3"},
        {"name": "GPU1", "kind": "gpu", "bdf": "0000:04:00.0", "numa_node": 0, "cpu_affinity": "0-3"},
        {"name": "eno1", "kind": "nic", "bdf": "0000:00:03.0", "numa_node": 0, "cpu_affinity": "0-3"},
    ]
    assert doc["matrix"] == rows("X PIX PHB\nPIX X PHB\nPHB PHB X")
    assert doc["warnings"] == []


def test_hwloc_environment_is_honoured():
    xml = fixture("topo", "gce-vm.xml")
    r = topo("--json", env={"HWLOC_XMLFILE": xml})
    assert r.code == 0, r.err
    assert r.json()["source"] == "xml:" + xml
    root = fixture("topo", "sysfs-2gpu")
    r = topo("--json", env={"HWLOC_FSROOT": root})
    assert r.json()["source"] == "sysroot:" + root
    # an explicit option wins over the environment
    r = topo("--json", "-x", fixture("topo", "dgx-a100.xml"), env={"HWLOC_XMLFILE": xml})
    assert len(r.json()["devices"]) == 16


def test_h100_with_fake_nvml():
    r = topo("--json", "-x", fixture("topo", "hgx-h100.xml"), nvml_fixture="h100-8x-sxm.yaml")
    assert r.code == 0, r.err
    doc = r.json()
    check_devices(doc, H100_NAMES, ["gpu"] * 8 + ["nic"] * 8)
    assert doc["matrix"] == h100_matrix(("NV18", "NV18"))
    assert doc["warnings"] == []
    # the same server without NVML: the PCI relations underneath
    r = topo("--json", "-x", fixture("topo", "hgx-h100.xml"), "--no-nvml",
             nvml_fixture="h100-8x-sxm.yaml")
    doc = r.json()
    assert doc["matrix"] == h100_matrix(("NODE", "SYS"))
    assert "NVLink not known" in doc["warnings"][0]


def test_a2_vm_with_fake_nvml():
    r = topo("--json", "-x", fixture("topo", "gce-a2-highgpu-8g.xml"),
             nvml_fixture="a2-highgpu-8g.yaml")
    assert r.code == 0, r.err
    doc = r.json()
    n = 9
    assert doc["matrix"] == [["X" if i == j else "PHB" if 8 in (i, j) else "NV12"
                              for j in range(n)] for i in range(n)]
    # hwloc sees no locality on the VM's flat root bus; NVML's NUMA node and CPU list fill in
    assert [d["numa_node"] for d in doc["devices"]] == [0, 0, 0, 0, 1, 1, 1, 1, None]
    assert doc["devices"][4]["cpu_affinity"] == "24-47,72-95"
    assert doc["devices"][8]["cpu_affinity"] == "0-95"
    assert len(doc["warnings"]) == 1 and "virtual machine" in doc["warnings"][0]


def test_nvml_from_another_host_is_not_applied():
    r = topo("--json", "-x", fixture("topo", "dgx-a100.xml"), nvml_fixture="h100-8x-sxm.yaml")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["matrix"] == DGX_PCI
    assert doc["warnings"][-1].startswith("NVML does not list GPU0 (0000:05:00.0), GPU1 "
                                          "(0000:07:00.0),")


def test_colour():
    r = topo("-x", fixture("topo", "hgx-h100.xml"), "--color=always",
             nvml_fixture="h100-8x-sxm.yaml")
    assert "\033[32mNV18\033[0m" in r.out
    assert "\033[33mSYS\033[0m" in r.out
    r = topo("-x", fixture("topo", "hgx-h100.xml"), nvml_fixture="h100-8x-sxm.yaml")
    assert "\033[" not in r.out  # not a terminal
    r = topo("-x", fixture("topo", "hgx-h100.xml"), "--json", "--color=always")
    assert "\033[" not in r.out


def test_missing_file_is_one_clear_error():
    r = topo("-x", "/nonexistent/server.xml")
    assert r.code == 2
    assert r.out == ""
    lines = r.err.strip().splitlines()
    assert lines[0] == ("gpumigrate: error: cannot read topology file '/nonexistent/server.xml': "
                        "No such file or directory")
    assert "lstopo --of xml FILE" in lines[1]
    assert len(lines) == 2


@pytest.mark.parametrize("text", ["not xml at all\n", "<topology version=\"2.0\">",
                                  "<?xml version=\"1.0\"?>\n<topology version=\"2.0\">"
                                  "<object type=\"Bogus\"/></topology>\n"])
def test_invalid_file(tmp_path, text):
    bad = tmp_path / "bad.xml"
    bad.write_text(text)
    r = topo("-x", str(bad))
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert lines[0] == f"gpumigrate: error: topology file '{bad}' is not a valid hwloc XML topology"
    assert "lstopo --of xml FILE" in lines[1]
    assert len(lines) == 2  # nothing from hwloc or libxml2
    assert r.out == ""


def test_usage_errors():
    r = topo("-x", fixture("topo", "gce-vm.xml"), "--sysroot", fixture("topo", "sysfs-2gpu"))
    assert r.code == 2 and "cannot be used together" in r.err
    r = topo("extra")
    assert r.code == 2 and "unexpected argument 'extra'" in r.err
    r = topo("--sysroot", "/nonexistent/root")
    assert r.code == 2 and "cannot use sysroot '/nonexistent/root'" in r.err
    r = topo("--topology-xml")
    assert r.code == 2 and "needs a value" in r.err


def test_live_host_runs():
    # whatever this machine has, the command answers with a well-formed document
    r = topo("--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["source"] == "live"
    n = len(doc["devices"])
    assert len(doc["matrix"]) == n and all(len(row) == n for row in doc["matrix"])


def test_man_page_documents_every_option():
    page = os.path.join(SOURCE_ROOT, "doc", "gpumigrate-topo.1.scd")
    text = open(page, encoding="utf-8").read()
    helptext = topo("--help").out
    options = re.findall(r"^ +(?:-\w, )?(--[a-z-]+)", helptext[:helptext.index("global options")],
                         re.M)
    assert options == ["--topology-xml", "--sysroot", "--no-nvml"]
    for opt in options:
        assert "*" + opt in text, opt
    if shutil.which("scdoc"):
        proc = subprocess.run(["scdoc"], input=text, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr

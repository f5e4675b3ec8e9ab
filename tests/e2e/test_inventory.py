"""`gpumigrate inventory` run the way a user runs it, on host fixtures (sysroot trees) with the
fake NVML serving the GPUs: every fixture's facts checked in the JSON and in the table."""
import json
import os
import stat

from conftest import run, fixture

ONPREM = fixture("sysroot", "onprem-l40s")
GCE = fixture("sysroot", "gce-t4-vm")
BROKEN = fixture("sysroot", "broken-host")


def inventory(sysroot, nvml=None, *extra):
    r = run("inventory", "--json", "--sysroot", sysroot, *extra, nvml_fixture=nvml)
    assert r.code == 0, r.err
    return r.json()


def test_onprem_l40s_server():
    inv = inventory(ONPREM, "l40s-4x-pcie.yaml")
    assert inv["schema"] == "gpumigrate.inventory/v1"
    h = inv["host"]
    assert h["hostname"] == "gpu-node-01"
    assert (h["os_id"], h["os_version_id"]) == ("ubuntu", "22.04")
    assert h["kernel_release"] == "5.15.0-105-generic"
    assert "iommu=pt" in h["kernel_cmdline"]
    assert (h["iommu_enabled"], h["iommu_vendor"], h["iommu_passthrough"], h["iommu_groups"]) == \
        (True, "intel", True, 8)
    assert h["module_nvidia"] and h["module_nvidia_uvm"] and h["module_nvidia_peermem"]
    assert h["module_nouveau"] is False
    assert (h["cpu_sockets"], h["cpu_cores"], h["cpu_threads"], h["numa_nodes"]) == (2, 64, 128, 2)
    assert h["memory_total_bytes"] == 527759788 * 1024
    assert h["swap_on"] is False
    assert h["dev_nvidia_count"] == 4
    assert h["docker_nvidia_runtime"] and h["containerd_nvidia_runtime"]
    assert h["nvidia_container_toolkit"] and h["kubelet"] and h["nvidia_device_plugin"]
    # arch is not recorded in a fixture root: null with the reason, never a made-up value
    assert h["arch"] is None
    assert h["unknown"]["arch"] == {"state": "unknown", "reason": "not recorded in the root"}
    assert [d["bdf"] for d in h["nvidia_pci_devices"]] == \
        ["0000:17:00.0", "0000:31:00.0", "0000:b1:00.0", "0000:ca:00.0"]
    assert all(d["driver"] == "nvidia" and d["pci_id"] == "10de:26b9" for d in h["nvidia_pci_devices"])
    nics = {n["name"]: n for n in h["nics"]}
    assert set(nics) == {"eno1", "ens1f0np0", "ens6f0np0"}
    assert (nics["ens1f0np0"]["rdma_device"], nics["ens1f0np0"]["speed_mbps"]) == ("mlx5_0", 100000)
    assert nics["eno1"]["rdma_device"] is None
    assert nics["eno1"]["unknown"]["rdma_device"]["state"] == "unsupported"

    nv = inv["nvidia"]
    assert nv["nvml"] == {"state": "ok", "reason": None}
    assert (nv["driver_version"], nv["cuda_driver_version"]) == ("550.90.07", 12040)
    assert len(nv["gpus"]) == 4
    for i, g in enumerate(nv["gpus"]):
        assert g["index"] == i
        assert g["name"] == "NVIDIA L40S"
        assert g["bdf"] == h["nvidia_pci_devices"][i]["bdf"]
        assert g["compute_capability"] == "8.9"
        assert (g["pcie_gen_max"], g["pcie_width_current"], g["pcie_width_max"]) == (4, 16, 16)
        # NUMA node and CPU affinity come from sysfs for the GPU's PCI function
        assert g["numa_node"] == (0 if i < 2 else 1)
        assert g["cpu_affinity"] == ("0-31,64-95" if i < 2 else "32-63,96-127")
        assert g["dev_node"] is True
        assert g["nvlinks"] is None and g["unknown"]["nvlinks"]["state"] == "unsupported"
        assert g["mig_enabled"] is None  # L40S has no MIG: unsupported, not "off"


def test_table_shows_the_same_host():
    r = run("inventory", "--sysroot", ONPREM, nvml_fixture="l40s-4x-pcie.yaml")
    assert r.code == 0
    assert "gpu-node-01" in r.out
    assert "on (intel), iommu=pt yes, 8 groups" in r.out
    assert "550.90.07, NVML 12.550.90.07, CUDA 12.4" in r.out
    rows = [l for l in r.out.splitlines() if "NVIDIA L40S" in l]
    assert len(rows) == 4
    assert rows[2].split()[3] == "0000:b1:00.0"
    assert "gen4/4 x16/16" in rows[0]
    assert "\033[" not in r.out  # no colour in a pipe


def test_cloud_t4_vm():
    inv = inventory(GCE, "n1-t4.yaml")
    h = inv["host"]
    assert h["arch"] == "x86_64"
    assert h["iommu_enabled"] is False
    assert h["numa_nodes"] == 1
    g = inv["nvidia"]["gpus"][0]
    assert (g["name"], g["bdf"]) == ("Tesla T4", "0000:00:04.0")
    assert g["memory_total_bytes"] == 15360 * 1024 * 1024
    # the VM's ACPI says nothing about NUMA: -1 as the kernel reports it
    assert g["numa_node"] == -1
    assert g["remapped_rows_pending"] is None
    assert g["unknown"]["remapped_rows_pending"]["state"] == "unsupported"


def test_broken_host_without_driver_still_shows_its_gpu():
    inv = inventory(BROKEN)  # no NVML library at all
    nv = inv["nvidia"]
    assert nv["nvml"]["state"] == "error"
    assert nv["nvml"]["reason"] == "no NVIDIA driver found (/nonexistent/libnvidia-ml.so.1)"
    assert nv["gpus"] == []
    assert nv["driver_version"] is None
    gpu = inv["host"]["nvidia_pci_devices"][0]
    assert (gpu["bdf"], gpu["driver"], gpu["link_width_current"], gpu["link_width_max"]) == \
        ("0000:41:00.0", "nouveau", 8, 16)
    assert inv["host"]["module_nouveau"] is True and inv["host"]["module_nvidia"] is False
    assert inv["host"]["swap_on"] is True
    r = run("inventory", "--sysroot", BROKEN)
    assert r.code == 0
    assert "none: no NVIDIA driver found" in r.out
    assert "(2 NVIDIA PCI devices on the bus)" in r.out


def test_degraded_gpu_is_flagged():
    r = run("inventory", "--sysroot", BROKEN, nvml_fixture="degraded.yaml")
    assert r.code == 0
    row = next(l for l in r.out.splitlines() if "A100-PCIE-40GB" in l)
    assert "gen4/4 x8/16" in row
    assert row.rstrip().endswith("row remap pending")
    g = json.loads(run("inventory", "--json", "--sysroot", BROKEN,
                       nvml_fixture="degraded.yaml").out)["nvidia"]["gpus"][0]
    assert (g["pcie_replay_count"], g["remapped_rows_uncorrectable"], g["remapped_rows_pending"]) == \
        (250, 1, True)
    # the fixture host has no /dev/nvidia0
    assert g["dev_node"] is False


def test_lost_gpu_does_not_stop_the_inventory():
    inv = inventory(GCE, "lost.yaml")
    gpus = inv["nvidia"]["gpus"]
    assert len(gpus) == 2
    assert gpus[0]["name"] is not None
    lost = [k for k, v in gpus[1].get("unknown", {}).items() if v["reason"] == "GPU is lost"]
    assert lost, "the lost GPU's unreadable fields say why"


def test_this_machine_without_gpu():
    r = run("inventory")
    assert r.code == 0, r.err
    assert "none: no NVIDIA driver found" in r.out
    inv = json.loads(run("inventory", "--json").out)
    assert inv["nvidia"]["gpus"] == []
    assert inv["host"]["hostname"]


def test_output_file_is_written_atomically_and_matches(tmp_path):
    out = tmp_path / "gpu-01.json"
    r = run("inventory", "-o", str(out), "--sysroot", ONPREM, nvml_fixture="l40s-4x-pcie.yaml")
    assert r.code == 0
    saved = json.loads(out.read_text())
    assert saved["nvidia"]["gpus"][3]["bdf"] == "0000:ca:00.0"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["gpu-01.json"]  # no temporary left


def test_output_into_missing_directory_fails_cleanly(tmp_path):
    target = tmp_path / "missing" / "x.json"
    r = run("inventory", "-o", str(target), "--sysroot", GCE)
    assert r.code == 4
    assert r.err.count("\n") == 1 and "x.json" in r.err
    assert not target.parent.exists()


def test_yaml_output():
    r = run("inventory", "--yaml", "--sysroot", GCE, nvml_fixture="n1-t4.yaml")
    assert r.code == 0
    assert r.out.startswith("schema: gpumigrate.inventory/v1\n")
    assert "  hostname: " in r.out
    assert "name: Tesla T4" in r.out


def test_json_is_stable_apart_from_the_time():
    a = inventory(ONPREM, "a2-highgpu-8g.yaml")
    b = inventory(ONPREM, "a2-highgpu-8g.yaml")
    a.pop("collected_at"), b.pop("collected_at")
    assert a == b
    r = run("inventory", "--json", "--sysroot", ONPREM, nvml_fixture="a2-highgpu-8g.yaml")
    assert list(json.loads(r.out)) == ["schema", "collected_at", "tool_version", "host", "nvidia"]


def test_no_nvml_option():
    inv = inventory(ONPREM, "l40s-4x-pcie.yaml", "--no-nvml")
    assert inv["nvidia"]["nvml"] == {"state": "unknown", "reason": "not collected (--no-nvml)"}


def test_usage_errors():
    r = run("inventory", "--sysroot", "/nonexistent/root")
    assert r.code == 2 and "sysroot '/nonexistent/root' does not exist" in r.err
    r = run("inventory", "extra")
    assert r.code == 2 and "takes no operands" in r.err

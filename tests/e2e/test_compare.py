"""compare and catalog as a user runs them: catalog names, an inventory written by the binary
itself from the fixture server, bench results, and every kind of bad input."""
import os

from conftest import run, fixture


def test_instance_against_servers_json():
    r = run("compare", "--json", "--model-size", "70B", "gcp:a2-highgpu-8g", "4xgpu:l40s")
    assert r.code == 0, r.err
    d = r.json()
    assert d["schema"] == "gpumigrate.compare/v1"
    assert d["source"]["gpu"] == "a100-sxm4-40gb"
    assert d["source"]["gpu_count"] == 8
    assert d["source"]["interconnect"] == "nvswitch"
    assert d["target"]["gpu"] == "l40s"
    assert d["target"]["gpu_count"] == 4
    assert d["target"]["interconnect"] == "pcie"
    assert d["precision"] == "bf16"
    bf16 = [x for x in d["rows"] if x["metric"] == "tflops.bf16" and x["scope"] == "per_gpu"][0]
    assert bf16["source"] == {"value": 312, "source": "datasheet"}
    assert bf16["target"]["value"] == 362.05
    assert abs(bf16["ratio"] - 362.05 / 312) < 1e-6
    prof = {p["profile"]: p for p in d["profiles"]}
    # 8 x 312 = 2496 TFLOPS / 362.05 = 6.9 -> 7 GPUs, 2 servers of 4
    assert prof["training"]["target_gpus_needed"] == 7
    assert prof["training"]["target_servers_needed"] == 2
    # 8 x 1555 = 12440 GB/s / 864 = 14.4 -> 15 GPUs, 4 servers
    assert prof["inference"]["target_gpus_needed"] == 15
    assert prof["inference"]["target_servers_needed"] == 4
    # 70e9 x 2 x 1.2 / 2^30 = 156.5 GiB / 48 -> 4 GPUs
    assert abs(d["model"]["needs_gib"] - 70e9 * 2 * 1.2 / 2**30) < 1e-6
    assert prof["capacity"]["target_gpus_needed"] == 4
    codes = {w["code"]: w for w in d["warnings"]}
    assert set(codes) == {"model-needs-several-gpus", "nvlink-lost", "memory-type-downgrade"}
    assert not any(w["blocker"] for w in d["warnings"])
    assert d["blocker"] is False


def test_table_output():
    r = run("compare", "gcp:a2-highgpu-8g", "4xgpu:l40s")
    assert r.code == 0, r.err
    assert "source: gcp:a2-highgpu-8g: 8 x NVIDIA A100 SXM4 40GB; nvswitch" in r.out
    assert "target: 4 x NVIDIA L40S; pcie" in r.out
    lines = r.out.splitlines()
    bf16 = [l for l in lines if l.startswith("BF16 TFLOPS")][0].split()
    assert bf16[-3:] == ["312", "362", "1.16x"]
    training = [l for l in lines if l.startswith("training")][0]
    assert training.split()[-7:] == ["2496", "362", "7", "2", "x", "4", "GPUs"]
    assert "warning the source's GPUs talk over NVSwitch" in r.out
    assert "\033[" not in r.out  # no colour in a pipe


def test_model_that_does_not_fit_is_a_blocker():
    r = run("compare", "--model-size", "405B", "gcp:a2-highgpu-8g", "4xgpu:l40s")
    assert r.code == 1
    assert "BLOCKER a 405B model needs 905.2 GiB" in r.out


def test_require_cuda_13_on_a_volta():
    r = run("compare", "--json", "--require-cuda", "13.0", "gpu:t4", "gpu:v100")
    assert r.code == 1
    w = [w for w in r.json()["warnings"] if w["code"] == "compute-capability-too-low"][0]
    assert w["blocker"] is True
    assert "7.5" in w["message"]
    r = run("compare", "--json", "--require-cuda", "12.4", "gpu:t4", "gpu:v100")
    assert r.code == 0
    assert r.json()["require_cuda"] == "12.4"


def test_inventory_written_by_the_binary(tmp_path):
    inv = str(tmp_path / "gpu-node.json")
    r = run("inventory", "-o", inv, "--sysroot", fixture("sysroot", "onprem-l40s"),
            nvml_fixture="l40s-4x-pcie.yaml")
    assert r.code == 0, r.err
    r = run("compare", "--json", "gcp:a2-highgpu-8g", inv)
    assert r.code == 0, r.err
    t = r.json()["target"]
    assert t["kind"] == "inventory"
    assert t["gpu"] == "l40s"
    assert t["gpu_count"] == 4
    assert t["interconnect"] == "pcie"
    assert t["compute_capability"] == "8.9"
    mem = [x for x in r.json()["rows"] if x["metric"] == "memory_gib" and x["scope"] == "per_gpu"][0]
    assert mem["target"]["source"] == "inventory"
    assert abs(mem["target"]["value"] - 48305799168 / 2**30) < 1e-6

    src = str(tmp_path / "cloud-vm.json")
    r = run("inventory", "-o", src, "--sysroot", fixture("sysroot", "gce-t4-vm"),
            nvml_fixture="a2-highgpu-8g.yaml")
    assert r.code == 0, r.err
    r = run("compare", "--json", src, inv)
    assert r.code == 0, r.err
    s = r.json()["source"]
    assert s["gpu"] == "a100-sxm4-40gb"
    assert s["gpu_count"] == 8
    assert s["interconnect"] == "nvswitch"
    assert "nvlink-lost" in [w["code"] for w in r.json()["warnings"]]


def test_bench_results_replace_datasheet_figures():
    r = run("compare", "--json", "--target-bench", fixture("catalog", "bench-l40s.json"),
            "gcp:a2-highgpu-8g", "4xgpu:l40s")
    assert r.code == 0, r.err
    d = r.json()
    assert d["target"]["measured"] is True
    bf16 = [x for x in d["rows"] if x["metric"] == "tflops.bf16" and x["scope"] == "per_gpu"][0]
    assert bf16["target"] == {"value": 298.25, "source": "measured"}
    fp8 = [x for x in d["rows"] if x["metric"] == "tflops.fp8" and x["scope"] == "per_gpu"][0]
    assert fp8["target"] == {"value": 733, "source": "datasheet"}
    # 2496 / 298.25 = 8.4 -> 9
    assert d["profiles"][0]["target_gpus_needed"] == 9
    r = run("compare", "--target-bench", fixture("catalog", "bench-l40s.json"),
            "gcp:a2-highgpu-8g", "4xgpu:l40s")
    assert "* measured (bench result)" in r.out
    r = run("compare", "--target-bench", fixture("catalog", "bench-t4.json"),
            "gcp:a2-highgpu-8g", "4xgpu:l40s")
    assert r.code == 2
    assert "was measured on NVIDIA T4" in r.err


def test_usage_errors(tmp_path):
    r = run("compare", "gpu:l40", "gpu:t4")
    assert r.code == 2
    assert "unknown GPU 'l40' (did you mean 'l40s'?)" in r.err
    r = run("compare", "gcp:a2-highgpu-8g", "aws:p4d.24xlage")
    assert r.code == 2
    assert "did you mean 'aws:p4d.24xlarge'?" in r.err
    r = run("compare", "gpu:t4")
    assert r.code == 2
    assert "two sides" in r.err
    r = run("compare", "gpu:t4", str(tmp_path / "missing.json"))
    assert r.code == 2
    assert "cannot read" in r.err
    for opt, val in (("--model-size", "lots"), ("--precision", "fp4"),
                     ("--overhead", "0.5"), ("--require-cuda", "twelve"),
                     ("--bytes-per-param", "0")):
        r = run("compare", opt, val, "gpu:t4", "gpu:l4")
        assert r.code == 2, (opt, r.err)
        assert opt in r.err or val in r.err
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "gpumigrate.inventory/v1", "host": [1,')
    r = run("compare", "gpu:t4", str(bad))
    assert r.code == 2
    assert "bad.json:" in r.err


def test_catalog_list_and_show():
    r = run("catalog", "list", "gpus")
    assert r.code == 0, r.err
    assert "a100-sxm4-40gb" in r.out and "NVIDIA L40S" in r.out
    r = run("catalog", "--json", "list", "instances")
    assert r.code == 0, r.err
    d = r.json()
    assert d["schema"] == "gpumigrate.catalog/v1"
    assert "gpus" not in d
    ids = [i["id"] for i in d["instances"]]
    assert "gcp:a2-highgpu-8g" in ids and "aws:p5.48xlarge" in ids
    for inst in d["instances"]:
        for p in inst["prices"]:
            assert p["date"] and p["source"] and p["age_days"] >= 0
    r = run("catalog", "--json", "show", "NVIDIA A100-SXM4-40GB")
    assert r.code == 0
    g = r.json()
    assert g["id"] == "a100-sxm4-40gb"
    assert g["tflops"]["bf16"] == 312
    assert g["tflops"]["fp8"] is None
    r = run("catalog", "--json", "list", "costs")
    costs = {c["key"]: c for c in r.json()["cost_defaults"]}
    assert costs["pue"]["value"] == 1.56
    assert costs["staff_fte_per_servers"]["value"] is None
    r = run("catalog", "show", "gcp:a2-highgpu-8g")
    assert r.code == 0
    assert "nvswitch" in r.out


def test_catalog_errors_and_override():
    r = run("catalog", "list", "prices")
    assert r.code == 2
    r = run("catalog", "show", "l40")
    assert r.code == 2
    assert "did you mean 'l40s'?" in r.err
    r = run("catalog", "--catalog", "/nonexistent-catalog", "list")
    assert r.code == 2
    assert "catalog directory '/nonexistent-catalog' does not exist" in r.err
    r = run("catalog", "--catalog", fixture("catalog", "bad-key"), "list")
    assert r.code == 2
    assert "bad-key/gpus.yaml:5:5: unknown key 'memory_gbi' (did you mean 'memory_gib'?)" in r.err
    r = run("catalog", "--catalog", fixture("catalog", "bad-gpu"), "list")
    assert r.code == 2
    assert "bad-gpu/cloud.yaml:5:10: unknown GPU 'l40' (did you mean 'l40s'?)" in r.err
    r = run("catalog", "--json", "--catalog", fixture("catalog", "override"), "list", "instances")
    assert r.code == 0, r.err
    d = r.json()
    assert [i["id"] for i in d["instances"]] == ["gcp:my-l4-box"]
    assert d["from"]["gpus"] == "built-in"
    assert d["from"]["cloud"].endswith("override/cloud.yaml")
    r = run("compare", "--catalog", fixture("catalog", "override"), "--json",
            "gcp:my-l4-box", "gpu:l4")
    assert r.code == 0, r.err
    assert r.json()["source"]["gpu_count"] == 2


def test_old_prices_warn(tmp_path):
    """The warning appears exactly when some price is more than 365 days old."""
    ages = [p["age_days"] for i in run("catalog", "--json", "list", "instances").json()["instances"]
            for p in i["prices"]]
    r = run("catalog", "list", "instances")
    assert r.code == 0
    old = sum(1 for a in ages if a > 365)
    if old:
        assert f"{old} catalog price" in r.err and "more than 365 days old" in r.err
    else:
        assert "days old" not in r.err
    # a price dated today never warns
    d = tmp_path / "cat"
    d.mkdir()
    import datetime
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    src = open(fixture("catalog", "override", "cloud.yaml"), encoding="utf-8").read()
    (d / "cloud.yaml").write_text(src.replace("2026-01-31", today))
    r = run("catalog", "--catalog", str(d), "list", "instances")
    assert r.code == 0, r.err
    assert "days old" not in r.err
    assert " 0d" in r.out
    (d / "cloud.yaml").write_text(src.replace("2026-01-31", "2001-01-01"))
    r = run("catalog", "--catalog", str(d), "list", "instances")
    assert "1 catalog price is more than 365 days old" in r.err

"""gpumigrate tco: the example plans, flags over the plan with provenance, the JSON document,
and usage errors. Figures are recomputed here from the catalog prices by hand."""
import math
import os

from conftest import run, fixture

SRC = os.environ.get("GM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
GKE = os.path.join(SRC, "examples", "gke-a100-to-l40s.yaml")
T4 = os.path.join(SRC, "examples", "t4-fleet-to-l4.yaml")


def cents(a, b):
    return abs(a - b) <= 0.005


def test_gke_example_json():
    r = run("tco", "-p", GKE, "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["schema"] == "gpumigrate.tco/v1"
    assert d["commitment"] == "on-demand"
    assert d["horizon_months"] == 36
    # 16 A100 x 730 h x 0.7 x (29.38708 / 8)
    assert cents(d["cloud_costs"]["monthly"]["on_demand"], 16 * 730 * 0.7 * 29.38708 / 8)
    assert cents(d["cloud_costs"]["monthly"]["commit_3y"], 16 * 730 * 10.285667 / 8)
    # capex 4 x 62000 + 8 % network + 4 x 1500 install
    assert cents(d["onprem_costs"]["capex"]["total"], 4 * 62000 * 1.08 + 6000)
    # power: 16 x 350 W x 1.8 x (0.3 + 0.7 x 0.7) x PUE 1.4 x 730 h x 0.11
    assert cents(d["onprem_costs"]["monthly"]["power"],
                 16 * 350 * 1.8 / 1000 * 0.79 * 1.4 * 730 * 0.11)
    opex = d["onprem_costs"]["monthly"]["opex"]
    od = d["cloud_costs"]["monthly"]["on_demand"]
    assert d["breakeven"]["month"] == math.ceil(273840 / (od - opex)) == 13
    assert d["breakeven"]["by_commitment"]["commit_3y"] is None
    assert len(d["cumulative"]) == 37 and len(d["years"]) == 3
    assert d["cumulative"][0]["onprem"] == 273840
    inputs = d["inputs"]
    assert inputs["pue"]["value"] == 1.4
    assert inputs["pue"]["source"].startswith("plan ") and inputs["pue"]["source"].endswith(":28:10")
    assert inputs["server_power_factor"]["source"].startswith("catalog onprem.yaml")
    assert d["sensitivity"]["utilisation"] == [0.3, 0.5, 0.7, 0.9]
    assert d["sensitivity"]["breakeven_month"][3][3] is not None
    assert d["warnings"] == []


def test_flags_override_plan_and_say_so():
    r = run("tco", "-p", GKE, "--json", "--electricity", "0.2", "--servers", "5",
            "--commitment", "1y", "--years", "5")
    assert r.code == 0, r.err
    d = r.json()
    assert d["inputs"]["electricity_usd_per_kwh"] == {
        "value": 0.2, "unit": "USD/kWh", "source": "flag --electricity", "missing": False}
    assert d["inputs"]["servers"]["source"] == "flag --servers"
    assert d["inputs"]["commitment_source"] == "flag --commitment"
    assert d["commitment"] == "1y"
    assert d["horizon_months"] == 60
    assert cents(d["onprem_costs"]["capex"]["servers"], 5 * 62000)


def test_flags_only_with_missing_figures_warn():
    r = run("tco", "--cloud", "gcp:a2-highgpu-8g", "--cloud-count", "2", "--target-gpu", "l40s",
            "--gpus-per-server", "4", "--servers", "4", "--capex", "60000", "--utilisation", "0.5")
    assert r.code == 0, r.err
    assert "tco: 2 x gcp:a2-highgpu-8g (us-central1) -> 4 x 4 x l40s, on-demand, 3 years, " \
           "utilisation 50 %" in r.out
    assert "flag --capex" in r.out
    assert "staff_fte_per_servers has no figure and counts as 0" in r.out
    assert "break-even utilisation" in r.out and "sensitivity" in r.out


def test_text_report_and_chart():
    r = run("tco", "-p", T4, "--chart")
    assert r.code == 0, r.err
    for part in ("INPUT", "PER MONTH", "YEAR", "break-even", "cost per delivered GPU-hour",
                 "break-even utilisation", "sensitivity", "cumulative cost, USD"):
        assert part in r.out, part
    assert "vs cloud 1y" in r.out and "<- reference" in r.out


def test_usage_errors():
    r = run("tco")
    assert r.code == 2 and "tco needs a plan" in r.err
    r = run("tco", "--cloud", "gcp:a2-higpu-8g", "--target-gpu", "l40s", "--capex", "1",
            "--gpus-per-server", "4")
    assert r.code == 2
    assert "unknown instance type 'gcp:a2-higpu-8g' (did you mean 'gcp:a2-highgpu-8g'?)" in r.err
    r = run("tco", "-p", GKE, "--utilisation", "1.5")
    assert r.code == 2
    assert "'utilisation' = 1.5 (from flag --utilisation) must be a fraction in (0, 1]" in r.err
    r = run("tco", "-p", GKE, "--commitment", "2y")
    assert r.code == 2 and "--commitment must be on-demand, 1y or 3y" in r.err
    r = run("tco", "-p", fixture("plans", "good-no-capex.yaml"))
    assert r.code == 2 and "set 'capex_usd'" in r.err and "or pass --capex" in r.err
    r = run("tco", "-p", fixture("plans", "bad-cost-key.yaml"))
    assert r.code == 2 and "bad-cost-key.yaml:7:5: unknown key" in r.err
    assert r.out == ""

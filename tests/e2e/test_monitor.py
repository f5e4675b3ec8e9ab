"""`gpumigrate monitor rules` and `monitor dashboard` as a user runs them: the rules pass
promtool's checker and its unit tests (every alert firing and not firing) in both formats, the
committed deploy/ files are exactly what the commands print, the dashboard only queries metrics
the exporter documents, and the Kubernetes, Prometheus and systemd files are well formed."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import fixture, run

SRC = os.environ.get("GM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(SRC, "deploy")
PROMTOOL = shutil.which("promtool")
ALERTS = ["GPUMemoryHigh", "GPUTemperatureHigh", "GPUCriticalXid", "GPUUncorrectableECC",
          "GPURowRemapFailure", "GPURowRemapPending", "GPUThermalThrottling", "GPUPowerBrake",
          "GPUMissing", "GPUExporterDown", "PCIeLinkDegraded"]
OPERATOR = ["--format", "prometheus-operator", "--namespace", "gpumigrate"]
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


def read(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return f.read()


def documented_metrics():
    """Metric names from the tables of doc/metrics.md."""
    return set(re.findall(r"^\| `([A-Za-z_:][A-Za-z0-9_:]*)` \|", read(SRC, "doc", "metrics.md"),
                          re.M))


def rules(*args):
    r = run("monitor", "rules", *args)
    assert r.code == 0, r.err
    return r.out


def promtool_test(tmp_path, rules_text):
    """Runs the fixture's promtool unit tests against rules_text; returns the process."""
    (tmp_path / "gpu-rules.yml").write_text(rules_text)
    shutil.copy(fixture("promtool", "gpu-rules-test.yml"), tmp_path / "gpu-rules-test.yml")
    check = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "gpu-rules.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 11 rules found" in check.stdout
    return subprocess.run([PROMTOOL, "test", "rules", "gpu-rules-test.yml"], cwd=tmp_path,
                          capture_output=True, text=True)


@needs_promtool
def test_prometheus_rules_pass_promtool_unit_tests(tmp_path):
    p = promtool_test(tmp_path, rules())
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


@needs_promtool
def test_operator_rules_group_passes_the_same_tests(tmp_path):
    doc = yaml.safe_load(rules(*OPERATOR))
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["name"] == "gpumigrate-gpu"
    assert doc["metadata"]["namespace"] == "gpumigrate"
    group_file = yaml.safe_dump({"groups": doc["spec"]["groups"]}, sort_keys=False)
    p = promtool_test(tmp_path, group_file)
    assert p.returncode == 0, p.stdout + p.stderr


@needs_promtool
def test_unit_tests_catch_a_changed_threshold(tmp_path):
    # the fixture expects 0.9: at 0.96 the 95% case must stop firing and promtool must say so
    p = promtool_test(tmp_path, rules("--memory-threshold", "0.96"))
    assert p.returncode != 0
    assert "GPUMemoryHigh" in p.stdout + p.stderr


def test_fixture_covers_every_alert_both_ways():
    tests = yaml.safe_load(read(fixture("promtool", "gpu-rules-test.yml")))["tests"]
    fires, quiet = set(), set()
    for t in tests:
        for c in t["alert_rule_test"]:
            (fires if c["exp_alerts"] else quiet).add(c["alertname"])
    assert fires == set(ALERTS)
    assert quiet == set(ALERTS)


def test_rules_structure_and_flags():
    doc = yaml.safe_load(rules("--memory-threshold", "0.85", "--temperature-threshold", "80",
                               "--for", "GPUMemoryHigh=10m", "--for", "GPUExporterDown=0s",
                               "--job", "gpu-exporter"))
    group = doc["groups"][0]
    assert group["name"] == "gpumigrate-gpu"
    by = {r["alert"]: r for r in group["rules"]}
    assert list(by) == ALERTS
    assert by["GPUMemoryHigh"]["expr"].endswith("> 0.85")
    assert by["GPUMemoryHigh"]["for"] == "10m"
    assert by["GPUTemperatureHigh"]["expr"] == "DCGM_FI_DEV_GPU_TEMP > 80"
    assert by["GPUExporterDown"]["expr"] == 'up{job=~"gpu-exporter"} == 0'
    assert "for" not in by["GPUExporterDown"]
    for r in group["rules"]:
        assert r["labels"]["severity"] in ("warning", "critical")
        assert set(r["annotations"]) == {"summary", "description", "runbook"}


def test_rules_from_plan_then_flags(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("schema: gpumigrate.plan/v1\n"
                    "monitor:\n"
                    "  memory_threshold: 0.8\n"
                    "  temperature_threshold: 83\n"
                    "  job: dcgm|gpumigrate\n"
                    "  for:\n"
                    "    GPUTemperatureHigh: 2m\n")
    by = {r["alert"]: r for r in yaml.safe_load(rules("-p", str(plan)))["groups"][0]["rules"]}
    assert by["GPUMemoryHigh"]["expr"].endswith("> 0.8")
    assert by["GPUTemperatureHigh"]["expr"].endswith("> 83")
    assert by["GPUTemperatureHigh"]["for"] == "2m"
    assert by["GPUExporterDown"]["expr"] == 'up{job=~"dcgm|gpumigrate"} == 0'
    # a flag beats the plan
    by = {r["alert"]: r for r in yaml.safe_load(
        rules("-p", str(plan), "--memory-threshold", "0.97"))["groups"][0]["rules"]}
    assert by["GPUMemoryHigh"]["expr"].endswith("> 0.97")
    assert by["GPUTemperatureHigh"]["expr"].endswith("> 83")


def test_plan_with_unknown_alert_names_the_line(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("schema: gpumigrate.plan/v1\nmonitor:\n  for:\n    GPUMemHigh: 5m\n")
    r = run("monitor", "rules", "-p", str(plan))
    assert r.code == 2
    assert "plan.yaml:4:" in r.err
    assert "did you mean 'GPUMemoryHigh'" in r.err


@pytest.mark.parametrize("args,msg", [
    (["--memory-threshold", "90"], "fraction"),
    (["--memory-threshold", "abc"], "--memory-threshold"),
    (["--temperature-threshold", "-3"], "temperature"),
    (["--for", "GPUMemoryHigh"], "ALERT=DURATION"),
    (["--for", "GPUMemoryHigh=5min"], "Prometheus duration"),
    (["--for", "Nope=5m"], "no alert 'Nope'"),
    (["--format", "json"], "--format"),
    (["--job", 'a"b'], "quotes"),
    (["--namespace", "x"], "prometheus-operator"),
    (["--format", "prometheus-operator", "--label", "bad label=x"], "label"),
])
def test_rules_bad_flags(args, msg):
    r = run("monitor", "rules", *args)
    assert r.code == 2, r.out
    assert msg in r.err
    assert r.out == ""


def test_usage_errors():
    assert run("monitor").code == 2
    r = run("monitor", "graphs")
    assert r.code == 2 and "graphs" in r.err
    r = run("monitor", "dashboard", "--job", "x")
    assert r.code == 2 and "--job applies to 'monitor rules' only" in r.err


def test_rules_json_matches_yaml():
    j = run("--json", "monitor", "rules")
    assert j.code == 0
    assert json.loads(j.out) == yaml.safe_load(rules())


def test_output_file(tmp_path):
    out = tmp_path / "r.yml"
    r = run("monitor", "rules", "-o", str(out))
    assert r.code == 0 and r.out == ""
    assert out.read_text() == rules()
    r = run("monitor", "rules", "-o", str(tmp_path / "missing-dir" / "r.yml"))
    assert r.code == 4


def test_committed_files_are_generated():
    assert read(DEPLOY, "prometheus", "gpu-rules.yml") == rules(), \
        "regenerate: gpumigrate monitor rules -o deploy/prometheus/gpu-rules.yml"
    assert read(DEPLOY, "kubernetes", "prometheusrule.yaml") == rules(*OPERATOR), \
        "regenerate: gpumigrate monitor rules --format prometheus-operator --namespace " \
        "gpumigrate -o deploy/kubernetes/prometheusrule.yaml"
    d = run("monitor", "dashboard")
    assert d.code == 0
    assert read(DEPLOY, "grafana", "gpumigrate-gpu.json") == d.out, \
        "regenerate: gpumigrate monitor dashboard -o deploy/grafana/gpumigrate-gpu.json"


def test_dashboard_queries_only_documented_metrics():
    metrics = documented_metrics()
    assert "DCGM_FI_DEV_FB_USED" in metrics and "gpumigrate_xid_events_total" in metrics
    d = json.loads(run("monitor", "dashboard").out)
    assert d["schemaVersion"] == 39
    assert [v["name"] for v in d["templating"]["list"]] == ["DS_PROMETHEUS", "Hostname", "gpu"]
    promql_words = {"increase", "rate", "max_over_time", "count", "by", "or", "vector",
                    "Hostname", "gpu", "state", "reason", "counter", "type", "xid"}
    used = set()
    ids = []
    for p in d["panels"]:
        ids.append(p["id"])
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}"
        for t in p["targets"]:
            expr = re.sub(r'"[^"]*"', '""', t["expr"])   # drop label values
            expr = re.sub(r"\[[^\]]*\]", "", expr)        # and range selectors
            names = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", expr)) - promql_words
            assert names, t["expr"]
            unknown = names - metrics
            assert not unknown, f"panel '{p['title']}' queries undocumented {unknown}"
            used |= names
    assert ids == list(range(1, len(ids) + 1))
    # what NVIDIA's DCGM dashboard shows, plus health
    for m in ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK",
              "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE",
              "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_FB_USED",
              "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_ENC_UTIL",
              "DCGM_FI_DEV_DEC_UTIL", "gpumigrate_xid_events_total",
              "gpumigrate_ecc_errors_total", "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
              "gpumigrate_clock_event_active", "gpumigrate_pcie_link_width"]:
        assert m in used, m


def test_rules_query_only_documented_metrics():
    metrics = documented_metrics() | {"up"}
    words = {"increase", "max_over_time", "or", "ignoring", "state", "xid", "type", "counter",
             "reason", "job"}
    for r in yaml.safe_load(rules())["groups"][0]["rules"]:
        expr = re.sub(r'"[^"]*"', '""', r["expr"])
        expr = re.sub(r"\[[^\]]*\]", "", expr)
        names = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", expr)) - words
        assert names and names <= metrics, (r["alert"], names - metrics)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def test_kubernetes_manifests():
    # kubectl apply --dry-run=client still asks an API server for discovery; with no cluster
    # here the manifests are checked field by field instead.
    docs = {}
    for name in os.listdir(os.path.join(DEPLOY, "kubernetes")):
        for d in load_all(os.path.join(DEPLOY, "kubernetes", name)):
            docs[d["kind"]] = d
    assert set(docs) >= {"Namespace", "ServiceAccount", "DaemonSet", "Service",
                         "ServiceMonitor", "PrometheusRule"}
    ds = docs["DaemonSet"]
    assert ds["apiVersion"] == "apps/v1"
    spec = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()
    c = spec["containers"][0]
    assert c["args"][0] == "exporter"
    assert c["ports"] == [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    assert not sc.get("privileged")
    assert "runAsNonRoot" in spec["securityContext"]   # decided and explained, not defaulted
    res = c["resources"]
    assert res["requests"]["memory"] and res["limits"]["memory"] and res["limits"]["cpu"]
    assert "nvidia.com/gpu" not in res["limits"]   # watches every GPU, takes none
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        spec["tolerations"]
    terms = spec["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert any(e["key"] == "nvidia.com/gpu.present" for t in terms
               for e in t["matchExpressions"])
    vol = {v["name"]: v for v in spec["volumes"]}["pod-resources"]
    assert vol["hostPath"]["path"] == "/var/lib/kubelet/pod-resources"
    mount = {m["name"]: m for m in c["volumeMounts"]}["pod-resources"]
    assert mount["readOnly"] is True
    assert mount["mountPath"] == "/var/lib/kubelet/pod-resources"

    svc = docs["Service"]
    assert svc["metadata"]["name"] == "gpumigrate-exporter"   # the job GPUExporterDown watches
    assert svc["spec"]["selector"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["port"] == 9400
    assert svc["spec"]["ports"][0]["name"] == "metrics"
    sm = docs["ServiceMonitor"]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    ns = {d["metadata"].get("namespace") for k, d in docs.items() if k != "Namespace"}
    assert ns == {docs["Namespace"]["metadata"]["name"]}


@needs_promtool
def test_prometheus_config():
    p = subprocess.run([PROMTOOL, "check", "config",
                        os.path.join(DEPLOY, "prometheus", "prometheus.yml")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    cfg = yaml.safe_load(read(DEPLOY, "prometheus", "prometheus.yml"))
    job = cfg["scrape_configs"][0]
    assert job["job_name"] == "gpumigrate-exporter"
    assert all(t.endswith(":9400") for t in job["static_configs"][0]["targets"])
    assert cfg["rule_files"] == ["gpu-rules.yml"]


def unit_settings(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_systemd_unit(tmp_path):
    text = read(DEPLOY, "systemd", "gpumigrate-exporter.service")
    s = unit_settings(text)
    assert s["ExecStart"][0].split()[1] == "exporter"
    for key, want in [("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                      ("DynamicUser", "yes"), ("DevicePolicy", "closed"),
                      ("CapabilityBoundingSet", ""), ("PrivateTmp", "yes")]:
        assert s[key] == [want], key
    assert "char-nvidia-frontend rw" in s["DeviceAllow"]
    assert "PrivateDevices" not in s   # it would hide /dev/nvidia*
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify wants the ExecStart binary to exist: point it at the one under test
    unit = tmp_path / "gpumigrate-exporter.service"
    bin_path = os.path.abspath(os.environ.get("GPUMIGRATE_BIN", "build/gpumigrate"))
    unit.write_text(text.replace("/usr/local/bin/gpumigrate", bin_path))
    p = subprocess.run([analyze, "verify", "--man=false", str(unit)], capture_output=True,
                       text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "gpumigrate-exporter.service" not in p.stderr, p.stderr

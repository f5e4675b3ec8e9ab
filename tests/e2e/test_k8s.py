"""gpumigrate k8s scan | rewrite | labels against the GKE training-stack fixtures
(tests/fixtures/k8s): exact findings, byte-exact rewrites, idempotence, exports, labels."""
import json
import os
import shutil

import pytest
import yaml

from conftest import fixture

GKE = fixture("k8s", "gke")
RULES = fixture("k8s", "rules.yaml")
EXPECTED = fixture("k8s", "expected")
FILES = sorted(os.listdir(GKE))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_scan_findings_exact(gm):
    r = gm("k8s", "scan", "--json", GKE)
    assert r.code == 1, r.err
    doc = r.json()
    assert doc["files"] == 8 and doc["objects"] == 15
    got = [(os.path.basename(f["file"]), f["line"], f["object"], f["id"], f["severity"])
           for f in doc["findings"]]
    assert got == [
        ("helm.yaml", 7, "StorageClass/fast", "gke-provisioner", "error"),
        ("helm.yaml", 13, "DaemonSet/kube-system/nvidia-driver-installer", "gke-driver-installer", "error"),
        ("helm.yaml", 26, "DaemonSet/kube-system/nvidia-driver-installer", "image-registry", "warning"),
        ("jobs.yaml", 15, "Job/ml/finetune", "gke-node-affinity", "error"),
        ("jobs.yaml", 24, "Job/ml/finetune", "image-registry", "warning"),
        ("jobs.yaml", 41, "CronJob/ml/nightly-eval", "gke-node-selector", "error"),
        ("jobs.yaml", 41, "CronJob/ml/nightly-eval", "gke-node-selector", "error"),
        ("jobs.yaml", 42, "CronJob/ml/nightly-eval", "gpu-toleration", "warning"),
        ("jobs.yaml", 44, "CronJob/ml/nightly-eval", "image-registry", "warning"),
        ("list.yaml", 12, "Pod/ml/debug", "image-registry", "warning"),
        ("list.yaml", 19, "Ingress/ml/web", "gke-ingress-class", "error"),
        ("list.yaml", 21, "Ingress/ml/web", "gke-ingress-class", "error"),
        ("pod.json", 6, "Pod/ml/probe", "gke-node-selector", "error"),
        ("pod.json", 7, "Pod/ml/probe", "gpu-toleration", "warning"),
        ("pod.json", 8, "Pod/ml/probe", "image-registry", "warning"),
        ("pytorchjob.yaml", 13, "PyTorchJob/ml/resnet-ddp", "gke-node-selector", "error"),
        ("pytorchjob.yaml", 14, "PyTorchJob/ml/resnet-ddp", "gpu-toleration", "warning"),
        ("pytorchjob.yaml", 16, "PyTorchJob/ml/resnet-ddp", "image-registry", "warning"),
        ("pytorchjob.yaml", 25, "PyTorchJob/ml/resnet-ddp", "gke-node-selector", "error"),
        ("pytorchjob.yaml", 27, "PyTorchJob/ml/resnet-ddp", "gpu-toleration", "warning"),
        ("pytorchjob.yaml", 29, "PyTorchJob/ml/resnet-ddp", "image-registry", "warning"),
        ("serve.yaml", 19, "Deployment/ml/llm-serve", "gke-node-selector", "error"),
        ("serve.yaml", 20, "Deployment/ml/llm-serve", "gke-node-selector", "error"),
        ("serve.yaml", 21, "Deployment/ml/llm-serve", "gpu-toleration", "warning"),
        ("serve.yaml", 23, "Deployment/ml/llm-serve", "image-registry", "warning"),
        ("serve.yaml", 30, "Deployment/ml/llm-serve", "image-registry", "warning"),
        ("serve.yaml", 42, "Service/ml/llm-serve", "gke-annotation", "warning"),
        ("serve.yaml", 43, "Service/ml/llm-serve", "gke-annotation", "warning"),
        ("serve.yaml", 52, "BackendConfig/ml/llm-serve", "gke-kind", "error"),
        ("serve.yaml", 65, "ServiceAccount/ml/trainer", "workload-identity", "warning"),
        ("stateful.yaml", 19, "StatefulSet/search/vectordb", "image-registry", "warning"),
        ("stateful.yaml", 28, "StatefulSet/search/vectordb", "gke-storage-class", "error"),
        ("stateful.yaml", 40, "PersistentVolumeClaim/ml/checkpoints", "gke-storage-class", "error"),
    ]
    helm = [f for f in doc["findings"] if f["file"].endswith("helm.yaml")]
    assert helm[0]["source"] == "llm/templates/storageclass.yaml"


def test_scan_table_and_clean_exit(gm, tmp_path):
    r = gm("k8s", "scan", os.path.join(GKE, "serve.yaml"))
    assert r.code == 1
    assert "serve.yaml:65" in r.out and "ServiceAccount/ml/trainer" in r.out
    assert r.out.splitlines()[-1] == "1 files, 4 objects: 3 errors, 6 warnings"
    clean = tmp_path / "clean.yaml"
    clean.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert gm("k8s", "scan", str(clean)).code == 0
    assert gm("k8s", "scan", os.path.join(EXPECTED, "stateful.yaml")).code == 0


def test_scan_invalid_yaml(gm):
    r = gm("k8s", "scan", fixture("k8s", "bad", "invalid.yaml"))
    assert r.code == 2
    assert "invalid.yaml:8:1: flow sequence without a closing bracket" in r.err


@pytest.mark.parametrize("name", FILES)
def test_rewrite_exact(gm, name):
    r = gm("k8s", "rewrite", "-r", RULES, os.path.join(GKE, name))
    assert r.code == 0, r.err
    assert r.out.encode() == read(os.path.join(EXPECTED, name))


def test_rewrite_keeps_comments_and_passes_unknown_kinds():
    out = read(os.path.join(EXPECTED, "serve.yaml")).decode()
    assert "accelerator: nvidia-tesla-a100   # the A100 pool\n" in out
    assert "# volumes follow\n" in out
    assert out.startswith("# The inference service as it runs on GKE")
    assert read(os.path.join(EXPECTED, "unknown-crd.yaml")) == read(os.path.join(GKE, "unknown-crd.yaml"))
    assert read(os.path.join(EXPECTED, "helm.yaml")).startswith(b"---\n# Source: llm/templates/storageclass.yaml\n")


def test_rewrite_idempotent(gm, tmp_path):
    out = tmp_path / "out"
    assert gm("k8s", "rewrite", "-r", RULES, GKE, "-o", str(out)).code == 0
    for name in FILES:
        assert read(out / name) == read(os.path.join(EXPECTED, name))
    r = gm("k8s", "rewrite", "-r", RULES, str(out), "--diff")
    assert r.code == 0 and r.out == ""


def test_rewrite_output_parses(gm):
    for name in FILES:
        with open(os.path.join(EXPECTED, name)) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        assert docs, name
    with open(os.path.join(EXPECTED, "serve.yaml")) as f:
        dep = next(yaml.safe_load_all(f))
    spec = dep["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"accelerator": "nvidia-tesla-a100",
                                    "node-pool.example.com/name": "gpu-a100"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["imagePullSecrets"] == [{"name": "harbor-pull"}]
    assert [c["image"] for c in spec["containers"]] == [
        "harbor.local/ml/llm-serve:1.8.2",
        "harbor.local/ml-ar/tools/metrics@sha256:" + "0123456789abcdef" * 4]
    with open(os.path.join(EXPECTED, "pod.json")) as f:
        pod = json.load(f)
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "Tesla-T4", "accelerator": "nvidia-tesla-t4"}


def test_rewrite_diff(gm):
    r = gm("k8s", "rewrite", "-r", RULES, os.path.join(GKE, "stateful.yaml"), "--diff")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0] == "--- " + os.path.join(GKE, "stateful.yaml")
    assert "-          image: gcr.io/acme-search/vectordb:2.1" in lines
    assert "+          image: harbor.local/gcr/acme-search/vectordb:2.1" in lines
    assert "-  storageClassName: premium-rwo" in lines and "+  storageClassName: ceph-rbd" in lines
    assert [l for l in lines if l.startswith("@@")] == ["@@ -16,16 +16,18 @@", "@@ -37,7 +39,7 @@"]


def test_rewrite_in_place_atomic(gm, tmp_path):
    work = tmp_path / "m"
    shutil.copytree(GKE, work)
    before = os.stat(work / "unknown-crd.yaml").st_ino
    r = gm("k8s", "rewrite", "-r", RULES, "--in-place", str(work))
    assert r.code == 0, r.err
    for name in FILES:
        assert read(work / name) == read(os.path.join(EXPECTED, name))
    assert os.stat(work / "unknown-crd.yaml").st_ino == before  # unchanged: not rewritten
    assert not [p for p in os.listdir(work) if p.startswith(".")]


def test_rewrite_errors(gm, tmp_path):
    r = gm("k8s", "rewrite", os.path.join(GKE, "serve.yaml"))
    assert r.code == 2 and "needs rules" in r.err
    bad = tmp_path / "rules.yaml"
    bad.write_text("images:\n  - from: gcr.io\n    too: x\n")
    r = gm("k8s", "rewrite", "-r", str(bad), os.path.join(GKE, "serve.yaml"))
    assert r.code == 2 and "rules.yaml:3:5: unknown key 'too' (did you mean 'to'?)" in r.err
    r = gm("k8s", "rewrite", "-r", RULES, fixture("k8s", "bad", "invalid.yaml"))
    assert r.code == 2 and "invalid.yaml:8:1" in r.err


def test_export_velero(gm):
    r = gm("k8s", "rewrite", "-r", RULES, "--export", "velero")
    assert r.code == 0, r.err
    cm = yaml.safe_load(r.out)
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["namespace"] == "velero"
    mods = yaml.safe_load(cm["data"]["resource-modifiers.yaml"])
    assert mods["version"] == "v1"
    rules = mods["resourceModifierRules"]
    pvc = rules[0]
    assert pvc["conditions"] == {"groupResource": "persistentvolumeclaims",
                                 "matches": [{"path": "/spec/storageClassName", "value": "standard-rwo"}]}
    assert pvc["patches"] == [{"operation": "replace", "path": "/spec/storageClassName", "value": "local-path"}]
    dep = [x for x in rules if x["conditions"]["groupResource"] == "deployments.apps"]
    assert dep[0]["conditions"]["matches"] == [
        {"path": "/spec/template/spec/nodeSelector/cloud.google.com~1gke-accelerator", "value": "nvidia-tesla-a100"}]
    assert json.loads(dep[0]["mergePatches"][0]["patchData"]) == {"spec": {"template": {"spec": {"nodeSelector": {
        "cloud.google.com/gke-accelerator": None, "accelerator": "nvidia-tesla-a100"}}}}}
    sa = [x for x in rules if x["conditions"]["groupResource"] == "serviceaccounts"][0]
    assert json.loads(sa["mergePatches"][0]["patchData"])["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": None, "cloud.google.com/neg": None,
        "cloud.google.com/backend-config": "{}", "kubernetes.io/ingress.class": "nginx"}
    for x in rules:
        assert set(x) <= {"conditions", "patches", "mergePatches"}


def test_export_velero_plugins(gm):
    r = gm("k8s", "rewrite", "-r", RULES, "--export", "velero-plugins")
    assert r.code == 0
    img, sc = list(yaml.safe_load_all(r.out))
    assert img["metadata"]["labels"] == {"velero.io/plugin-config": "",
                                         "velero.io/change-image-name": "RestoreItemAction"}
    assert img["data"] == {"case1": "gcr.io/acme-ml,harbor.local/ml",
                           "case2": "us-docker.pkg.dev/acme-ml,harbor.local/ml-ar",
                           "case3": "gcr.io,harbor.local/gcr"}
    assert sc["metadata"]["labels"]["velero.io/change-storage-class"] == "RestoreItemAction"
    assert sc["data"] == {"standard-rwo": "local-path", "premium-rwo": "ceph-rbd"}


def test_export_kustomize(gm):
    r = gm("k8s", "rewrite", "-r", RULES, "--export", "kustomize", GKE)
    assert r.code == 0, r.err
    doc = yaml.safe_load(r.out)
    assert doc["images"] == [
        {"name": "gcr.io/google-containers/pause", "newName": "harbor.local/gcr/google-containers/pause"},
        {"name": "us-docker.pkg.dev/acme-ml/training/llama-finetune", "newName": "harbor.local/ml-ar/training/llama-finetune"},
        {"name": "gcr.io/acme-ml/eval", "newName": "harbor.local/ml/eval"},
        {"name": "gcr.io/acme-ml/debug", "newName": "harbor.local/ml/debug"},
        {"name": "gcr.io/acme-ml/probe", "newName": "harbor.local/ml/probe"},
        {"name": "gcr.io/acme-ml/resnet", "newName": "harbor.local/ml/resnet"},
        {"name": "gcr.io/acme-ml/llm-serve", "newName": "harbor.local/ml/llm-serve"},
        {"name": "us-docker.pkg.dev/acme-ml/tools/metrics", "newName": "harbor.local/ml-ar/tools/metrics"},
        {"name": "gcr.io/acme-search/vectordb", "newName": "harbor.local/gcr/acme-search/vectordb"},
    ]


LABELS_T4 = {
    "nvidia.com/gpu.product": "Tesla-T4", "nvidia.com/gpu.count": "2", "nvidia.com/gpu.memory": "15720",
    "nvidia.com/cuda.driver-version.major": "535", "nvidia.com/cuda.driver-version.minor": "104",
    "nvidia.com/cuda.driver-version.revision": "05", "nvidia.com/cuda.runtime-version.major": "12",
    "nvidia.com/cuda.runtime-version.minor": "2", "nvidia.com/gpu.compute.major": "7",
    "nvidia.com/gpu.compute.minor": "5", "nvidia.com/gpu.family": "turing",
    "accelerator": "nvidia-tesla-t4", "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
}


def test_labels_json_exact(gm):
    r = gm("k8s", "labels", "--inventory", fixture("inventory", "degraded-t4.json"), "--json")
    assert r.code == 0, r.err
    assert r.json() == {"node": "gpu-t4-07", "labels": LABELS_T4, "notes": []}
    r = gm("k8s", "labels", "--inventory", fixture("inventory", "healthy-a100.json"), "--format", "json")
    labels = r.json()["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert labels["nvidia.com/gpu.memory"] == "81920"
    assert labels["nvidia.com/gpu.family"] == "ampere"
    assert labels["accelerator"] == "nvidia-a100-80gb"


def test_labels_nfd_file_and_kubectl(gm, tmp_path):
    out = tmp_path / "gpu"
    r = gm("k8s", "labels", "--inventory", fixture("inventory", "degraded-t4.json"), "-o", str(out))
    assert r.code == 0 and r.out == ""
    lines = [l for l in out.read_text().splitlines() if not l.startswith("#")]
    assert dict(l.split("=", 1) for l in lines) == LABELS_T4
    r = gm("k8s", "labels", "--inventory", fixture("inventory", "degraded-t4.json"), "--format", "kubectl",
           "--node", "n1")
    assert r.out.startswith("kubectl label node n1 --overwrite \\\n  nvidia.com/gpu.product=Tesla-T4 \\\n")


def test_labels_unknown_left_out(gm):
    r = gm("k8s", "labels", "--inventory", fixture("inventory", "no-driver.json"), "--json")
    assert r.code == 0
    doc = r.json()
    assert doc["labels"] == {}
    assert len(doc["notes"]) == 1 and doc["notes"][0].startswith("nvidia.com/*: left out: ")


def test_help_lists_subcommands(gm):
    r = gm("k8s", "--help")
    assert r.code == 0
    for sub in ("scan", "rewrite", "labels", "mirror", "--in-place", "--export", "--inventory"):
        assert sub in r.out

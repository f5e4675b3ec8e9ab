/* Rules about running GPU containers: the NVIDIA runtime in docker/containerd, the NVIDIA
 * container toolkit, and the Kubernetes node side (kubelet, device plugin, node labels that
 * let GKE manifests keep selecting the right GPUs). */
#include <string.h>

#include "assess/check.h"
#include "assess/gke_labels.h"
#include "util/banned.h"

static bool fb(const struct gm_fbool *f)
{
	return gm_fact_ok(&f->f) && f->v;
}

static bool os_is(const struct gm_host *h, const char *id)
{
	return gm_fact_ok(&h->os_id.f) && h->os_id.v && strcmp(h->os_id.v, id) == 0;
}

static void runtime_nvidia(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	bool docker = ctx->profile == GM_PROFILE_DOCKER;
	const char *rt = docker ? "docker" : "containerd";
	const struct gm_fbool *installed = docker ? &h->docker : &h->containerd;
	const struct gm_fbool *nvidia = docker ? &h->docker_nvidia : &h->containerd_nvidia;
	if (!gm_fact_ok(&installed->f)) {
		gm_check_skip(r, "%s state unknown: %s", rt,
		              installed->f.why ? installed->f.why : "?");
		return;
	}
	if (!installed->v) {
		if (ctx->profile == GM_PROFILE_ANTHOS) {
			gm_check_skip(
			        r, "containerd not installed yet: GDC installs it, and the NVIDIA "
			           "GPU Operator configures its runtime");
			return;
		}
		gm_check_set(r, GM_CHECK_FAIL, "%s not installed", rt);
		if (docker)
			gm_check_hint(
			        r,
			        "install Docker Engine "
			        "(https://docs.docker.com/engine/install/), then sudo nvidia-ctk "
			        "runtime configure --runtime=docker && sudo systemctl restart "
			        "docker");
		else
			gm_check_hint(r,
			              "install containerd (%s), then sudo nvidia-ctk runtime "
			              "configure --runtime=containerd && sudo systemctl restart "
			              "containerd",
			              os_is(h, "ubuntu") || os_is(h, "debian")
			                      ? "sudo apt-get install -y containerd"
			                      : "sudo dnf install -y containerd.io");
		return;
	}
	if (fb(nvidia)) {
		gm_check_set(r, GM_CHECK_PASS, "nvidia runtime configured for %s", rt);
		return;
	}
	if (!gm_fact_ok(&nvidia->f)) {
		gm_check_skip(r, "%s configuration unreadable: %s", rt,
		              nvidia->f.why ? nvidia->f.why : "?");
		return;
	}
	if (!docker && fb(&h->device_plugin))
		gm_check_set(
		        r, GM_CHECK_WARN,
		        "no nvidia runtime in containerd's configuration, yet the device plugin "
		        "runs (the GPU Operator may use a drop-in file)");
	else
		gm_check_set(r, GM_CHECK_FAIL, "%s has no nvidia runtime: containers get no GPU",
		             rt);
	gm_check_hint(r,
	              "sudo nvidia-ctk runtime configure --runtime=%s && sudo systemctl restart %s",
	              rt, rt);
}

static void toolkit(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	if (!gm_fact_ok(&h->nvidia_ctk.f)) {
		gm_check_skip(r, "toolkit state unknown: %s",
		              h->nvidia_ctk.f.why ? h->nvidia_ctk.f.why : "?");
	} else if (h->nvidia_ctk.v) {
		gm_check_set(r, GM_CHECK_PASS, "nvidia-container-toolkit installed");
	} else if (ctx->profile != GM_PROFILE_DOCKER && fb(&h->device_plugin)) {
		gm_check_set(r, GM_CHECK_PASS,
		             "toolkit not on the host; the device plugin runs (the "
		             "GPU Operator ships the toolkit as a container)");
	} else {
		gm_check_set(r, GM_CHECK_FAIL, "nvidia-container-toolkit not installed");
		if (os_is(h, "ubuntu") || os_is(h, "debian"))
			gm_check_hint(r, "add NVIDIA's apt repository "
			                 "(https://docs.nvidia.com/datacenter/cloud-native/"
			                 "container-toolkit/latest/install-guide.html), then sudo "
			                 "apt-get install -y nvidia-container-toolkit");
		else
			gm_check_hint(r,
			              "add NVIDIA's repository "
			              "(https://docs.nvidia.com/datacenter/cloud-native/"
			              "container-toolkit/latest/install-guide.html), then sudo dnf "
			              "install -y nvidia-container-toolkit");
	}
}

static void kubelet(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_fbool *k = &ctx->inv->host.kubelet;
	if (!gm_fact_ok(&k->f)) {
		gm_check_skip(r, "kubelet state unknown: %s", k->f.why ? k->f.why : "?");
	} else if (k->v) {
		gm_check_set(r, GM_CHECK_PASS, "kubelet installed");
	} else if (ctx->profile == GM_PROFILE_ANTHOS) {
		gm_check_skip(r,
		              "kubelet not installed yet: bmctl installs it when the node joins");
	} else {
		gm_check_set(r, GM_CHECK_FAIL, "kubelet not installed");
		gm_check_hint(r, "install kubeadm, kubelet and kubectl "
		                 "(https://kubernetes.io/docs/setup/production-environment/tools/"
		                 "kubeadm/install-kubeadm/) and join the node");
	}
}

static void device_plugin(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	if (!fb(&h->kubelet)) {
		gm_check_skip(r, "kubelet not installed: the device plugin comes after the node "
		                 "joins");
	} else if (!gm_fact_ok(&h->device_plugin.f)) {
		gm_check_skip(r, "device plugin state unknown: %s",
		              h->device_plugin.f.why ? h->device_plugin.f.why : "?");
	} else if (h->device_plugin.v) {
		gm_check_set(r, GM_CHECK_PASS,
		             "NVIDIA device plugin socket in "
		             "/var/lib/kubelet/device-plugins");
	} else {
		gm_check_set(
		        r, GM_CHECK_WARN,
		        "no NVIDIA device plugin socket in /var/lib/kubelet/device-plugins: pods "
		        "cannot request nvidia.com/gpu");
		gm_check_hint(r,
		              "helm repo add nvidia https://helm.ngc.nvidia.com/nvidia && helm "
		              "install --wait gpu-operator -n gpu-operator --create-namespace "
		              "nvidia/gpu-operator%s",
		              fb(&h->mod_nvidia) ? " --set driver.enabled=false" : "");
	}
}

static void node_labels(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	const char *node = gm_check_node_name(ctx->inv);
	const char *name = NULL;
	if (gm_check_need_nvml(ctx, r))
		return;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		if (!gm_fact_ok(&g->name.f) || !g->name.v)
			continue;
		if (!name) {
			name = g->name.v;
		} else if (strcmp(name, g->name.v) != 0) {
			gm_check_set(r, GM_CHECK_WARN,
			             "GPU models differ ('%s', '%s'): one accelerator label cannot "
			             "describe the node",
			             name, g->name.v);
			gm_check_hint(r, "keep one GPU model per node, or select on "
			                 "nvidia.com/gpu.product from GPU Feature Discovery");
			return;
		}
	}
	if (!name) {
		gm_check_skip(r, "GPU names unknown");
		return;
	}
	const char *gke = gm_gke_accelerator_for_gpu(name);
	if (gke) {
		gm_check_set(r, GM_CHECK_PASS, "'%s' is GKE's %s", name, gke);
		gm_check_hint(r,
		              "kubectl label nodes %s accelerator=%s "
		              "cloud.google.com/gke-accelerator=%s",
		              node, gke, gke);
		return;
	}
	struct gm_buf product = GM_BUF_INIT;
	for (const char *p = name; *p; p++)
		gm_buf_addch(&product, *p == ' ' ? '-' : *p);
	gm_check_set(r, GM_CHECK_PASS,
	             "'%s' has no GKE accelerator name: label it by product; manifests that select "
	             "cloud.google.com/gke-accelerator need rewriting (gpumigrate k8s rewrite)",
	             name);
	gm_check_hint(r, "kubectl label nodes %s nvidia.com/gpu.product=%s", node,
	              gm_buf_cstr(&product));
	gm_buf_release(&product);
}

const struct gm_check_rule gm_check_rules_runtime[] = {
        {"runtime.nvidia", "NVIDIA runtime configured for docker/containerd", GM_P_DRIVER,
         runtime_nvidia},
        {"runtime.toolkit", "NVIDIA container toolkit installed", GM_P_DRIVER, toolkit},
        {"k8s.kubelet", "kubelet installed", GM_P_KUBE, kubelet},
        {"k8s.device-plugin", "NVIDIA device plugin registered with the kubelet", GM_P_KUBE,
         device_plugin},
        {"k8s.node-labels", "GPU node labels for GKE manifests", GM_P_KUBE, node_labels},
        {NULL, NULL, 0, NULL},
};

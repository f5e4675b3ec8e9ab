/* Host readiness (`gpumigrate check`): a registry of rules with stable ids, each looking at
 * one aspect of a GPU host (driver, IOMMU, PCIe, NUMA, GPU health, container runtime,
 * Kubernetes, Anthos/GDC bare metal prerequisites, plan requirements) and answering PASS,
 * WARN, FAIL or SKIP (always with the reason), the evidence it saw and the command that fixes
 * it. Rules read a struct gm_inventory (collected here or loaded from a saved file) and,
 * when check runs on the host itself, struct gm_evidence (kernel log, processes, ports).
 *
 * The rules live in check_<theme>.c; the ids are documented in gpumigrate-check(1). */
#ifndef GM_CHECK_H
#define GM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assess/cuda_compat.h"
#include "assess/evidence.h"
#include "assess/xid.h"
#include "hw/inventory.h"
#include "util/buf.h"
#include "util/err.h"

#define GM_CHECK_SCHEMA "gpumigrate.check/v1"

enum gm_check_status { GM_CHECK_PASS = 0, GM_CHECK_WARN, GM_CHECK_FAIL, GM_CHECK_SKIP };
#define GM_CHECK_N_STATUS 4

/* What the host is being prepared for; chooses which rules apply. */
enum gm_check_profile {
	GM_PROFILE_K8S = 0, /* Kubernetes node (kubeadm, MicroK8s, RKE2 …) */
	GM_PROFILE_ANTHOS,  /* Anthos / Google Distributed Cloud on bare metal */
	GM_PROFILE_DOCKER,  /* plain Docker host */
	GM_PROFILE_VM,      /* hypervisor passing whole GPUs to VMs (VFIO) */
};
#define GM_PROFILE_N 4

/* Bit masks of profiles, for rule tables. */
#define GM_P(p) (1u << (p))
#define GM_P_ALL                                                                    \
	(GM_P(GM_PROFILE_K8S) | GM_P(GM_PROFILE_ANTHOS) | GM_P(GM_PROFILE_DOCKER) | \
	 GM_P(GM_PROFILE_VM))
#define GM_P_DRIVER (GM_P(GM_PROFILE_K8S) | GM_P(GM_PROFILE_ANTHOS) | GM_P(GM_PROFILE_DOCKER))
#define GM_P_KUBE   (GM_P(GM_PROFILE_K8S) | GM_P(GM_PROFILE_ANTHOS))

/* "k8s", "anthos-baremetal", "docker", "vm-passthrough". */
const char *gm_check_profile_name(enum gm_check_profile p);
bool gm_check_profile_parse(const char *s, enum gm_check_profile *out);
/* "PASS", "WARN", "FAIL", "SKIP". */
const char *gm_check_status_name(enum gm_check_status s);

/* What the workload needs (from the command line or the plan); zero/NULL: not required. */
struct gm_check_reqs {
	const char *cuda;         /* "12.4" */
	int64_t gpus;             /* at least this many GPUs */
	const char *gpu_model;    /* substring of the GPU name, case-insensitive ("A100") */
	int64_t gpu_memory_bytes; /* at least this much memory per GPU */
};

/* Everything a rule may look at. */
struct gm_check_ctx {
	const struct gm_inventory *inv;
	const struct gm_evidence *ev; /* NULL for a saved inventory */
	enum gm_check_profile profile;
	struct gm_check_reqs req;
	const struct gm_cuda_table *cuda; /* NULL: driver.cuda-compat is skipped */
	const struct gm_xid_catalog *xid; /* NULL: Xids are reported without meanings */
};

/* The answer of one rule. */
struct gm_check_result {
	const char *id;    /* static, from the rule table */
	const char *title; /* static */
	enum gm_check_status status;
	struct gm_buf evidence;    /* what was seen */
	struct gm_buf hint;        /* the fix: a concrete command, empty when nothing to do */
	struct gm_buf skip_reason; /* SKIP only */
};

struct gm_check_rule {
	const char *id;
	const char *title;
	unsigned profiles; /* GM_P() mask; outside it the rule is skipped with the reason */
	void (*run)(const struct gm_check_ctx *ctx, struct gm_check_result *r);
};

/* Each theme's table, ending with an entry whose id is NULL. */
extern const struct gm_check_rule gm_check_rules_driver[];
extern const struct gm_check_rule gm_check_rules_host[];
extern const struct gm_check_rule gm_check_rules_pcie[];
extern const struct gm_check_rule gm_check_rules_health[];
extern const struct gm_check_rule gm_check_rules_runtime[];
extern const struct gm_check_rule gm_check_rules_anthos[];
extern const struct gm_check_rule gm_check_rules_gpu[];

/* Iterates over every rule in report order: pass NULL first, then the previous rule; returns
 * NULL after the last. */
const struct gm_check_rule *gm_check_rule_next(const struct gm_check_rule *prev);
/* The rule with this id, or NULL. */
const struct gm_check_rule *gm_check_rule_find(const char *id);

/* The results for one host. */
struct gm_check_report {
	char *host;   /* hostname (or the inventory file name when it has none) */
	char *source; /* "local" or the inventory file */
	enum gm_check_profile profile;
	struct gm_check_result *results;
	size_t n;
	size_t count[GM_CHECK_N_STATUS];
};

/* Which rules to run: fnmatch(3) globs on the id; only == NULL means all. */
struct gm_check_filter {
	const char *const *only; /* NULL-terminated */
	const char *const *skip; /* NULL-terminated */
};

/* Whether a filter glob matches at least one rule id (for usage errors on typos). */
bool gm_check_glob_matches_any(const char *glob);

/* Runs the rules that pass filter (NULL: all) over ctx into out (fresh). Rules outside the
 * profile are SKIP with the reason. Never fails. */
void gm_check_run(const struct gm_check_ctx *ctx, const struct gm_check_filter *filter,
                  const char *source, struct gm_check_report *out);
void gm_check_report_release(struct gm_check_report *r);
/* The result with this id in r, or NULL. */
const struct gm_check_result *gm_check_report_find(const struct gm_check_report *r, const char *id);

/* Setters for rules: status plus formatted evidence; hint and skip reason are set apart. */
void gm_check_set(struct gm_check_result *r, enum gm_check_status s, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void gm_check_hint(struct gm_check_result *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void gm_check_skip(struct gm_check_result *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Rendering: the gpumigrate.check/v1 JSON document, and JUnit XML (one testsuite per host,
 * one testcase per rule; FAIL is <failure>, SKIP is <skipped>, WARN passes with the warning
 * in <system-out>). Both append to out. */
void gm_check_to_json(const struct gm_check_report *reports, size_t n, struct gm_buf *out,
                      bool pretty);
void gm_check_to_junit(const struct gm_check_report *reports, size_t n, struct gm_buf *out);

/* Helpers the rules share. */
/* "GPU 0 (0000:3b:00.0)" */
void gm_check_gpu_label(const struct gm_gpu *g, struct gm_buf *out);
/* The host name for commands ("kubectl label nodes NAME"): hostname, else "<node>". */
const char *gm_check_node_name(const struct gm_inventory *inv);
/* Whether NVML reported the GPU lost (fell off the bus) while its facts were read. */
bool gm_check_gpu_lost(const struct gm_gpu *g);
/* NVML usable and at least one GPU. */
bool gm_check_have_gpus(const struct gm_inventory *inv);
/* Sets FAIL (driver missing) or SKIP for a rule that needs NVML data when there is none;
 * returns true when it did (the rule returns). */
bool gm_check_need_nvml(const struct gm_check_ctx *ctx, struct gm_check_result *r);
/* The package command that installs NVIDIA driver branch (0: any recent) on this OS. */
void gm_check_driver_install_hint(const struct gm_inventory *inv, int branch, struct gm_buf *out);

#endif

/* The assessment: one plan file in, one answer out — does the on-prem hardware match what
 * runs in the cloud, when does owning it pay off, are the target servers ready, how long does
 * the data take to move, and the ordered checklist of gpumigrate commands for the migration.
 * It combines compare (capacity), tco (cost), check (readiness) and the plan's datasets and
 * network. Rendering to the terminal lives in cmd_assess.c; JSON and HTML here, as data. */
#ifndef GM_ASSESS_H
#define GM_ASSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "assess/catalog.h"
#include "assess/check.h"
#include "assess/compare.h"
#include "assess/plan.h"
#include "assess/tco.h"
#include "util/buf.h"
#include "util/err.h"

#define GM_ASSESS_SCHEMA "gpumigrate.assessment/v1"

/* Share of a WAN link's nominal rate a bulk copy sustains (TCP over long paths, protocol
 * overhead, contention); the estimate says it assumed this. */
#define GM_ASSESS_LINK_EFFICIENCY 0.8

/* One capacity comparison: the whole cloud fleet of one instance type against one target
 * server type, for one workload (or the fleet when the plan names no workload). */
struct gm_assess_capacity {
	char *workload;   /* workload name, or "fleet" */
	const char *kind; /* "training", "inference" or NULL (borrowed from the plan) */
	struct gm_side src, tgt;
	struct gm_compare_result cmp;
	int planned_target_gpus; /* GPUs the plan buys of this server type */
	/* planned target GPUs / GPUs needed, per profile (unknown when not computable) */
	struct gm_num coverage[3];
};

struct gm_assess_dataset {
	const char *name;   /* borrowed from the plan */
	const char *source; /* borrowed */
	bool size_known;
	double bytes;
	struct gm_num hours; /* transfer time at the plan's bandwidth */
};

enum gm_assess_phase {
	GM_PHASE_PREPARE,
	GM_PHASE_MOVE_DATA,
	GM_PHASE_MOVE_WORKLOADS,
	GM_PHASE_VALIDATE,
	GM_PHASE_CUT_OVER,
	GM_PHASE_ROLLBACK,
	GM_PHASE_N
};

/* "prepare", "move data", … */
const char *gm_assess_phase_name(enum gm_assess_phase p);

struct gm_assess_step {
	enum gm_assess_phase phase;
	char *what;    /* what the step achieves */
	char *command; /* the exact command line; NULL for a step that is not a command */
};

enum gm_assess_verdict {
	GM_VERDICT_GO = 0, /* every threshold met, nothing blocks */
	GM_VERDICT_REVIEW, /* no blocker, but some threshold is missed or unknown */
	GM_VERDICT_NO_GO,  /* a blocker: the workload cannot run on the target as planned */
};

const char *gm_assess_verdict_name(enum gm_assess_verdict v);

struct gm_assess {
	const struct gm_plan *plan;   /* borrowed */
	const struct gm_catalog *cat; /* borrowed */
	time_t now;

	struct gm_assess_capacity *caps;
	size_t n_caps;

	bool tco_ok;
	struct gm_buf tco_why; /* why there is no TCO (missing inputs) */
	struct gm_tco_inputs tco_in;
	struct gm_tco_result tco;

	struct gm_check_report *ready; /* one per target host (plan inventories, local host) */
	size_t n_ready;
	struct gm_buf ready_why; /* why readiness was not assessed */

	struct gm_assess_dataset *datasets;
	size_t n_datasets;
	double data_bytes;        /* sum of the known sizes */
	struct gm_num data_hours; /* all datasets, one after the other, at the plan's bandwidth */

	struct gm_assess_step *steps;
	size_t n_steps;

	char **findings; /* what drove the verdict, one line each */
	size_t n_findings;
	char **warnings; /* stale prices, assumptions worth knowing */
	size_t n_warnings;
	enum gm_assess_verdict verdict;
};

struct gm_assess_opts {
	time_t now;
	/* Runs the readiness checks on this host too (the plan's target.check.local). */
	bool check_local;
	struct gm_root local_root;
	const char *nvml_library; /* for the local check */
};

void gm_assess_init(struct gm_assess *a);
void gm_assess_release(struct gm_assess *a);

/* Assesses plan with the catalog. Fails only when the plan cannot be assessed at all (an
 * unknown instance type or GPU: GM_ERR_USAGE naming the plan line; an unreadable inventory
 * named in the plan); missing figures become unknowns and findings. */
enum gm_rc gm_assess_run(struct gm_assess *a, const struct gm_plan *plan,
                         const struct gm_catalog *cat, const struct gm_assess_opts *opts,
                         struct gm_err *err);

/* gpumigrate.assessment/v1 (doc/formats.md). */
void gm_assess_to_json(const struct gm_assess *a, struct gm_buf *out, bool pretty);
/* One self-contained HTML page: inline CSS, inline SVG charts, no script, no network. */
void gm_assess_to_html(const struct gm_assess *a, struct gm_buf *out);

#endif

/* The assessment as documents: gpumigrate.assessment/v1 JSON, and one self-contained HTML
 * page (inline CSS and SVG, no script, a CSP that forbids every fetch) for sharing with
 * people who will never run the tool. */
#include <math.h>
#include <string.h>

#include "assess/assess.h"
#include "assess/svg.h"
#include "util/doc.h"
#include "util/json.h"
#include "util/banned.h"

static void json_num(struct gm_json *j, const char *key, struct gm_num n)
{
	if (n.known)
		gm_json_double(j, key, n.v);
	else
		gm_json_null(j, key);
}

static void json_capacity(struct gm_json *j, const struct gm_assess_capacity *c)
{
	struct gm_buf doc = GM_BUF_INIT;
	gm_json_begin_object(j, NULL);
	gm_json_str(j, "workload", c->workload);
	gm_json_int(j, "planned_target_gpus", c->planned_target_gpus);
	gm_json_begin_object(j, "coverage");
	for (size_t p = 0; p < c->cmp.n_profiles && p < 3; p++)
		json_num(j, c->cmp.profiles[p].name, c->coverage[p]);
	gm_json_end_object(j);
	gm_compare_to_json(&c->cmp, &doc, false);
	gm_json_raw(j, "compare", doc.data, doc.len);
	gm_json_end_object(j);
	gm_buf_release(&doc);
}

static void json_strings(struct gm_json *j, const char *key, char *const *v, size_t n)
{
	gm_json_begin_array(j, key);
	for (size_t i = 0; i < n; i++)
		gm_json_str(j, NULL, v[i]);
	gm_json_end_array(j);
}

void gm_assess_to_json(const struct gm_assess *a, struct gm_buf *out, bool pretty)
{
	struct gm_buf flat = GM_BUF_INIT, doc = GM_BUF_INIT;
	struct gm_json j;
	gm_json_init(&j, &flat, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "schema", GM_ASSESS_SCHEMA);
	gm_json_str(&j, "plan", a->plan->path);
	gm_json_str(&j, "name", a->plan->name.v);
	gm_json_str(&j, "verdict", gm_assess_verdict_name(a->verdict));
	json_strings(&j, "findings", a->findings, a->n_findings);
	json_strings(&j, "warnings", a->warnings, a->n_warnings);

	gm_json_begin_array(&j, "capacity");
	for (size_t i = 0; i < a->n_caps; i++)
		json_capacity(&j, &a->caps[i]);
	gm_json_end_array(&j);

	if (a->tco_ok) {
		gm_tco_to_json(&a->tco_in, &a->tco, &j, "tco");
	} else {
		gm_json_null(&j, "tco");
		gm_json_str(&j, "tco_unavailable", gm_buf_cstr(&a->tco_why));
	}

	if (a->n_ready) {
		gm_check_to_json(a->ready, a->n_ready, &doc, false);
		gm_json_raw(&j, "readiness", doc.data, doc.len);
	} else {
		gm_json_null(&j, "readiness");
		gm_json_str(&j, "readiness_unavailable", gm_buf_cstr(&a->ready_why));
	}

	gm_json_begin_object(&j, "data");
	json_num(&j, "bandwidth_bps",
	         a->plan->bandwidth_bps.set ? GM_NUM(a->plan->bandwidth_bps.v) : GM_NUM_UNKNOWN);
	gm_json_double(&j, "link_efficiency", GM_ASSESS_LINK_EFFICIENCY);
	gm_json_double(&j, "total_bytes", a->data_bytes);
	json_num(&j, "hours", a->data_hours);
	gm_json_begin_array(&j, "datasets");
	for (size_t i = 0; i < a->n_datasets; i++) {
		const struct gm_assess_dataset *d = &a->datasets[i];
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "name", d->name);
		gm_json_str(&j, "source", d->source);
		json_num(&j, "bytes", d->size_known ? GM_NUM(d->bytes) : GM_NUM_UNKNOWN);
		json_num(&j, "hours", d->hours);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_end_object(&j);

	gm_json_begin_array(&j, "checklist");
	for (size_t i = 0; i < a->n_steps; i++) {
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "phase", gm_assess_phase_name(a->steps[i].phase));
		gm_json_str(&j, "what", a->steps[i].what);
		gm_json_str(&j, "command", a->steps[i].command);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_end_object(&j);

	if (!pretty || gm_doc_json_pretty(flat.data, flat.len, out, NULL) != GM_OK)
		gm_buf_add(out, flat.data, flat.len);
	gm_buf_release(&flat);
	gm_buf_release(&doc);
}

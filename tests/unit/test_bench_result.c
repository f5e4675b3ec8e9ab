/* Unit tests for the bench result document (write → read round trip, caps, file:line
 * errors, compatibility with the GPU-only form `compare` reads), the verdict rule of
 * `bench compare`, and the metric extraction of `bench run`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/result.h"
#include "bench/runcmd.h"
#include "bench/verdict.h"
#include "util/banned.h"

static void test_round_trip(void **state)
{
	(void)state;
	struct gm_bench_result r, back;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf json = GM_BUF_INIT;
	gm_bench_result_init(&r);
	gm_bench_result_init(&back);
	gm_bench_result_begin(&r, "run");
	assert_string_equal(r.kind, "run");
	assert_int_equal(strlen(r.started), 20); /* 2026-11-28T15:47:14Z */
	assert_true(r.started[10] == 'T' && r.started[19] == 'Z');
	struct gm_bench_figure *f =
	        gm_bench_result_add_figure(&r, "wall_time", "s", GM_BETTER_LOWER);
	assert_non_null(f);
	assert_null(gm_bench_result_add_figure(&r, "wall_time", "s", GM_BETTER_LOWER));
	gm_bench_figure_add_sample(f, 0.5);
	gm_bench_figure_add_sample(f, 0.25);
	gm_bench_figure_add_sample(f, 0.125);
	gm_bench_figure_summarize(f);
	struct gm_bench_figure *g =
	        gm_bench_result_add_figure(&r, "throughput", "samples/s", GM_BETTER_HIGHER);
	gm_bench_figure_add_sample(g, 1234.5);
	gm_bench_figure_summarize(g);
	gm_bench_result_set_counter(&r, "errors", 3);
	gm_bench_result_set_counter(&r, "errors", 4);
	assert_int_equal(gm_bench_result_set_raw(&r, "params", "{\"runs\": 3}", &err), GM_OK);
	assert_int_equal(gm_bench_result_set_raw(&r, "figures", "{}", &err), GM_ERR_USAGE);
	gm_buf_adds(&r.inventory, "{\"schema\": \"gpumigrate.inventory/v1\"}");
	gm_bench_result_to_json(&r, &json, true);
	const char *text = gm_buf_cstr(&json);
	/* documented key order */
	const char *keys[] = {"\"schema\"", "\"kind\"",    "\"started\"",  "\"host\"",
	                      "\"params\"", "\"figures\"", "\"counters\"", "\"inventory\""};
	const char *prev = text;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *at = strstr(text, keys[i]);
		assert_non_null(at);
		assert_true(at >= prev);
		prev = at;
	}
	assert_non_null(strstr(text, "\"p99.9\""));

	assert_int_equal(gm_bench_result_parse(&back, "r.json", json.data, json.len, &err), GM_OK);
	assert_string_equal(back.kind, "run");
	assert_string_equal(back.started, r.started);
	assert_string_equal(back.host, r.host);
	assert_int_equal(back.n_figures, 2);
	const struct gm_bench_figure *bf = gm_bench_result_figure(&back, "wall_time");
	assert_non_null(bf);
	assert_string_equal(bf->unit, "s");
	assert_int_equal(bf->better, GM_BETTER_LOWER);
	assert_int_equal(bf->n_samples, 3);
	assert_true(bf->samples[0] == 0.5 && bf->samples[1] == 0.25 && bf->samples[2] == 0.125);
	assert_int_equal(bf->summary.n, 3);
	assert_true(bf->summary.p50 == 0.25);
	assert_true(bf->summary.min == 0.125 && bf->summary.max == 0.5);
	assert_true(bf->summary.p90 == f->summary.p90); /* shortest round-trip doubles */
	assert_true(bf->summary.mean == f->summary.mean);
	const struct gm_bench_figure *bg = gm_bench_result_figure(&back, "throughput");
	assert_string_equal(bg->unit, "samples/s");
	assert_int_equal(bg->better, GM_BETTER_HIGHER);
	assert_true(bg->samples[0] == 1234.5);
	assert_int_equal(gm_bench_result_counter(&back, "errors"), 4);
	assert_int_equal(gm_bench_result_counter(&back, "nope"), -1);

	gm_buf_release(&json);
	gm_bench_result_release(&back);
	gm_bench_result_release(&r);
	gm_err_release(&err);
}

/* A summary that covers more than the samples (bench http) is read as written. */
static void test_summary_kept(void **state)
{
	(void)state;
	static const char doc[] =
	        "{\"schema\": \"gpumigrate.bench/v1\", \"kind\": \"http\",\n"
	        " \"figures\": {\"latency\": {\"unit\": \"s\", \"better\": \"lower\",\n"
	        "   \"summary\": {\"n\": 100000, \"median\": 0.002, \"p50\": 0.002, \"p99\": "
	        "0.01,\n"
	        "                \"max\": 0.5},\n"
	        "   \"samples\": [0.001, 0.003]}}}";
	struct gm_bench_result r;
	struct gm_err err = GM_ERR_INIT;
	gm_bench_result_init(&r);
	assert_int_equal(gm_bench_result_parse(&r, "h.json", doc, strlen(doc), &err), GM_OK);
	assert_null(r.host);
	assert_int_equal(r.figures[0]->summary.n, 100000);
	assert_true(r.figures[0]->summary.p99 == 0.01);
	assert_true(r.figures[0]->summary.max == 0.5);
	assert_int_equal(r.figures[0]->n_samples, 2);
	gm_bench_result_release(&r);
	gm_err_release(&err);
}

/* The GPU-only form that `gpumigrate compare` reads still loads (with no figures). */
static void test_gpu_only_form(void **state)
{
	(void)state;
	static const char doc[] = "{\"schema\": \"gpumigrate.bench/v1\",\n"
	                          " \"gpu\": {\"name\": \"NVIDIA L40S\", \"count\": 4},\n"
	                          " \"results\": {\"memory_bandwidth_gbs\": 780}}";
	struct gm_bench_result r;
	struct gm_err err = GM_ERR_INIT;
	gm_bench_result_init(&r);
	assert_int_equal(gm_bench_result_parse(&r, "g.json", doc, strlen(doc), &err), GM_OK);
	assert_int_equal(r.n_figures, 0);
	gm_bench_result_release(&r);
	gm_err_release(&err);
}

static void expect_error(const char *doc, enum gm_rc rc, const char *needle)
{
	struct gm_bench_result r;
	struct gm_err err = GM_ERR_INIT;
	gm_bench_result_init(&r);
	assert_int_equal(gm_bench_result_parse(&r, "bad.json", doc, strlen(doc), &err), rc);
	if (!strstr(gm_err_msg(&err), needle))
		fail_msg("'%s' does not contain '%s'", gm_err_msg(&err), needle);
	assert_int_equal(r.n_figures, 0); /* nothing half-read is left */
	gm_bench_result_release(&r);
	gm_err_release(&err);
}

static void test_bad_documents(void **state)
{
	(void)state;
	expect_error("{\"schema\": \"gpumigrate.inventory/v1\"}", GM_ERR_PARSE,
	             "bad.json:1:13: not a bench result");
	expect_error("{\"schema\": \"gpumigrate.bench/v1\",\n \"figures\": {\"x\": {\"samples\": "
	             "[1, \"fast\"]}}}",
	             GM_ERR_PARSE, "bad.json:2:36: sample 2 of 'x' must be a number");
	expect_error("{\"schema\": \"gpumigrate.bench/v1\",\n \"figures\": {\"x\": {\"better\": "
	             "\"faster\"}}}",
	             GM_ERR_PARSE, "'better' must be lower or higher, not 'faster'");
	expect_error("{\"schema\": \"gpumigrate.bench/v1\",\n \"figures\": {\"x\": {\"unti\": "
	             "\"s\"}}}",
	             GM_ERR_PARSE, "unit");
	expect_error("{\"schema\": \"gpumigrate.bench/v1\", \"figures\": [1]}", GM_ERR_PARSE,
	             "'figures' must map names to figures");
	expect_error("{\"schema\": \"gpumigrate.bench/v1\", \"counters\": {\"a\": 1.5}}",
	             GM_ERR_PARSE, "counter 'a' must be an integer");

	/* more figures than the cap */
	struct gm_buf big = GM_BUF_INIT;
	gm_buf_adds(&big, "{\"schema\": \"gpumigrate.bench/v1\", \"figures\": {");
	for (int i = 0; i <= GM_BENCH_MAX_FIGURES; i++)
		gm_buf_addf(&big, "%s\"f%d\": {}", i ? ", " : "", i);
	gm_buf_adds(&big, "}}");
	expect_error(gm_buf_cstr(&big), GM_ERR_LIMIT, "at most 256");
	gm_buf_release(&big);
}

static void test_verdict_rule(void **state)
{
	(void)state;
	const double t = 0.05;
	/* inside the band: equivalent whatever p says */
	assert_int_equal(gm_verdict_decide(0.97, 1.04, 0.001, GM_BETTER_LOWER, t),
	                 GM_VERDICT_EQUIVALENT);
	assert_int_equal(gm_verdict_decide(0.95, 1.05, 0.9, GM_BETTER_HIGHER, t),
	                 GM_VERDICT_EQUIVALENT);
	/* latency (lower is better) 20 % up, significant → slower */
	assert_int_equal(gm_verdict_decide(1.15, 1.25, 0.001, GM_BETTER_LOWER, t),
	                 GM_VERDICT_SLOWER);
	/* throughput (higher is better) 20 % up → faster */
	assert_int_equal(gm_verdict_decide(1.15, 1.25, 0.001, GM_BETTER_HIGHER, t),
	                 GM_VERDICT_FASTER);
	/* down 20 %: faster for latency, slower for throughput */
	assert_int_equal(gm_verdict_decide(0.75, 0.85, 0.001, GM_BETTER_LOWER, t),
	                 GM_VERDICT_FASTER);
	assert_int_equal(gm_verdict_decide(0.75, 0.85, 0.001, GM_BETTER_HIGHER, t),
	                 GM_VERDICT_SLOWER);
	/* beyond the band but not significant → inconclusive */
	assert_int_equal(gm_verdict_decide(1.15, 1.25, 0.2, GM_BETTER_LOWER, t),
	                 GM_VERDICT_INCONCLUSIVE);
	/* CI straddles the band edge → inconclusive even when significant */
	assert_int_equal(gm_verdict_decide(1.02, 1.20, 0.001, GM_BETTER_LOWER, t),
	                 GM_VERDICT_INCONCLUSIVE);
	/* no CI */
	assert_int_equal(gm_verdict_decide(NAN, NAN, 0.001, GM_BETTER_LOWER, t),
	                 GM_VERDICT_INCONCLUSIVE);
	/* a wider tolerance turns the 20 % change into equivalence */
	assert_int_equal(gm_verdict_decide(1.15, 1.25, 0.001, GM_BETTER_LOWER, 0.3),
	                 GM_VERDICT_EQUIVALENT);
}

static void add_fig(struct gm_bench_result *r, const char *name, enum gm_bench_better b,
                    double base, double step, int n)
{
	struct gm_bench_figure *f = gm_bench_result_add_figure(r, name, "s", b);
	for (int i = 0; i < n; i++)
		gm_bench_figure_add_sample(f, base + step * (i % 7));
	gm_bench_figure_summarize(f);
}

static void test_compare_results(void **state)
{
	(void)state;
	struct gm_bench_result a, b;
	struct gm_bench_cmp c;
	struct gm_err err = GM_ERR_INIT;
	gm_bench_result_init(&a);
	gm_bench_result_init(&b);
	gm_bench_cmp_init(&c);
	add_fig(&a, "same", GM_BETTER_LOWER, 1.0, 0.001, 30);
	add_fig(&b, "same", GM_BETTER_LOWER, 1.0, 0.001, 30);
	add_fig(&a, "lat", GM_BETTER_LOWER, 1.0, 0.001, 30);
	add_fig(&b, "lat", GM_BETTER_LOWER, 1.5, 0.001, 30); /* 50 % slower */
	add_fig(&a, "tput", GM_BETTER_HIGHER, 100, 0.1, 30);
	add_fig(&b, "tput", GM_BETTER_HIGHER, 200, 0.1, 30); /* twice the throughput */
	add_fig(&a, "only_a", GM_BETTER_LOWER, 1, 0, 3);
	add_fig(&b, "only_b", GM_BETTER_LOWER, 1, 0, 3);
	assert_int_equal(gm_bench_compare(&a, &b, 0.05, &c, &err), GM_OK);
	assert_int_equal(c.n_rows, 3);
	assert_string_equal(c.rows[0].name, "same");
	assert_int_equal(c.rows[0].verdict, GM_VERDICT_EQUIVALENT);
	assert_true(c.rows[0].ratio == 1.0);
	assert_string_equal(c.rows[1].name, "lat");
	assert_int_equal(c.rows[1].verdict, GM_VERDICT_SLOWER);
	assert_true(fabs(c.rows[1].ratio - 1.503 / 1.003) < 1e-12);
	assert_true(c.rows[1].lo <= c.rows[1].ratio && c.rows[1].ratio <= c.rows[1].hi);
	assert_true(c.rows[1].p < 1e-6);
	assert_int_equal(c.rows[2].verdict, GM_VERDICT_FASTER);
	assert_int_equal(c.n_slower, 1);
	assert_int_equal(c.n_faster, 1);
	assert_int_equal(c.n_only_base, 1);
	assert_string_equal(c.only_base[0], "only_a");
	assert_int_equal(c.n_only_cand, 1);
	assert_string_equal(c.only_cand[0], "only_b");

	/* units must agree */
	struct gm_bench_result d;
	gm_bench_result_init(&d);
	struct gm_bench_figure *f = gm_bench_result_add_figure(&d, "lat", "ms", GM_BETTER_LOWER);
	gm_bench_figure_add_sample(f, 1);
	assert_int_equal(gm_bench_compare(&a, &d, 0.05, &c, &err), GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "'lat' is in 's' in the baseline but in 'ms'"));
	gm_bench_result_release(&d);

	gm_bench_cmp_release(&c);
	gm_bench_result_release(&b);
	gm_bench_result_release(&a);
	gm_err_release(&err);
}

static void test_extract(void **state)
{
	(void)state;
	struct gm_err err = GM_ERR_INIT;
	double *v = NULL;
	size_t n = 0;
	assert_int_equal(gm_runcmd_extract("step_time=([0-9.]+)",
	                                   "epoch 1\nstep_time=0.125 loss=3\nstep_time=0.25\n"
	                                   "step_time=1e-3\n",
	                                   &v, &n, &err),
	                 GM_OK);
	assert_int_equal(n, 3); /* "1e-3" is cut at 'e' by the class: "1" */
	assert_true(v[0] == 0.125 && v[1] == 0.25 && v[2] == 1);
	assert_int_equal(gm_runcmd_extract("step_time=([0-9.e-]+)", "step_time=1e-3", &v, &n, &err),
	                 GM_OK);
	assert_int_equal(n, 4);
	assert_true(v[3] == 1e-3);
	assert_int_equal(gm_runcmd_extract("t=([a-z]+)", "t=abc", &v, &n, &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "'abc'"));
	assert_int_equal(gm_runcmd_check_regex("step_time=[0-9]+", &err), GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "needs a group"));
	assert_int_equal(gm_runcmd_check_regex("(", &err), GM_ERR_USAGE);
	free(v);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_summary_kept),
	        cmocka_unit_test(test_gpu_only_form), cmocka_unit_test(test_bad_documents),
	        cmocka_unit_test(test_verdict_rule),  cmocka_unit_test(test_compare_results),
	        cmocka_unit_test(test_extract),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

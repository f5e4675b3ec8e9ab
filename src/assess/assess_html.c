/* The assessment as one self-contained HTML page: verdict, capacity bars, cumulative cost
 * chart with the break-even marked, cost tables, readiness, data transfer and the checklist.
 * No script and a Content-Security-Policy that allows no fetch at all, so the page opens the
 * same from a mail attachment as from a web server. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "assess/assess.h"
#include "assess/svg.h"
#include "util/banned.h"

static const char style[] =
        "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;"
        "color:#1d2330;background:#f6f7f9}"
        "main{max-width:1080px;margin:0 auto;padding:24px}"
        "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;"
        "border-bottom:1px solid #d5d9e0;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}"
        "section{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:8px 18px 16px;"
        "margin-top:16px}"
        ".meta{color:#5b6472}.verdict{display:inline-block;font-weight:700;padding:4px 12px;"
        "border-radius:4px;color:#fff}.verdict-go{background:#2e7d32}.verdict-review{background:"
        "#b26a00}.verdict-no-go{background:#c62828}"
        "table{border-collapse:collapse;width:100%;margin:6px 0}th,td{text-align:left;"
        "padding:4px 8px;border-bottom:1px solid #eceef2;vertical-align:top}"
        "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
        "code{font:12.5px ui-monospace,Menlo,Consolas,monospace;background:#f0f2f5;padding:1px 4px;"
        "border-radius:3px;word-break:break-all}"
        ".PASS{color:#2e7d32;font-weight:600}.WARN{color:#b26a00;font-weight:600}"
        ".FAIL{color:#c62828;font-weight:600}.SKIP{color:#6b7280}"
        ".chart{max-width:100%;height:auto}.chart .grid{stroke:#e6e8ec}.chart .tick,.chart .legend,"
        ".chart .bar-label,.chart .bar-value,.chart .axis-label{font-size:11px;fill:#3b4350}"
        ".chart .chart-title{font-size:13px;font-weight:600;fill:#1d2330}"
        ".chart .marker{stroke:#1d2330;stroke-width:1.2}.chart .marker-label{font-size:11px;"
        "fill:#1d2330}ul.findings li{margin:2px 0}.small{font-size:12px;color:#5b6472}";

static void esc(struct gm_buf *out, const char *s)
{
	gm_xml_escape(out, s ? s : "");
}

static void money(struct gm_buf *out, double v)
{
	if (!isfinite(v)) {
		gm_buf_adds(out, "n/a");
		return;
	}
	/* thousands separators for whole dollars */
	char digits[32];
	long long whole = llround(fabs(v));
	int n = 0;
	do {
		digits[n++] = (char)('0' + whole % 10);
		whole /= 10;
	} while (whole && n < 30);
	gm_buf_adds(out, v < 0 ? "-$" : "$");
	for (int i = n - 1; i >= 0; i--) {
		gm_buf_addch(out, digits[i]);
		if (i && i % 3 == 0)
			gm_buf_addch(out, ',');
	}
}

static void section_verdict(const struct gm_assess *a, struct gm_buf *out)
{
	const char *v = gm_assess_verdict_name(a->verdict);
	gm_buf_adds(out,
	            "<section id=\"verdict\"><h2>Verdict</h2><p><span class=\"verdict verdict-");
	gm_buf_adds(out, v);
	gm_buf_adds(out, "\">");
	gm_buf_adds(out, a->verdict == GM_VERDICT_GO       ? "GO"
	                 : a->verdict == GM_VERDICT_REVIEW ? "REVIEW"
	                                                   : "NO GO");
	gm_buf_adds(out, "</span></p>");
	if (a->n_findings) {
		gm_buf_adds(out, "<ul class=\"findings\">");
		for (size_t i = 0; i < a->n_findings; i++) {
			gm_buf_adds(out, "<li>");
			esc(out, a->findings[i]);
			gm_buf_adds(out, "</li>");
		}
		gm_buf_adds(out, "</ul>");
	} else {
		gm_buf_adds(out, "<p>Every threshold of the plan is met.</p>");
	}
	if (a->n_warnings) {
		gm_buf_adds(out, "<h3>Worth knowing</h3><ul class=\"findings\">");
		for (size_t i = 0; i < a->n_warnings; i++) {
			gm_buf_adds(out, "<li>");
			esc(out, a->warnings[i]);
			gm_buf_adds(out, "</li>");
		}
		gm_buf_adds(out, "</ul>");
	}
	gm_buf_adds(out, "</section>\n");
}

static void ratio_cell(struct gm_buf *out, struct gm_num r)
{
	if (r.known)
		gm_buf_addf(out, "<td class=\"n\">%.2f&#215;</td>", r.v);
	else
		gm_buf_adds(out, "<td class=\"n\">n/a</td>");
}

static void fig_cell(struct gm_buf *out, const struct gm_fig *f)
{
	if (f->n.known)
		gm_buf_addf(out,
		            f->n.v >= 10000 ? "<td class=\"n\">%.0f%s</td>"
		                            : "<td class=\"n\">%.4g%s</td>",
		            f->n.v, f->src == GM_FIG_MEASURED ? " (measured)" : "");
	else
		gm_buf_adds(out, "<td class=\"n\">n/a</td>");
}

static void section_capacity(const struct gm_assess *a, struct gm_buf *out)
{
	gm_buf_adds(out, "<section id=\"capacity\"><h2>Capacity</h2>");
	for (size_t i = 0; i < a->n_caps; i++) {
		const struct gm_assess_capacity *c = &a->caps[i];
		gm_buf_adds(out, "<h3>");
		esc(out, c->workload);
		gm_buf_adds(out, ": ");
		esc(out, c->src.title);
		gm_buf_adds(out, " &#8594; ");
		gm_buf_addf(out, "%d planned GPUs (", c->planned_target_gpus);
		esc(out, c->tgt.title);
		gm_buf_adds(out, " per server)</h3>");

		struct gm_svg_bar bars[3];
		size_t n = 0;
		for (size_t p = 0; p < c->cmp.n_profiles && p < 3; p++, n++) {
			bars[p].label = c->cmp.profiles[p].name;
			bars[p].value = c->coverage[p].known ? c->coverage[p].v : NAN;
			bars[p].color = c->coverage[p].known && c->coverage[p].v >= 1 ? "#4e79a7"
			                                                              : "#e15759";
		}
		struct gm_svg_bar_chart chart = {"Planned target capacity / cloud capacity",
		                                 "\xc3\x97", bars, n, 1.0};
		gm_svg_bars(&chart, 860, out);

		gm_buf_adds(out, "<table><tr><th>metric</th><th></th><th class=\"n\">source</th>"
		                 "<th class=\"n\">target</th><th class=\"n\">ratio</th></tr>");
		for (size_t r = 0; r < c->cmp.n_rows; r++) {
			const struct gm_compare_row *row = &c->cmp.rows[r];
			gm_buf_adds(out, "<tr><td>");
			esc(out, row->label);
			gm_buf_addf(out, "</td><td>%s</td>", row->total ? "total" : "per GPU");
			fig_cell(out, &row->src);
			fig_cell(out, &row->tgt);
			ratio_cell(out, row->ratio);
			gm_buf_adds(out, "</tr>");
		}
		gm_buf_adds(out, "</table>");
		if (c->cmp.n_warnings) {
			gm_buf_adds(out, "<ul class=\"findings\">");
			for (size_t w = 0; w < c->cmp.n_warnings; w++) {
				gm_buf_addf(out, "<li class=\"%s\">",
				            c->cmp.warnings[w].blocker ? "FAIL" : "WARN");
				esc(out, c->cmp.warnings[w].msg);
				gm_buf_adds(out, "</li>");
			}
			gm_buf_adds(out, "</ul>");
		}
	}
	gm_buf_adds(out, "</section>\n");
}

static void cost_chart(const struct gm_assess *a, struct gm_buf *out)
{
	const struct gm_tco_result *r = &a->tco;
	static const char *const colors[GM_TCO_N_COMMIT] = {"#e15759", "#f28e2b", "#edc948"};
	static const char *const names[GM_TCO_N_COMMIT] = {"cloud on-demand", "cloud 1-year",
	                                                   "cloud 3-year"};
	double cloud[GM_TCO_N_COMMIT][GM_TCO_MAX_MONTHS + 1];
	double onprem[GM_TCO_MAX_MONTHS + 1];
	struct gm_svg_series series[GM_TCO_N_COMMIT + 1];
	size_t n = 0;
	for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
		if (!isfinite(r->cloud_month[c]))
			continue;
		for (int m = 0; m <= r->months; m++)
			cloud[c][m] = r->cum_cloud[m][c];
		series[n++] = (struct gm_svg_series){names[c], colors[c], cloud[c]};
	}
	for (int m = 0; m <= r->months; m++)
		onprem[m] = r->cum_onprem[m];
	series[n++] = (struct gm_svg_series){"on-prem (cash)", "#4e79a7", onprem};
	int be = r->breakeven_month[r->reference];
	struct gm_buf label = GM_BUF_INIT;
	if (be >= 0)
		gm_buf_addf(&label, "break-even: month %d (%s)", be,
		            gm_tco_commitment_name(r->reference));
	struct gm_svg_line_chart chart = {"Cumulative cost, USD",
	                                  "month",
	                                  "USD",
	                                  (size_t)r->months + 1,
	                                  series,
	                                  n,
	                                  be >= 0 ? (double)be : -1,
	                                  gm_buf_cstr(&label)};
	gm_svg_line(&chart, 860, 340, out);
	gm_buf_release(&label);
}

static void section_cost(const struct gm_assess *a, struct gm_buf *out)
{
	gm_buf_adds(out, "<section id=\"cost\"><h2>Cost</h2>");
	if (!a->tco_ok) {
		gm_buf_adds(out, "<p>No cost comparison: ");
		esc(out, gm_buf_cstr(&a->tco_why));
		gm_buf_adds(out, "</p></section>\n");
		return;
	}
	const struct gm_tco_result *r = &a->tco;
	cost_chart(a, out);
	gm_buf_adds(out, "<table><tr><th>year</th>");
	for (int c = 0; c < GM_TCO_N_COMMIT; c++)
		gm_buf_addf(out, "<th class=\"n\">cloud %s</th>", gm_tco_commitment_name(c));
	gm_buf_adds(out, "<th class=\"n\">on-prem cash</th><th class=\"n\">on-prem amortised</th>"
	                 "</tr>");
	for (int y = 0; y < r->years; y++) {
		gm_buf_addf(out, "<tr><td>%d</td>", y + 1);
		for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
			gm_buf_adds(out, "<td class=\"n\">");
			money(out, r->year_cloud[y][c]);
			gm_buf_adds(out, "</td>");
		}
		gm_buf_adds(out, "<td class=\"n\">");
		money(out, r->year_onprem_cash[y]);
		gm_buf_adds(out, "</td><td class=\"n\">");
		money(out, r->year_onprem_amortised[y]);
		gm_buf_adds(out, "</td></tr>");
	}
	gm_buf_adds(out, "</table><h3>Per delivered GPU-hour</h3><table><tr>");
	for (int c = 0; c < GM_TCO_N_COMMIT; c++)
		gm_buf_addf(out, "<th class=\"n\">cloud %s</th>", gm_tco_commitment_name(c));
	gm_buf_adds(out, "<th class=\"n\">on-prem</th></tr><tr>");
	for (int c = 0; c < GM_TCO_N_COMMIT; c++)
		gm_buf_addf(out, "<td class=\"n\">%s%.2f</td>",
		            isfinite(r->cloud_per_gpu_hour[c]) ? "$" : "",
		            isfinite(r->cloud_per_gpu_hour[c]) ? r->cloud_per_gpu_hour[c] : NAN);
	gm_buf_addf(out, "<td class=\"n\">$%.2f</td></tr></table>", r->onprem_per_gpu_hour);

	gm_buf_adds(out, "<h3>Break-even month by utilisation and electricity price</h3>"
	                 "<table><tr><th>utilisation</th>");
	for (int p = 0; p < GM_TCO_SENS_N; p++)
		gm_buf_addf(out, "<th class=\"n\">$%.2f/kWh</th>", r->sens_price[p]);
	gm_buf_adds(out, "</tr>");
	for (int u = 0; u < GM_TCO_SENS_N; u++) {
		gm_buf_addf(out, "<tr><td>%.0f%%</td>", r->sens_util[u] * 100);
		for (int p = 0; p < GM_TCO_SENS_N; p++) {
			if (r->sens_month[u][p] >= 0)
				gm_buf_addf(out, "<td class=\"n\">%d</td>", r->sens_month[u][p]);
			else
				gm_buf_adds(out, "<td class=\"n\">never</td>");
		}
		gm_buf_adds(out, "</tr>");
	}
	gm_buf_adds(out, "</table><h3>Inputs</h3><table><tr><th>input</th><th class=\"n\">value"
	                 "</th><th>from</th></tr>");
	for (int k = 0; k < GM_TCO_N_INPUTS; k++) {
		const struct gm_tco_input *in = &a->tco_in.in[k];
		if (!in->set && !in->missing)
			continue;
		gm_buf_adds(out, "<tr><td>");
		esc(out, gm_tco_fields[k].label);
		if (in->missing)
			gm_buf_adds(out, "</td><td class=\"n\">missing (0)");
		else
			gm_buf_addf(out, "</td><td class=\"n\">%.6g %s", in->v,
			            gm_tco_fields[k].unit ? gm_tco_fields[k].unit : "");
		gm_buf_adds(out, "</td><td class=\"small\">");
		esc(out, in->src);
		gm_buf_adds(out, "</td></tr>");
	}
	gm_buf_adds(out, "</table></section>\n");
}

static void section_readiness(const struct gm_assess *a, struct gm_buf *out)
{
	gm_buf_adds(out, "<section id=\"readiness\"><h2>Readiness of the target servers</h2>");
	if (!a->n_ready) {
		gm_buf_adds(out, "<p>Not assessed: ");
		esc(out, gm_buf_cstr(&a->ready_why));
		gm_buf_adds(out, "</p>");
	}
	for (size_t h = 0; h < a->n_ready; h++) {
		const struct gm_check_report *rep = &a->ready[h];
		gm_buf_adds(out, "<h3>");
		esc(out, rep->host);
		gm_buf_addf(out,
		            " <span class=\"small\">%zu passed, %zu warnings, %zu failed, %zu "
		            "skipped</span></h3>",
		            rep->count[GM_CHECK_PASS], rep->count[GM_CHECK_WARN],
		            rep->count[GM_CHECK_FAIL], rep->count[GM_CHECK_SKIP]);
		gm_buf_adds(out, "<table class=\"readiness\"><tr><th>check</th><th>status</th>"
		                 "<th>evidence</th><th>fix</th></tr>");
		for (size_t i = 0; i < rep->n; i++) {
			const struct gm_check_result *r = &rep->results[i];
			const char *st = gm_check_status_name(r->status);
			gm_buf_adds(out, "<tr><td><code>");
			esc(out, r->id);
			gm_buf_addf(out, "</code></td><td class=\"%s\">%s</td><td>", st, st);
			esc(out, r->status == GM_CHECK_SKIP ? gm_buf_cstr(&r->skip_reason)
			                                    : gm_buf_cstr(&r->evidence));
			gm_buf_adds(out, "</td><td>");
			if (r->hint.len) {
				gm_buf_adds(out, "<code>");
				esc(out, gm_buf_cstr(&r->hint));
				gm_buf_adds(out, "</code>");
			}
			gm_buf_adds(out, "</td></tr>");
		}
		gm_buf_adds(out, "</table>");
	}
	gm_buf_adds(out, "</section>\n");
}

static void section_data(const struct gm_assess *a, struct gm_buf *out)
{
	gm_buf_adds(out, "<section id=\"data\"><h2>Data transfer</h2>");
	if (!a->n_datasets) {
		gm_buf_adds(out, "<p>The plan lists no datasets.</p></section>\n");
		return;
	}
	if (a->plan->bandwidth_bps.set)
		gm_buf_addf(out,
		            "<p>At %.3g Gb/s between the sites, assuming %.0f%% of it is sustained."
		            "</p>",
		            a->plan->bandwidth_bps.v / 1e9, GM_ASSESS_LINK_EFFICIENCY * 100);
	gm_buf_adds(out, "<table><tr><th>dataset</th><th>source</th><th class=\"n\">size</th>"
	                 "<th class=\"n\">transfer</th></tr>");
	for (size_t i = 0; i < a->n_datasets; i++) {
		const struct gm_assess_dataset *d = &a->datasets[i];
		gm_buf_adds(out, "<tr><td>");
		esc(out, d->name);
		gm_buf_adds(out, "</td><td><code>");
		esc(out, d->source);
		gm_buf_adds(out, "</code></td>");
		if (d->size_known)
			gm_buf_addf(out, "<td class=\"n\">%.2f TiB</td>",
			            d->bytes / (1024.0 * 1024 * 1024 * 1024));
		else
			gm_buf_adds(out, "<td class=\"n\">unknown</td>");
		if (d->hours.known)
			gm_buf_addf(out, "<td class=\"n\">%.1f h</td></tr>", d->hours.v);
		else
			gm_buf_adds(out, "<td class=\"n\">n/a</td></tr>");
	}
	gm_buf_addf(out, "<tr><th>total</th><th></th><th class=\"n\">%.2f TiB</th>",
	            a->data_bytes / (1024.0 * 1024 * 1024 * 1024));
	if (a->data_hours.known)
		gm_buf_addf(out, "<th class=\"n\">%.1f h (%.1f days)</th></tr>", a->data_hours.v,
		            a->data_hours.v / 24);
	else
		gm_buf_adds(out, "<th class=\"n\">n/a</th></tr>");
	gm_buf_adds(out, "</table></section>\n");
}

static void section_checklist(const struct gm_assess *a, struct gm_buf *out)
{
	gm_buf_adds(out, "<section id=\"checklist\"><h2>Migration checklist</h2>");
	int phase = -1;
	for (size_t i = 0; i < a->n_steps; i++) {
		const struct gm_assess_step *s = &a->steps[i];
		if ((int)s->phase != phase) {
			if (phase >= 0)
				gm_buf_adds(out, "</ol>");
			phase = (int)s->phase;
			gm_buf_addf(out, "<h3>%d. %s</h3><ol>", phase + 1,
			            gm_assess_phase_name(s->phase));
		}
		gm_buf_adds(out, "<li>");
		esc(out, s->what);
		if (s->command) {
			gm_buf_adds(out, "<br><code>");
			esc(out, s->command);
			gm_buf_adds(out, "</code>");
		}
		gm_buf_adds(out, "</li>");
	}
	if (phase >= 0)
		gm_buf_adds(out, "</ol>");
	gm_buf_adds(out, "</section>\n");
}

void gm_assess_to_html(const struct gm_assess *a, struct gm_buf *out)
{
	const char *name = a->plan->name.v ? a->plan->name.v : "migration";
	char when[32] = "";
	struct tm tm;
	time_t now = a->now;
	if (gmtime_r(&now, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	gm_buf_adds(out,
	            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	            "style-src 'unsafe-inline'\">\n"
	            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
	            "<title>Migration assessment: ");
	esc(out, name);
	gm_buf_addf(out, "</title>\n<style>%s</style>\n</head>\n<body><main>\n", style);
	gm_buf_adds(out, "<h1>Migration assessment: ");
	esc(out, name);
	gm_buf_adds(out, "</h1><p class=\"meta\">plan <code>");
	esc(out, a->plan->path ? a->plan->path : "(flags)");
	gm_buf_addf(out, "</code>, generated %s by gpumigrate %s</p>\n", when, GM_VERSION);
	section_verdict(a, out);
	section_capacity(a, out);
	section_cost(a, out);
	section_readiness(a, out);
	section_data(a, out);
	section_checklist(a, out);
	gm_buf_adds(out, "</main></body></html>\n");
}

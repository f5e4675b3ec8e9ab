/* The check engine: the rule registry across the theme files, running the rules that apply to
 * a profile, and the JSON and JUnit renderings of the results. */
#include "assess/check.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *const profile_names[GM_PROFILE_N] = {
        [GM_PROFILE_K8S] = "k8s",
        [GM_PROFILE_ANTHOS] = "anthos-baremetal",
        [GM_PROFILE_DOCKER] = "docker",
        [GM_PROFILE_VM] = "vm-passthrough",
};

static const char *const status_names[GM_CHECK_N_STATUS] = {"PASS", "WARN", "FAIL", "SKIP"};

const char *gm_check_profile_name(enum gm_check_profile p)
{
	return (unsigned)p < GM_PROFILE_N ? profile_names[p] : "?";
}

bool gm_check_profile_parse(const char *s, enum gm_check_profile *out)
{
	for (int i = 0; s && i < GM_PROFILE_N; i++) {
		if (strcmp(s, profile_names[i]) == 0) {
			*out = (enum gm_check_profile)i;
			return true;
		}
	}
	return false;
}

const char *gm_check_status_name(enum gm_check_status s)
{
	return (unsigned)s < GM_CHECK_N_STATUS ? status_names[s] : "?";
}

/* Report order. */
static const struct gm_check_rule *const tables[] = {
        gm_check_rules_driver,  gm_check_rules_host,   gm_check_rules_pcie, gm_check_rules_health,
        gm_check_rules_runtime, gm_check_rules_anthos, gm_check_rules_gpu,
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

const struct gm_check_rule *gm_check_rule_next(const struct gm_check_rule *prev)
{
	if (!prev)
		return tables[0]->id ? tables[0] : gm_check_rule_next(tables[0]);
	for (size_t t = 0; t < N_TABLES; t++) {
		const struct gm_check_rule *first = tables[t];
		const struct gm_check_rule *r = first;
		while (r->id && r != prev)
			r++;
		if (r != prev || !r->id)
			continue;
		if ((r + 1)->id)
			return r + 1;
		for (size_t u = t + 1; u < N_TABLES; u++)
			if (tables[u]->id)
				return tables[u];
		return NULL;
	}
	return NULL;
}

const struct gm_check_rule *gm_check_rule_find(const char *id)
{
	for (const struct gm_check_rule *r = gm_check_rule_next(NULL); r; r = gm_check_rule_next(r))
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

bool gm_check_glob_matches_any(const char *glob)
{
	for (const struct gm_check_rule *r = gm_check_rule_next(NULL); r; r = gm_check_rule_next(r))
		if (fnmatch(glob, r->id, 0) == 0)
			return true;
	return false;
}

static bool matches(const char *const *globs, const char *id)
{
	for (; globs && *globs; globs++)
		if (fnmatch(*globs, id, 0) == 0)
			return true;
	return false;
}

/* Replaces the text of b with the formatted one. */
__attribute__((format(printf, 2, 0))) static void vreplace(struct gm_buf *b, const char *fmt,
                                                           va_list ap)
{
	gm_buf_reset(b);
	gm_buf_vaddf(b, fmt, ap);
}

void gm_check_set(struct gm_check_result *r, enum gm_check_status s, const char *fmt, ...)
{
	va_list ap;
	r->status = s;
	va_start(ap, fmt);
	vreplace(&r->evidence, fmt, ap);
	va_end(ap);
}

void gm_check_hint(struct gm_check_result *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreplace(&r->hint, fmt, ap);
	va_end(ap);
}

void gm_check_skip(struct gm_check_result *r, const char *fmt, ...)
{
	va_list ap;
	r->status = GM_CHECK_SKIP;
	va_start(ap, fmt);
	vreplace(&r->skip_reason, fmt, ap);
	va_end(ap);
}

static const char *profile_list(unsigned mask, struct gm_buf *out)
{
	gm_buf_reset(out);
	for (int i = 0; i < GM_PROFILE_N; i++)
		if (mask & GM_P(i))
			gm_buf_addf(out, "%s%s", out->len ? ", " : "", profile_names[i]);
	return gm_buf_cstr(out);
}

void gm_check_run(const struct gm_check_ctx *ctx, const struct gm_check_filter *filter,
                  const char *source, struct gm_check_report *out)
{
	struct gm_buf tmp = GM_BUF_INIT;
	memset(out, 0, sizeof(*out));
	out->profile = ctx->profile;
	out->source = gm_xstrdup(source ? source : "local");
	const struct gm_fstr *hn = &ctx->inv->host.hostname;
	out->host = gm_xstrdup(gm_fact_ok(&hn->f) && hn->v && *hn->v ? hn->v : out->source);
	for (const struct gm_check_rule *rule = gm_check_rule_next(NULL); rule;
	     rule = gm_check_rule_next(rule)) {
		if (filter && filter->only && !matches(filter->only, rule->id))
			continue;
		if (filter && matches(filter->skip, rule->id))
			continue;
		out->results = gm_xreallocarray(out->results, out->n + 1, sizeof(*out->results));
		struct gm_check_result *r = &out->results[out->n++];
		memset(r, 0, sizeof(*r));
		r->id = rule->id;
		r->title = rule->title;
		r->status = GM_CHECK_SKIP;
		if (!(rule->profiles & GM_P(ctx->profile)))
			gm_check_skip(r, "not needed for profile %s (applies to %s)",
			              profile_names[ctx->profile],
			              profile_list(rule->profiles, &tmp));
		else
			rule->run(ctx, r);
		if (r->status == GM_CHECK_SKIP && !r->skip_reason.len)
			gm_buf_adds(&r->skip_reason, "not applicable");
		out->count[r->status]++;
	}
	gm_buf_release(&tmp);
}

void gm_check_report_release(struct gm_check_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		gm_buf_release(&r->results[i].evidence);
		gm_buf_release(&r->results[i].hint);
		gm_buf_release(&r->results[i].skip_reason);
	}
	GM_FREE(r->results);
	GM_FREE(r->host);
	GM_FREE(r->source);
	r->n = 0;
}

const struct gm_check_result *gm_check_report_find(const struct gm_check_report *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->results[i].id, id) == 0)
			return &r->results[i];
	return NULL;
}

static void json_opt(struct gm_json *j, const char *key, const struct gm_buf *b)
{
	if (b->len)
		gm_json_str(j, key, gm_buf_cstr(b));
	else
		gm_json_null(j, key);
}

void gm_check_to_json(const struct gm_check_report *reports, size_t n, struct gm_buf *out,
                      bool pretty)
{
	struct gm_json j;
	gm_json_init(&j, out, pretty);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "schema", GM_CHECK_SCHEMA);
	gm_json_begin_array(&j, "hosts");
	for (size_t h = 0; h < n; h++) {
		const struct gm_check_report *rep = &reports[h];
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "host", rep->host);
		gm_json_str(&j, "source", rep->source);
		gm_json_str(&j, "profile", profile_names[rep->profile]);
		gm_json_begin_array(&j, "results");
		for (size_t i = 0; i < rep->n; i++) {
			const struct gm_check_result *r = &rep->results[i];
			gm_json_begin_object(&j, NULL);
			gm_json_str(&j, "id", r->id);
			gm_json_str(&j, "title", r->title);
			gm_json_str(&j, "status", status_names[r->status]);
			json_opt(&j, "evidence", &r->evidence);
			json_opt(&j, "hint", &r->hint);
			json_opt(&j, "skip_reason", &r->skip_reason);
			gm_json_end_object(&j);
		}
		gm_json_end_array(&j);
		gm_json_begin_object(&j, "summary");
		gm_json_uint(&j, "passed", rep->count[GM_CHECK_PASS]);
		gm_json_uint(&j, "warnings", rep->count[GM_CHECK_WARN]);
		gm_json_uint(&j, "failed", rep->count[GM_CHECK_FAIL]);
		gm_json_uint(&j, "skipped", rep->count[GM_CHECK_SKIP]);
		gm_json_end_object(&j);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_end_object(&j);
	if (pretty)
		gm_buf_addch(out, '\n');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n;
	unsigned min;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
		n = 4, min = 0x10000;
	else
		return 0;
	if (left < n)
		return 0;
	unsigned cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Text as XML character data or attribute value: escaped, characters XML 1.0 forbids and
 * invalid UTF-8 replaced by U+FFFD. */
static void xml_text(struct gm_buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);
	while (left) {
		size_t n = utf8_len(p, left);
		if (n == 0 || (n == 1 && *p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')) {
			gm_buf_adds(out, "\xef\xbf\xbd");
			n = n ? n : 1;
		} else if (n == 3 && p[0] == 0xef && p[1] == 0xbf &&
		           (p[2] == 0xbe || p[2] == 0xbf)) {
			gm_buf_adds(out, "\xef\xbf\xbd"); /* U+FFFE, U+FFFF */
		} else if (*p == '&') {
			gm_buf_adds(out, "&amp;");
		} else if (*p == '<') {
			gm_buf_adds(out, "&lt;");
		} else if (*p == '>') {
			gm_buf_adds(out, "&gt;");
		} else if (*p == '"') {
			gm_buf_adds(out, "&quot;");
		} else if (*p == '\n') {
			gm_buf_adds(out, "&#10;");
		} else {
			gm_buf_add(out, p, n);
		}
		p += n;
		left -= n;
	}
}

void gm_check_to_junit(const struct gm_check_report *reports, size_t n, struct gm_buf *out)
{
	size_t total = 0, failed = 0, skipped = 0;
	for (size_t h = 0; h < n; h++) {
		total += reports[h].n;
		failed += reports[h].count[GM_CHECK_FAIL];
		skipped += reports[h].count[GM_CHECK_SKIP];
	}
	gm_buf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	gm_buf_addf(out,
	            "<testsuites name=\"gpumigrate check\" tests=\"%zu\" failures=\"%zu\" "
	            "errors=\"0\" skipped=\"%zu\">\n",
	            total, failed, skipped);
	for (size_t h = 0; h < n; h++) {
		const struct gm_check_report *rep = &reports[h];
		gm_buf_adds(out, "  <testsuite name=\"");
		xml_text(out, rep->host);
		gm_buf_addf(out,
		            "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\">\n",
		            rep->n, rep->count[GM_CHECK_FAIL], rep->count[GM_CHECK_SKIP]);
		gm_buf_addf(out, "    <properties><property name=\"profile\" value=\"%s\"/>",
		            profile_names[rep->profile]);
		gm_buf_adds(out, "<property name=\"source\" value=\"");
		xml_text(out, rep->source);
		gm_buf_adds(out, "\"/></properties>\n");
		for (size_t i = 0; i < rep->n; i++) {
			const struct gm_check_result *r = &rep->results[i];
			gm_buf_adds(out, "    <testcase classname=\"gpumigrate.check.");
			xml_text(out, rep->host);
			gm_buf_addf(out, "\" name=\"%s\">", r->id);
			if (r->status == GM_CHECK_FAIL) {
				gm_buf_adds(out, "\n      <failure type=\"FAIL\" message=\"");
				xml_text(out, gm_buf_cstr(&r->evidence));
				gm_buf_adds(out, "\">");
				xml_text(out, gm_buf_cstr(&r->hint));
				gm_buf_adds(out, "</failure>\n    ");
			} else if (r->status == GM_CHECK_SKIP) {
				gm_buf_adds(out, "\n      <skipped message=\"");
				xml_text(out, gm_buf_cstr(&r->skip_reason));
				gm_buf_adds(out, "\"/>\n    ");
			} else {
				gm_buf_adds(out, "\n      <system-out>");
				gm_buf_addf(out, "%s: ", status_names[r->status]);
				xml_text(out, gm_buf_cstr(&r->evidence));
				if (r->hint.len) {
					gm_buf_adds(out, "&#10;hint: ");
					xml_text(out, gm_buf_cstr(&r->hint));
				}
				gm_buf_adds(out, "</system-out>\n    ");
			}
			gm_buf_adds(out, "</testcase>\n");
		}
		gm_buf_adds(out, "  </testsuite>\n");
	}
	gm_buf_adds(out, "</testsuites>\n");
}

void gm_check_gpu_label(const struct gm_gpu *g, struct gm_buf *out)
{
	if (gm_fact_ok(&g->bdf.f) && g->bdf.v)
		gm_buf_addf(out, "GPU %u (%s)", g->index, g->bdf.v);
	else
		gm_buf_addf(out, "GPU %u", g->index);
}

const char *gm_check_node_name(const struct gm_inventory *inv)
{
	const struct gm_fstr *hn = &inv->host.hostname;
	return gm_fact_ok(&hn->f) && hn->v && *hn->v ? hn->v : "<node>";
}

static bool lost(const struct gm_fact *f)
{
	return !gm_fact_ok(f) && f->why && strstr(f->why, "GPU is lost");
}

bool gm_check_gpu_lost(const struct gm_gpu *g)
{
	return lost(&g->name.f) || lost(&g->memory_total_bytes.f) ||
	       lost(&g->pcie_width_current.f) || lost(&g->ecc_uncorrected_volatile.f) ||
	       lost(&g->nvlink);
}

bool gm_check_have_gpus(const struct gm_inventory *inv)
{
	return gm_fact_ok(&inv->nvidia.nvml) && inv->nvidia.n_gpus > 0;
}

bool gm_check_need_nvml(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	if (gm_fact_ok(&nv->nvml) && nv->n_gpus > 0)
		return false;
	if (gm_fact_ok(&nv->nvml))
		gm_check_skip(r, "NVML sees no GPU");
	else
		gm_check_skip(r, "no GPU data: %s",
		              nv->nvml.why ? nv->nvml.why : "NVML not collected");
	return true;
}

void gm_check_driver_install_hint(const struct gm_inventory *inv, int branch, struct gm_buf *out)
{
	const struct gm_fstr *id = &inv->host.os_id;
	const char *os = gm_fact_ok(&id->f) && id->v ? id->v : "";
	int b = branch > 0 ? branch : 570;
	if (strcmp(os, "ubuntu") == 0)
		gm_buf_addf(out, "sudo apt-get install -y nvidia-driver-%d-server && sudo reboot",
		            b);
	else if (strcmp(os, "debian") == 0)
		gm_buf_addf(out,
		            "sudo apt-get install -y cuda-drivers-%d (NVIDIA CUDA repository) && "
		            "sudo reboot",
		            b);
	else if (strcmp(os, "rhel") == 0 || strcmp(os, "rocky") == 0 ||
	         strcmp(os, "almalinux") == 0 || strcmp(os, "centos") == 0)
		gm_buf_addf(out, "sudo dnf module install -y nvidia-driver:%d-dkms && sudo reboot",
		            b);
	else
		gm_buf_addf(out,
		            "install NVIDIA driver R%d or newer "
		            "(https://www.nvidia.com/Download/index.aspx), then reboot",
		            b);
}

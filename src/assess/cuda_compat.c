/* The CUDA toolkit / driver table (data/cuda-driver.yaml) and the comparisons check needs:
 * numeric driver versions, minimum driver per CUDA release, minor version compatibility. */
#include "assess/cuda_compat.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/doc.h"
#include "util/embed.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SCHEMA "gpumigrate.catalog.cuda-driver/v1"

bool gm_cuda_version_parse(const char *s, int *major, int *minor)
{
	int part[2] = {0, 0};
	const char *p = s;
	if (!s)
		return false;
	for (int i = 0; i < 2; i++) {
		int64_t v = 0;
		int digits = 0;
		while (isdigit((unsigned char)*p) && digits < 4) {
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		if (!digits)
			return false;
		part[i] = (int)v;
		if (i == 0 && *p++ != '.')
			return false;
	}
	if (*p == '.') { /* patch level: digits only */
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return false;
	*major = part[0];
	*minor = part[1];
	return true;
}

/* Next dotted component of a driver version; false at the end; *bad on garbage. */
static bool next_component(const char **p, uint64_t *v, bool *bad)
{
	const char *s = *p;
	if (!*s)
		return false;
	if (!isdigit((unsigned char)*s)) {
		*bad = true;
		return false;
	}
	uint64_t n = 0;
	int digits = 0;
	while (isdigit((unsigned char)*s)) {
		if (++digits > 9) {
			*bad = true;
			return false;
		}
		n = n * 10 + (uint64_t)(*s++ - '0');
	}
	if (*s == '.') {
		s++;
		if (!*s) {
			*bad = true;
			return false;
		}
	} else if (*s) {
		*bad = true;
		return false;
	}
	*v = n;
	*p = s;
	return true;
}

int gm_driver_version_cmp(const char *a, const char *b, bool *ok)
{
	bool bad = false;
	int result = 0;
	if (!a || !b || !*a || !*b) {
		*ok = false;
		return 0;
	}
	for (;;) {
		uint64_t va = 0, vb = 0;
		bool ha = next_component(&a, &va, &bad);
		bool hb = next_component(&b, &vb, &bad);
		if (bad) {
			*ok = false;
			return 0;
		}
		if (!ha && !hb)
			break;
		if (result == 0 && va != vb)
			result = va < vb ? -1 : 1;
	}
	*ok = true;
	return result;
}

static enum gm_rc where_err(const struct gm_doc *doc, struct fy_node *n, const char *what,
                            struct gm_err *err)
{
	struct gm_buf w = GM_BUF_INIT;
	gm_doc_where(doc, n, &w);
	gm_err_set(err, GM_ERR_PARSE, "%s: %s", gm_buf_cstr(&w), what);
	gm_buf_release(&w);
	return GM_ERR_PARSE;
}

/* An optional string member; NULL when absent or null. */
static enum gm_rc opt_str(const struct gm_doc *doc, struct fy_node *map, const char *key,
                          char **out, struct gm_err *err)
{
	const char *s = NULL;
	enum gm_rc rc = gm_doc_get_str(doc, map, key, &s, err);
	if (rc == GM_ERR_NOT_FOUND)
		return GM_OK;
	if (rc == GM_OK)
		*out = gm_xstrdup(s);
	return rc;
}

/* An optional integer member; 0 when absent or null. */
static enum gm_rc opt_int(const struct gm_doc *doc, struct fy_node *map, const char *key, int *out,
                          struct gm_err *err)
{
	int64_t v = 0;
	enum gm_rc rc = gm_doc_get_i64(doc, map, key, &v, err);
	if (rc == GM_ERR_PARSE)
		return rc;
	*out = (int)v;
	return GM_OK;
}

/* The string member key of list entry n, which must be a mapping (else not_map) and have it
 * (else missing). */
static enum gm_rc entry_key(const struct gm_doc *doc, struct fy_node *n, const char *key,
                            const char *not_map, const char *missing, const char **out,
                            struct gm_err *err)
{
	if (!gm_doc_is_map(n))
		return where_err(doc, n, not_map, err);
	enum gm_rc rc = gm_doc_get_str(doc, n, key, out, err);
	if (rc == GM_ERR_NOT_FOUND)
		return where_err(doc, n, missing, err);
	return rc;
}

static enum gm_rc parse_toolkit(const struct gm_doc *doc, struct fy_node *n,
                                struct gm_cuda_toolkit *tk, struct gm_err *err)
{
	const char *version = NULL;
	enum gm_rc rc = entry_key(doc, n, "version", "expected a toolkit entry",
	                          "toolkit entry without 'version'", &version, err);
	if (rc != GM_OK)
		return rc;
	if (!gm_cuda_version_parse(version, &tk->major, &tk->minor))
		return where_err(doc, n, "'version' must look like \"12.4\"", err);
	if ((rc = opt_str(doc, n, "toolkit", &tk->toolkit, err)) != GM_OK ||
	    (rc = opt_str(doc, n, "release", &tk->release, err)) != GM_OK ||
	    (rc = opt_str(doc, n, "min_driver_linux", &tk->min_driver, err)) != GM_OK ||
	    (rc = opt_int(doc, n, "driver_branch", &tk->driver_branch, err)) != GM_OK)
		return rc;
	if (!tk->min_driver && tk->driver_branch <= 0)
		return where_err(doc, n, "toolkit entry needs min_driver_linux or driver_branch",
		                 err);
	return GM_OK;
}

static enum gm_rc parse_family(const struct gm_doc *doc, struct fy_node *n,
                               struct gm_cuda_family *f, struct gm_err *err)
{
	const char *fam = NULL;
	enum gm_rc rc = entry_key(doc, n, "family", "expected a minor_version_compat entry",
	                          "entry without 'family'", &fam, err);
	if (rc != GM_OK)
		return rc;
	char *end = NULL;
	long major = strtol(fam, &end, 10);
	if (end == fam || strcmp(end, ".x") != 0 || major <= 0 || major > 1000)
		return where_err(doc, n, "'family' must look like \"12.x\"", err);
	f->major = (int)major;
	if ((rc = opt_str(doc, n, "min_driver_linux", &f->min_driver, err)) != GM_OK)
		return rc;
	if (!f->min_driver)
		return where_err(doc, n, "family entry without min_driver_linux", err);
	return opt_int(doc, n, "max_driver_branch_exclusive", &f->max_branch_exclusive, err);
}

enum gm_rc gm_cuda_table_parse(struct gm_cuda_table *t, const char *name, const char *text,
                               size_t len, struct gm_err *err)
{
	struct gm_doc doc;
	memset(t, 0, sizeof(*t));
	enum gm_rc rc =
	        gm_embedded_load_doc(&doc, name, text, len, SCHEMA, "a CUDA driver table", err);
	if (rc != GM_OK)
		goto out;
	struct fy_node *root = gm_doc_root(&doc);
	struct fy_node *tks = gm_doc_get(root, "toolkits");
	struct fy_node *fams = gm_doc_get(root, "minor_version_compat");
	if (!gm_doc_is_seq(tks) || !gm_doc_is_seq(fams)) {
		rc = where_err(&doc, root, "expected 'toolkits' and 'minor_version_compat' lists",
		               err);
		goto out;
	}
	t->n_toolkits = (size_t)gm_doc_seq_len(tks);
	t->toolkits = gm_xcalloc(t->n_toolkits ? t->n_toolkits : 1, sizeof(*t->toolkits));
	for (size_t i = 0; i < t->n_toolkits && rc == GM_OK; i++)
		rc = parse_toolkit(&doc, gm_doc_seq_at(tks, (int)i), &t->toolkits[i], err);
	t->n_families = (size_t)gm_doc_seq_len(fams);
	t->families = gm_xcalloc(t->n_families ? t->n_families : 1, sizeof(*t->families));
	for (size_t i = 0; i < t->n_families && rc == GM_OK; i++)
		rc = parse_family(&doc, gm_doc_seq_at(fams, (int)i), &t->families[i], err);
out:
	gm_doc_release(&doc);
	if (rc != GM_OK)
		gm_cuda_table_release(t);
	return rc;
}

enum gm_rc gm_cuda_table_load_embedded(struct gm_cuda_table *t, struct gm_err *err)
{
	return gm_cuda_table_parse(t, "cuda-driver.yaml", NULL, 0, err);
}

void gm_cuda_table_release(struct gm_cuda_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_toolkits; i++) {
		free(t->toolkits[i].toolkit);
		free(t->toolkits[i].release);
		free(t->toolkits[i].min_driver);
	}
	for (size_t i = 0; i < t->n_families; i++)
		free(t->families[i].min_driver);
	GM_FREE(t->toolkits);
	GM_FREE(t->families);
	t->n_toolkits = t->n_families = 0;
}

enum gm_rc gm_cuda_min_driver(const struct gm_cuda_table *t, int major, int minor,
                              struct gm_cuda_need *out, struct gm_err *err)
{
	bool found = false;
	memset(out, 0, sizeof(*out));
	out->major = major;
	out->minor = minor;
	for (size_t i = 0; i < t->n_toolkits; i++) {
		const struct gm_cuda_toolkit *tk = &t->toolkits[i];
		bool ok = true;
		if (tk->major != major || tk->minor != minor)
			continue;
		if (!found) {
			out->min_driver = tk->min_driver;
			out->driver_branch = tk->driver_branch;
		} else if (tk->min_driver &&
		           (!out->min_driver ||
		            gm_driver_version_cmp(tk->min_driver, out->min_driver, &ok) < 0)) {
			out->min_driver = tk->min_driver;
		}
		found = true;
	}
	if (!found) {
		const struct gm_cuda_toolkit *lo = t->n_toolkits ? &t->toolkits[0] : NULL;
		const struct gm_cuda_toolkit *hi =
		        t->n_toolkits ? &t->toolkits[t->n_toolkits - 1] : NULL;
		if (lo)
			return gm_err_set(
			        err, GM_ERR_NOT_FOUND,
			        "CUDA %d.%d is not in the driver table (it knows %d.%d to "
			        "%d.%d)",
			        major, minor, lo->major, lo->minor, hi->major, hi->minor);
		return gm_err_set(err, GM_ERR_NOT_FOUND, "the CUDA driver table is empty");
	}
	for (size_t i = 0; i < t->n_families; i++) {
		if (t->families[i].major == major) {
			out->compat_min = t->families[i].min_driver;
			out->compat_max_branch_exclusive = t->families[i].max_branch_exclusive;
		}
	}
	return GM_OK;
}

enum gm_cuda_verdict gm_cuda_driver_verdict(const struct gm_cuda_need *need, const char *driver)
{
	bool ok = true;
	if (need->min_driver) {
		int c = gm_driver_version_cmp(driver, need->min_driver, &ok);
		if (!ok)
			return GM_CUDA_UNKNOWN;
		if (c >= 0)
			return GM_CUDA_NATIVE;
	} else {
		char *end = NULL;
		long branch = driver ? strtol(driver, &end, 10) : 0;
		if (!driver || end == driver)
			return GM_CUDA_UNKNOWN;
		if (branch >= need->driver_branch)
			return GM_CUDA_NATIVE;
	}
	if (need->compat_min) {
		int c = gm_driver_version_cmp(driver, need->compat_min, &ok);
		if (!ok)
			return GM_CUDA_UNKNOWN;
		if (c >= 0)
			return GM_CUDA_MINOR_COMPAT;
	}
	return GM_CUDA_TOO_OLD;
}

/* The Xid catalog (data/xid.yaml) and the kernel-log scanner check uses for health.xid. */
#include "assess/xid.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/doc.h"
#include "util/embed.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SCHEMA   "gpumigrate.catalog.xid/v1"
#define LAST_MAX 160
#define MAX_HITS 4096

static char *dup_member(struct fy_node *n, const char *key)
{
	const char *s = gm_doc_scalar(gm_doc_get(n, key));
	return gm_xstrdup(s ? s : "");
}

enum gm_rc gm_xid_catalog_parse(struct gm_xid_catalog *c, const char *name, const char *text,
                                size_t len, struct gm_err *err)
{
	struct gm_doc doc;
	memset(c, 0, sizeof(*c));
	enum gm_rc rc = gm_embedded_load_doc(&doc, name, text, len, SCHEMA, "an Xid catalog", err);
	if (rc != GM_OK)
		goto out;
	struct fy_node *root = gm_doc_root(&doc);
	struct fy_node *seq = gm_doc_get(root, "xids");
	if (!gm_doc_is_seq(seq)) {
		rc = gm_err_set(err, GM_ERR_PARSE, "%s: expected an 'xids' list", name);
		goto out;
	}
	c->n = (size_t)gm_doc_seq_len(seq);
	c->xids = gm_xcalloc(c->n ? c->n : 1, sizeof(*c->xids));
	for (size_t i = 0; i < c->n && rc == GM_OK; i++) {
		struct fy_node *n = gm_doc_seq_at(seq, (int)i);
		int64_t code = 0;
		struct gm_xid_info *x = &c->xids[i];
		rc = gm_doc_get_i64(&doc, n, "code", &code, err);
		if (rc == GM_ERR_NOT_FOUND || (rc == GM_OK && (code <= 0 || code > 100000))) {
			struct gm_buf w = GM_BUF_INIT;
			gm_doc_where(&doc, n, &w);
			rc = gm_err_set(err, GM_ERR_PARSE, "%s: every Xid needs a positive 'code'",
			                gm_buf_cstr(&w));
			gm_buf_release(&w);
		}
		x->code = (int)code;
		x->mnemonic = dup_member(n, "mnemonic");
		x->name = dup_member(n, "name");
		x->category = dup_member(n, "category");
		x->immediate_action = dup_member(n, "immediate_action");
		x->action = dup_member(n, "action");
	}
out:
	gm_doc_release(&doc);
	if (rc != GM_OK)
		gm_xid_catalog_release(c);
	return rc;
}

enum gm_rc gm_xid_catalog_load_embedded(struct gm_xid_catalog *c, struct gm_err *err)
{
	return gm_xid_catalog_parse(c, "xid.yaml", NULL, 0, err);
}

void gm_xid_catalog_release(struct gm_xid_catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct gm_xid_info *x = &c->xids[i];
		free(x->mnemonic);
		free(x->name);
		free(x->category);
		free(x->immediate_action);
		free(x->action);
	}
	GM_FREE(c->xids);
	c->n = 0;
}

const struct gm_xid_info *gm_xid_lookup(const struct gm_xid_catalog *c, int code)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (c->xids[i].code == code)
			return &c->xids[i];
	return NULL;
}

bool gm_xid_is_fatal(const struct gm_xid_info *info)
{
	if (!info)
		return false;
	if (info->code == 45) /* cleanup after other errors: act on those */
		return false;
	const char *a = info->immediate_action;
	return !(strncmp(a, "RESTART_APP", 11) == 0 || strncmp(a, "IGNORE", 6) == 0);
}

/* Parses one line that contains "NVRM: Xid" at x. */
static void scan_line(struct gm_xid_scan *s, const char *x, const char *end)
{
	const char *p = x + strlen("NVRM: Xid");
	char pci[16];
	size_t n = 0;
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p != '(')
		return;
	p++;
	if (end - p >= 4 && strncmp(p, "PCI:", 4) == 0)
		p += 4;
	while (p < end && *p != ')' && n < sizeof(pci) - 1) {
		if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
			return;
		pci[n++] = (char)tolower((unsigned char)*p++);
	}
	pci[n] = '\0';
	if (p >= end || *p != ')' || n < 5)
		return;
	p++;
	if (p < end && *p == ':')
		p++;
	while (p < end && *p == ' ')
		p++;
	int code = 0, digits = 0;
	while (p < end && isdigit((unsigned char)*p) && digits < 6) {
		code = code * 10 + (*p++ - '0');
		digits++;
	}
	if (!digits || code <= 0 || (p < end && isdigit((unsigned char)*p)))
		return;
	while (p < end && (*p == ',' || *p == ' '))
		p++;
	const char *rest_end = end;
	while (rest_end > p && isspace((unsigned char)rest_end[-1]))
		rest_end--;
	size_t rest = (size_t)(rest_end - p);
	if (rest > LAST_MAX)
		rest = LAST_MAX;

	s->lines++;
	for (size_t i = 0; i < s->n; i++) {
		struct gm_xid_hit *h = &s->hits[i];
		if (h->code == code && strcmp(h->pci, pci) == 0) {
			h->count++;
			free(h->last);
			h->last = gm_xstrndup(p, rest);
			return;
		}
	}
	if (s->n >= MAX_HITS)
		return;
	s->hits = gm_xreallocarray(s->hits, s->n + 1, sizeof(*s->hits));
	struct gm_xid_hit *h = &s->hits[s->n++];
	memset(h, 0, sizeof(*h));
	h->code = code;
	memcpy(h->pci, pci, n + 1);
	h->count = 1;
	h->last = gm_xstrndup(p, rest);
}

void gm_xid_scan_text(struct gm_xid_scan *s, const char *text, size_t len)
{
	static const char needle[] = "NVRM: Xid";
	const char *p = text, *end = text + len;
	memset(s, 0, sizeof(*s));
	while (p < end) {
		const char *x = memmem(p, (size_t)(end - p), needle, sizeof(needle) - 1);
		if (!x)
			break;
		const char *eol = memchr(x, '\n', (size_t)(end - x));
		if (!eol)
			eol = end;
		scan_line(s, x, eol);
		p = eol;
	}
}

void gm_xid_scan_release(struct gm_xid_scan *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->hits[i].last);
	GM_FREE(s->hits);
	s->n = s->lines = 0;
}

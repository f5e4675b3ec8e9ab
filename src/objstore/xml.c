/* The XML reader behind the S3 backend: one pass over the text, elements collected in an
 * array with indices (turned into pointers once the arrays stop moving), names and texts
 * in one string block. Text pieces of an element interleaved with its children are
 * gathered on a stack buffer and copied out when the element closes, so each element's
 * text is one contiguous string. */
#include "objstore/xml.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define NONE SIZE_MAX

struct node {
	size_t name_off;
	size_t text_off, text_len;
	size_t parent, first_child, last_child, next;
};

struct open_el {
	size_t node;
	size_t mark;     /* where its text starts in p->scratch */
	size_t qname_at; /* its qualified name in the input, for the end tag */
	size_t qname_len;
};

struct parser {
	const char *s;
	size_t len, pos;
	struct node *nodes;
	size_t n, cap;
	struct gm_buf strs;
	struct gm_buf scratch; /* the texts of the open elements, innermost last */
	struct gm_buf junk;    /* decoded attribute values, thrown away */
	struct open_el stack[GM_XML_MAX_DEPTH];
	size_t depth;
	bool root_done;
	struct gm_err *err;
};

__attribute__((format(printf, 4, 5))) static enum gm_rc fail(struct parser *p, enum gm_rc rc,
                                                             size_t at, const char *fmt, ...)
{
	struct gm_buf what = GM_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	gm_buf_vaddf(&what, fmt, ap);
	va_end(ap);
	gm_err_set(p->err, rc, "invalid XML: %s at byte %zu", gm_buf_cstr(&what), at);
	gm_buf_release(&what);
	return rc;
}

static bool starts(const struct parser *p, size_t at, const char *lit)
{
	size_t n = strlen(lit);
	return at <= p->len && p->len - at >= n && memcmp(p->s + at, lit, n) == 0;
}

/* Offset of needle at or after from, or NONE. */
static size_t find(const struct parser *p, size_t from, const char *needle)
{
	if (from > p->len)
		return NONE;
	const char *r = memmem(p->s + from, p->len - from, needle, strlen(needle));
	return r ? (size_t)(r - p->s) : NONE;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool name_start(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' ||
	       c >= 0x80;
}

static bool name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* A name at p->pos; its length, or 0 when there is none. */
static size_t scan_name(const struct parser *p)
{
	size_t i = p->pos;
	if (i >= p->len || !name_start((unsigned char)p->s[i]))
		return 0;
	while (i < p->len && name_char((unsigned char)p->s[i]))
		i++;
	return i - p->pos;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && is_ws(p->s[p->pos]))
		p->pos++;
}

static void add_utf8(struct gm_buf *b, uint32_t v)
{
	if (v < 0x80) {
		gm_buf_addch(b, (char)v);
	} else if (v < 0x800) {
		gm_buf_addch(b, (char)(0xc0 | v >> 6));
		gm_buf_addch(b, (char)(0x80 | (v & 0x3f)));
	} else if (v < 0x10000) {
		gm_buf_addch(b, (char)(0xe0 | v >> 12));
		gm_buf_addch(b, (char)(0x80 | (v >> 6 & 0x3f)));
		gm_buf_addch(b, (char)(0x80 | (v & 0x3f)));
	} else {
		gm_buf_addch(b, (char)(0xf0 | v >> 18));
		gm_buf_addch(b, (char)(0x80 | (v >> 12 & 0x3f)));
		gm_buf_addch(b, (char)(0x80 | (v >> 6 & 0x3f)));
		gm_buf_addch(b, (char)(0x80 | (v & 0x3f)));
	}
}

/* Decodes the reference at p->pos ('&') into out and moves past it. */
static enum gm_rc entity(struct parser *p, struct gm_buf *out)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
	size_t at = p->pos, i = at + 1;
	while (i < p->len && i - at <= 32 && p->s[i] != ';')
		i++;
	if (i >= p->len || p->s[i] != ';')
		return fail(p, GM_ERR_PARSE, at,
		            "'&' that starts no entity or character reference");
	const char *r = p->s + at + 1;
	size_t n = i - at - 1;
	p->pos = i + 1;
	if (n >= 1 && r[0] == '#') {
		bool hex = n >= 2 && r[1] == 'x';
		size_t k = hex ? 2 : 1;
		if (k == n)
			return fail(p, GM_ERR_PARSE, at, "empty character reference");
		uint32_t v = 0;
		for (; k < n; k++) {
			char c = r[k];
			int d;
			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (hex && c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (hex && c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return fail(p, GM_ERR_PARSE, at,
				            "bad digit in a character reference");
			v = v * (hex ? 16 : 10) + (uint32_t)d;
			if (v > 0x10ffff)
				return fail(p, GM_ERR_PARSE, at,
				            "character reference beyond U+10FFFF");
		}
		if (v == 0 || (v >= 0xd800 && v <= 0xdfff))
			return fail(p, GM_ERR_PARSE, at, "character reference to U+%04X",
			            (unsigned)v);
		add_utf8(out, v);
		return GM_OK;
	}
	for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
		if (strlen(named[k].name) == n && memcmp(named[k].name, r, n) == 0) {
			gm_buf_addch(out, named[k].c);
			return GM_OK;
		}
	}
	return fail(p, GM_ERR_PARSE, at, "unknown entity (only amp, lt, gt, quot, apos)");
}

/* Appends s[from..to) to out with line ends normalised ("\r\n" and "\r" become "\n");
 * NUL bytes are an error. */
static enum gm_rc add_raw(struct parser *p, size_t from, size_t to, struct gm_buf *out)
{
	size_t i = from;
	while (i < to) {
		size_t j = i;
		while (j < to && p->s[j] != '\r' && p->s[j] != '\0')
			j++;
		gm_buf_add(out, p->s + i, j - i);
		if (j == to)
			break;
		if (p->s[j] == '\0')
			return fail(p, GM_ERR_PARSE, j, "NUL byte");
		gm_buf_addch(out, '\n');
		i = j + 1;
		if (i < to && p->s[i] == '\n')
			i++;
	}
	return GM_OK;
}

/* Character data at p->pos up to the next '<' (or the end). */
static enum gm_rc text(struct parser *p)
{
	if (p->depth == 0) {
		while (p->pos < p->len && p->s[p->pos] != '<') {
			if (!is_ws(p->s[p->pos]))
				return fail(p, GM_ERR_PARSE, p->pos,
				            "text outside the root element");
			p->pos++;
		}
		return GM_OK;
	}
	while (p->pos < p->len && p->s[p->pos] != '<') {
		size_t j = p->pos;
		while (j < p->len && p->s[j] != '<' && p->s[j] != '&')
			j++;
		enum gm_rc rc = add_raw(p, p->pos, j, &p->scratch);
		if (rc != GM_OK)
			return rc;
		p->pos = j;
		if (j < p->len && p->s[j] == '&' && (rc = entity(p, &p->scratch)) != GM_OK)
			return rc;
	}
	return GM_OK;
}

static void node_link(struct parser *p, size_t idx, size_t parent)
{
	struct node *c = &p->nodes[idx];
	c->parent = parent;
	c->first_child = c->last_child = c->next = NONE;
	if (parent == NONE)
		return;
	struct node *pa = &p->nodes[parent];
	if (pa->last_child == NONE)
		pa->first_child = idx;
	else
		p->nodes[pa->last_child].next = idx;
	pa->last_child = idx;
}

static void close_top(struct parser *p)
{
	struct open_el *o = &p->stack[--p->depth];
	struct node *nd = &p->nodes[o->node];
	nd->text_off = p->strs.len;
	nd->text_len = p->scratch.len - o->mark;
	gm_buf_add(&p->strs, p->scratch.data ? p->scratch.data + o->mark : "", nd->text_len);
	gm_buf_addch(&p->strs, '\0');
	gm_buf_truncate(&p->scratch, o->mark);
	if (p->depth == 0)
		p->root_done = true;
}

/* An attribute value at p->pos (the opening quote): checked and thrown away. */
static enum gm_rc attr_value(struct parser *p)
{
	size_t at = p->pos;
	char q = p->s[p->pos++];
	gm_buf_reset(&p->junk);
	while (p->pos < p->len && p->s[p->pos] != q) {
		char c = p->s[p->pos];
		if (c == '<')
			return fail(p, GM_ERR_PARSE, p->pos, "'<' in an attribute value");
		if (c == '\0')
			return fail(p, GM_ERR_PARSE, p->pos, "NUL byte");
		if (c == '&') {
			enum gm_rc rc = entity(p, &p->junk);
			if (rc != GM_OK)
				return rc;
			continue;
		}
		p->pos++;
	}
	if (p->pos >= p->len)
		return fail(p, GM_ERR_PARSE, at, "unterminated attribute value");
	p->pos++;
	return GM_OK;
}

static enum gm_rc start_tag(struct parser *p)
{
	size_t at = p->pos;
	p->pos++; /* '<' */
	size_t qlen = scan_name(p);
	if (!qlen)
		return fail(p, GM_ERR_PARSE, at, "'<' not followed by a name");
	size_t qat = p->pos;
	p->pos += qlen;
	if (p->root_done)
		return fail(p, GM_ERR_PARSE, at, "a second root element");
	if (p->depth >= GM_XML_MAX_DEPTH)
		return fail(p, GM_ERR_LIMIT, at, "elements nested deeper than %d",
		            GM_XML_MAX_DEPTH);
	if (p->n >= GM_XML_MAX_ELEMENTS)
		return fail(p, GM_ERR_LIMIT, at, "more than %u elements", GM_XML_MAX_ELEMENTS);
	const char *local = p->s + qat;
	size_t llen = qlen;
	const char *colon = memrchr(local, ':', qlen);
	if (colon) {
		llen = qlen - (size_t)(colon + 1 - local);
		local = colon + 1;
		if (!llen || colon == p->s + qat)
			return fail(p, GM_ERR_PARSE, at, "a malformed qualified name");
	}

	/* Attributes: parsed, checked, ignored. */
	bool empty = false;
	for (;;) {
		size_t before = p->pos;
		skip_ws(p);
		if (p->pos >= p->len)
			return fail(p, GM_ERR_PARSE, at, "unterminated start tag");
		char c = p->s[p->pos];
		if (c == '>') {
			p->pos++;
			break;
		}
		if (c == '/') {
			if (p->pos + 1 >= p->len || p->s[p->pos + 1] != '>')
				return fail(p, GM_ERR_PARSE, p->pos, "'/' not followed by '>'");
			p->pos += 2;
			empty = true;
			break;
		}
		if (p->pos == before)
			return fail(p, GM_ERR_PARSE, p->pos, "no space before an attribute");
		size_t alen = scan_name(p);
		if (!alen)
			return fail(p, GM_ERR_PARSE, p->pos, "a malformed attribute");
		p->pos += alen;
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != '=')
			return fail(p, GM_ERR_PARSE, p->pos, "an attribute without '='");
		p->pos++;
		skip_ws(p);
		if (p->pos >= p->len || (p->s[p->pos] != '"' && p->s[p->pos] != '\''))
			return fail(p, GM_ERR_PARSE, p->pos, "an attribute value without quotes");
		enum gm_rc rc = attr_value(p);
		if (rc != GM_OK)
			return rc;
	}

	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->nodes = gm_xreallocarray(p->nodes, p->cap, sizeof *p->nodes);
	}
	size_t idx = p->n++;
	p->nodes[idx].name_off = p->strs.len;
	gm_buf_add(&p->strs, local, llen);
	gm_buf_addch(&p->strs, '\0');
	node_link(p, idx, p->depth ? p->stack[p->depth - 1].node : NONE);
	p->stack[p->depth++] = (struct open_el){idx, p->scratch.len, qat, qlen};
	if (empty)
		close_top(p);
	return GM_OK;
}

static enum gm_rc end_tag(struct parser *p)
{
	size_t at = p->pos;
	p->pos += 2; /* "</" */
	size_t qlen = scan_name(p);
	if (!qlen)
		return fail(p, GM_ERR_PARSE, at, "'</' not followed by a name");
	size_t qat = p->pos;
	p->pos += qlen;
	skip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != '>')
		return fail(p, GM_ERR_PARSE, at, "unterminated end tag");
	p->pos++;
	if (p->depth == 0)
		return fail(p, GM_ERR_PARSE, at, "end tag </%.*s> without a start tag",
		            (int)(qlen > 64 ? 64 : qlen), p->s + qat);
	const struct open_el *o = &p->stack[p->depth - 1];
	if (o->qname_len != qlen || memcmp(p->s + o->qname_at, p->s + qat, qlen) != 0)
		return fail(p, GM_ERR_PARSE, at, "end tag </%.*s> does not close <%.*s>",
		            (int)(qlen > 64 ? 64 : qlen), p->s + qat,
		            (int)(o->qname_len > 64 ? 64 : o->qname_len), p->s + o->qname_at);
	close_top(p);
	return GM_OK;
}

static enum gm_rc markup(struct parser *p)
{
	size_t at = p->pos, e;
	if (starts(p, at, "<?")) {
		if ((e = find(p, at + 2, "?>")) == NONE)
			return fail(p, GM_ERR_PARSE, at, "unterminated processing instruction");
		if (memchr(p->s + at, '\0', e - at))
			return fail(p, GM_ERR_PARSE, at, "NUL byte in a processing instruction");
		p->pos = e + 2;
		return GM_OK;
	}
	if (starts(p, at, "<!--")) {
		if ((e = find(p, at + 4, "-->")) == NONE)
			return fail(p, GM_ERR_PARSE, at, "unterminated comment");
		if (memchr(p->s + at, '\0', e - at))
			return fail(p, GM_ERR_PARSE, at, "NUL byte in a comment");
		p->pos = e + 3;
		return GM_OK;
	}
	if (starts(p, at, "<![CDATA[")) {
		if (p->depth == 0)
			return fail(p, GM_ERR_PARSE, at, "CDATA section outside the root element");
		if ((e = find(p, at + 9, "]]>")) == NONE)
			return fail(p, GM_ERR_PARSE, at, "unterminated CDATA section");
		enum gm_rc rc = add_raw(p, at + 9, e, &p->scratch);
		if (rc != GM_OK)
			return rc;
		p->pos = e + 3;
		return GM_OK;
	}
	if (starts(p, at, "<!DOCTYPE"))
		return fail(p, GM_ERR_PARSE, at, "a DOCTYPE (not accepted)");
	if (starts(p, at, "<!"))
		return fail(p, GM_ERR_PARSE, at, "unexpected '<!' markup");
	if (starts(p, at, "</"))
		return end_tag(p);
	return start_tag(p);
}

void gm_xml_doc_init(struct gm_xml_doc *d)
{
	memset(d, 0, sizeof *d);
}

void gm_xml_doc_release(struct gm_xml_doc *d)
{
	if (!d)
		return;
	free(d->els);
	free(d->strs);
	memset(d, 0, sizeof *d);
}

enum gm_rc gm_xml_parse(struct gm_xml_doc *d, const char *text_in, size_t len, struct gm_err *err)
{
	struct parser p;
	enum gm_rc rc = GM_OK;
	memset(&p, 0, sizeof p);
	p.s = text_in ? text_in : "";
	p.len = text_in ? len : 0;
	p.err = err;
	gm_xml_doc_release(d);

	if (p.len > GM_XML_MAX_INPUT) {
		rc = gm_err_set(err, GM_ERR_LIMIT, "XML document larger than %zu bytes",
		                GM_XML_MAX_INPUT);
		goto out;
	}
	if (starts(&p, 0, "\xef\xbb\xbf")) /* a UTF-8 byte order mark */
		p.pos = 3;
	while (p.pos < p.len) {
		if (p.s[p.pos] == '<')
			rc = markup(&p);
		else if (p.s[p.pos] == '\0')
			rc = fail(&p, GM_ERR_PARSE, p.pos, "NUL byte");
		else
			rc = text(&p);
		if (rc != GM_OK)
			goto out;
	}
	if (p.depth) {
		const struct open_el *o = &p.stack[p.depth - 1];
		rc = fail(&p, GM_ERR_PARSE, p.len, "input ends inside <%.*s>",
		          (int)(o->qname_len > 64 ? 64 : o->qname_len), p.s + o->qname_at);
		goto out;
	}
	if (!p.root_done) {
		rc = fail(&p, GM_ERR_PARSE, p.len, "no root element");
		goto out;
	}

	/* The arrays are final: hand out pointers. */
	d->n_els = p.n;
	d->strs_len = p.strs.len;
	d->strs = gm_buf_detach(&p.strs);
	d->els = gm_xcalloc(p.n, sizeof *d->els);
	for (size_t i = 0; i < p.n; i++) {
		const struct node *nd = &p.nodes[i];
		struct gm_xml_el *el = &d->els[i];
		el->name = d->strs + nd->name_off;
		el->text = d->strs + nd->text_off;
		el->text_len = nd->text_len;
		el->parent = nd->parent == NONE ? NULL : &d->els[nd->parent];
		el->first_child = nd->first_child == NONE ? NULL : &d->els[nd->first_child];
		el->next_sibling = nd->next == NONE ? NULL : &d->els[nd->next];
	}
out:
	free(p.nodes);
	gm_buf_release(&p.strs);
	gm_buf_release(&p.scratch);
	gm_buf_release(&p.junk);
	return rc;
}

const struct gm_xml_el *gm_xml_root(const struct gm_xml_doc *d)
{
	return d && d->n_els ? &d->els[0] : NULL;
}

const struct gm_xml_el *gm_xml_child(const struct gm_xml_el *e, const char *name)
{
	if (!e || !name)
		return NULL;
	for (const struct gm_xml_el *c = e->first_child; c; c = c->next_sibling)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const struct gm_xml_el *gm_xml_next(const struct gm_xml_el *e)
{
	if (!e)
		return NULL;
	for (const struct gm_xml_el *c = e->next_sibling; c; c = c->next_sibling)
		if (strcmp(c->name, e->name) == 0)
			return c;
	return NULL;
}

const char *gm_xml_text(const struct gm_xml_el *e, size_t *len)
{
	if (len)
		*len = e ? e->text_len : 0;
	return e ? e->text : "";
}

const char *gm_xml_child_text(const struct gm_xml_el *e, const char *name, size_t *len)
{
	const struct gm_xml_el *c = gm_xml_child(e, name);
	if (len)
		*len = c ? c->text_len : 0;
	return c ? c->text : NULL;
}

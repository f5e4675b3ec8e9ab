/* libFuzzer harness: every S3 answer body (listings, multipart replies, errors) comes from
 * whatever endpoint or proxy the user points gpumigrate at, and goes through the XML
 * reader. The input is parsed as is (no terminator: the parser takes a length); a parsed
 * tree is walked and its invariants checked, so a wrong pointer or length shows up as a
 * crash rather than a silent misread. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const struct gm_xml_el *e, const struct gm_xml_el *parent, unsigned depth)
{
	size_t n = 0, i = 0;
	for (; e; e = e->next_sibling, i++) {
		if (e->parent != parent || depth > GM_XML_MAX_DEPTH || !e->name[0] ||
		    strlen(e->text) != e->text_len || strchr(e->name, ':'))
			abort();
		/* gm_xml_child finds the first child of a name; gm_xml_next stays on that name
		 * (checked for the first siblings only, to keep wide inputs fast) */
		if (i < 16) {
			const struct gm_xml_el *c = gm_xml_child(parent, e->name);
			if (!c || strcmp(c->name, e->name) != 0)
				abort();
			for (const struct gm_xml_el *s = gm_xml_next(c); s; s = gm_xml_next(s))
				if (strcmp(s->name, e->name) != 0)
					abort();
		}
		n += 1 + walk(e->first_child, e, depth + 1);
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_xml_doc d;
	struct gm_err err = GM_ERR_INIT;
	gm_xml_doc_init(&d);
	enum gm_rc rc = gm_xml_parse(&d, (const char *)data, size, &err);
	if (rc == GM_OK) {
		const struct gm_xml_el *r = gm_xml_root(&d);
		if (!r || r->next_sibling || r->parent)
			abort();
		/* the root is reached as its own sibling list's only member */
		struct gm_xml_el fake = {0};
		fake.first_child = r;
		if (gm_xml_child(&fake, r->name) != r)
			abort();
		if (walk(r->first_child, r, 2) + 1 != d.n_els)
			abort();
	} else if (gm_xml_root(&d) || (rc != GM_ERR_PARSE && rc != GM_ERR_LIMIT) ||
	           (rc == GM_ERR_PARSE && !strstr(gm_err_msg(&err), " at byte "))) {
		abort();
	}
	gm_xml_doc_release(&d);
	gm_err_release(&err);
	return 0;
}

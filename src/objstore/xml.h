/* A small, bounded XML reader for S3 responses (ListObjectsV2, ListParts,
 * ListMultipartUploads, InitiateMultipartUpload, CompleteMultipartUpload,
 * CopyObjectResult, Error …). It reads a whole document into a tree of elements, each with
 * its local name (namespace prefix dropped), its decoded character data and its children
 * in order. That is all S3 puts in its answers; everything else is skipped (XML
 * declaration, comments, processing instructions, attributes) or refused (DOCTYPE, so
 * no entity can be defined or expanded).
 *
 * The input is untrusted (any endpoint, any proxy): it is capped in size, depth and
 * element count, and every malformation is an error with the byte offset where it was
 * found, never a partial tree. */
#ifndef GM_OBJSTORE_XML_H
#define GM_OBJSTORE_XML_H

#include <stddef.h>

#include "util/err.h"

#define GM_XML_MAX_INPUT    ((size_t)64 << 20) /* bytes */
#define GM_XML_MAX_DEPTH    64                 /* nested elements, root included */
#define GM_XML_MAX_ELEMENTS 1000000u

struct gm_xml_el {
	const char *name; /* local name: "Key" for both <Key> and <s3:Key>; NUL-terminated */
	/* The element's own character data, decoded (entities, character references, CDATA;
	 * line ends normalised to "\n"), all its pieces concatenated in order, children's
	 * text excluded; NUL-terminated and free of NUL bytes (a raw NUL or &#0; is refused).
	 * Otherwise exactly as sent: no trimming (keys may begin or end with spaces), bytes
	 * passed through unchecked. "" when there is none. */
	const char *text;
	size_t text_len;
	const struct gm_xml_el *parent;       /* NULL for the root */
	const struct gm_xml_el *first_child;  /* NULL when none */
	const struct gm_xml_el *next_sibling; /* the parent's next child, NULL when last */
};

/* A parsed document; owns every element and string the elements point to. */
struct gm_xml_doc {
	struct gm_xml_el *els; /* els[0] is the root; NULL when empty */
	size_t n_els;
	char *strs; /* names and texts */
	size_t strs_len;
};

/* Empty document, no allocation. */
void gm_xml_doc_init(struct gm_xml_doc *d);
/* Frees the contents (pointers into it die); the document is empty afterwards. Accepts
 * NULL. */
void gm_xml_doc_release(struct gm_xml_doc *d);

/* Parses text[0..len) (no NUL terminator needed) into d, replacing its contents.
 * GM_ERR_PARSE for malformed input: not exactly one root element, a mismatched or
 * missing end tag, an unterminated tag, comment, CDATA section or processing
 * instruction, an unknown entity or a bad character reference (&#0;, a surrogate, beyond
 * U+10FFFF), a NUL byte, a '<' in an attribute value, text outside the root, a DOCTYPE.
 * GM_ERR_LIMIT for input over GM_XML_MAX_INPUT, nesting deeper than GM_XML_MAX_DEPTH, or
 * more than GM_XML_MAX_ELEMENTS elements. The message says what and at which byte offset
 * ("… at byte 123"); it quotes no text from the input but element names (cut at 64
 * bytes). On error d is left empty. */
enum gm_rc gm_xml_parse(struct gm_xml_doc *d, const char *text, size_t len, struct gm_err *err);

/* The root element, or NULL for an empty document. */
const struct gm_xml_el *gm_xml_root(const struct gm_xml_doc *d);

/* The first child of e named name (local name, exact case), or NULL; e may be NULL (then
 * NULL), so lookups chain: gm_xml_child(gm_xml_child(root, "Owner"), "ID"). */
const struct gm_xml_el *gm_xml_child(const struct gm_xml_el *e, const char *name);

/* The next sibling after e with the same name as e, or NULL (e may be NULL). Iterates
 * repeated elements:
 *   for (c = gm_xml_child(root, "Contents"); c; c = gm_xml_next(c)) … */
const struct gm_xml_el *gm_xml_next(const struct gm_xml_el *e);

/* The text of e and its length in *len (len may be NULL); "" (and 0) when e is NULL. */
const char *gm_xml_text(const struct gm_xml_el *e, size_t *len);

/* The text of e's first child named name, or NULL when there is no such child (so "absent"
 * and "empty" stay apart); *len (may be NULL) receives the length. */
const char *gm_xml_child_text(const struct gm_xml_el *e, const char *name, size_t *len);

#endif

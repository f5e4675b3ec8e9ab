/* The protocol buffers wire format, decoded by hand for the pod-resources client: varints,
 * the four fixed and length-delimited wire types, and skipping of whatever we do not know.
 * Bounds are checked before every read, so hostile input costs a GM_ERR_PARSE, never more. */
#include "monitor/protobuf.h"

#include "util/banned.h"

void gm_pb_reader_init(struct gm_pb_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data ? len : 0;
	r->pos = 0;
}

enum gm_rc gm_pb_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	size_t p = *pos;
	for (unsigned i = 0; i < 10; i++) {
		if (p >= len)
			return GM_ERR_PARSE;
		uint8_t b = data[p++];
		/* the tenth byte holds bit 63 only */
		if (i == 9 && (b & 0x7e))
			return GM_ERR_PARSE;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*pos = p;
			*out = v;
			return GM_OK;
		}
	}
	return GM_ERR_PARSE;
}

/* Always GM_ERR_PARSE: callers rely on it never being GM_OK (gm_pb_next reads a field only
 * after read_field said GM_OK), so that is stated here rather than left to gm_err_set. */
static enum gm_rc bad(struct gm_err *err, size_t at, const char *what)
{
	gm_err_set(err, GM_ERR_PARSE, "protobuf: %s at byte %zu", what, at);
	return GM_ERR_PARSE;
}

/* Reads one tag and its payload from r without interpreting groups. */
static enum gm_rc read_field(struct gm_pb_reader *r, struct gm_pb_field *f, struct gm_err *err)
{
	size_t at = r->pos;
	uint64_t tag = 0;
	if (gm_pb_varint(r->data, r->len, &r->pos, &tag) != GM_OK)
		return bad(err, at, "truncated tag");
	if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
		return bad(err, at, "bad field number");
	f->num = (uint32_t)(tag >> 3);
	f->wire = (enum gm_pb_wire)(tag & 7);
	f->u64 = 0;
	f->data = NULL;
	f->len = 0;
	switch (f->wire) {
	case GM_PB_VARINT:
		if (gm_pb_varint(r->data, r->len, &r->pos, &f->u64) != GM_OK)
			return bad(err, at, "truncated or overlong varint");
		return GM_OK;
	case GM_PB_I64:
	case GM_PB_I32: {
		size_t n = f->wire == GM_PB_I64 ? 8 : 4;
		if (r->len - r->pos < n)
			return bad(err, at, "truncated fixed-size value");
		for (size_t i = 0; i < n; i++)
			f->u64 |= (uint64_t)r->data[r->pos + i] << (8 * i);
		r->pos += n;
		return GM_OK;
	}
	case GM_PB_LEN: {
		uint64_t n = 0;
		if (gm_pb_varint(r->data, r->len, &r->pos, &n) != GM_OK)
			return bad(err, at, "truncated length");
		if (n > r->len - r->pos)
			return bad(err, at, "length past the end of the message");
		f->data = r->data + r->pos;
		f->len = (size_t)n;
		r->pos += (size_t)n;
		return GM_OK;
	}
	case GM_PB_SGROUP:
	case GM_PB_EGROUP: return GM_OK;
	default: return bad(err, at, "unknown wire type");
	}
}

enum gm_rc gm_pb_next(struct gm_pb_reader *r, struct gm_pb_field *f, struct gm_err *err)
{
	if (r->pos >= r->len)
		return GM_ERR_NOT_FOUND;
	size_t at = r->pos;
	enum gm_rc rc = read_field(r, f, err);
	if (rc != GM_OK)
		return rc;
	if (f->wire == GM_PB_EGROUP)
		return bad(err, at, "end of a group that did not start");
	if (f->wire != GM_PB_SGROUP)
		return GM_OK;
	/* Skip the group: fields until the matching end-group, groups nested inside counted. */
	uint32_t stack[GM_PB_MAX_GROUP_DEPTH];
	unsigned depth = 0;
	uint32_t num = f->num;
	stack[depth++] = num;
	while (depth > 0) {
		struct gm_pb_field in;
		if (r->pos >= r->len)
			return bad(err, at, "truncated group");
		rc = read_field(r, &in, err);
		if (rc != GM_OK)
			return rc;
		if (in.wire == GM_PB_SGROUP) {
			if (depth == GM_PB_MAX_GROUP_DEPTH)
				return bad(err, at, "groups nested too deep");
			stack[depth++] = in.num;
		} else if (in.wire == GM_PB_EGROUP) {
			if (stack[depth - 1] != in.num)
				return bad(err, at, "group ends with another field number");
			depth--;
		}
	}
	f->num = num;
	f->wire = GM_PB_SGROUP;
	f->u64 = 0;
	f->data = NULL;
	f->len = 0;
	return GM_OK;
}

/* Encoders and decoders of the sync wire protocol (see proto.h). The decoders read bytes a
 * remote program chose, so each read goes through a cursor that checks the bytes left and
 * a cap, and a frame that breaks any rule is refused whole. */
#include "sync/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "util/xalloc.h"

#include "util/banned.h"

void gm_proto_msg_init(struct gm_proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	gm_buf_init(&m->a);
	gm_buf_init(&m->b);
}

void gm_proto_msg_release(struct gm_proto_msg *m)
{
	if (!m)
		return;
	gm_buf_release(&m->a);
	gm_buf_release(&m->b);
}

void gm_proto_msg_reset(struct gm_proto_msg *m)
{
	struct gm_buf a = m->a, b = m->b;
	struct gm_sync_list *list = m->list;
	gm_buf_reset(&a);
	gm_buf_reset(&b);
	memset(m, 0, sizeof(*m));
	m->a = a;
	m->b = b;
	m->list = list;
}

const char *gm_proto_type_name(unsigned type)
{
	switch (type) {
	case GM_PROTO_HELLO: return "HELLO";
	case GM_PROTO_ERROR: return "ERROR";
	case GM_PROTO_OK: return "OK";
	case GM_PROTO_STAT: return "STAT";
	case GM_PROTO_STAT_R: return "STAT_R";
	case GM_PROTO_LIST: return "LIST";
	case GM_PROTO_LIST_R: return "LIST_R";
	case GM_PROTO_HASH: return "HASH";
	case GM_PROTO_HASH_R: return "HASH_R";
	case GM_PROTO_XATTRS: return "XATTRS";
	case GM_PROTO_XATTRS_R: return "XATTRS_R";
	case GM_PROTO_SPACE: return "SPACE";
	case GM_PROTO_SPACE_R: return "SPACE_R";
	case GM_PROTO_OPEN_READ: return "OPEN_READ";
	case GM_PROTO_DATA: return "DATA";
	case GM_PROTO_HOLE: return "HOLE";
	case GM_PROTO_CHUNK: return "CHUNK";
	case GM_PROTO_END: return "END";
	case GM_PROTO_CANCEL: return "CANCEL";
	case GM_PROTO_OPEN_WRITE: return "OPEN_WRITE";
	case GM_PROTO_OPEN_WRITE_R: return "OPEN_WRITE_R";
	case GM_PROTO_COMMIT: return "COMMIT";
	case GM_PROTO_COMMIT_R: return "COMMIT_R";
	case GM_PROTO_ABORT: return "ABORT";
	case GM_PROTO_MKDIR: return "MKDIR";
	case GM_PROTO_SYMLINK: return "SYMLINK";
	case GM_PROTO_HARDLINK: return "HARDLINK";
	case GM_PROTO_REMOVE: return "REMOVE";
	case GM_PROTO_SET_META: return "SET_META";
	case GM_PROTO_SET_XATTRS: return "SET_XATTRS";
	case GM_PROTO_OPEN_PATCH: return "OPEN_PATCH";
	case GM_PROTO_PATCH: return "PATCH";
	case GM_PROTO_SIGNATURE: return "SIGNATURE";
	case GM_PROTO_SIGNATURE_R: return "SIGNATURE_R";
	}
	return "unknown";
}

/* ---- header ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void gm_proto_hdr_encode(const struct gm_proto_hdr *h, uint8_t out[GM_PROTO_HDR])
{
	put_le32(out, h->len);
	out[4] = h->type;
	out[5] = h->flags;
	put_le32(out + 6, h->id);
}

enum gm_rc gm_proto_hdr_decode(const uint8_t in[GM_PROTO_HDR], struct gm_proto_hdr *h,
                               struct gm_err *err)
{
	h->len = get_le32(in);
	h->type = in[4];
	h->flags = in[5];
	h->id = get_le32(in + 6);
	if (!strcmp(gm_proto_type_name(h->type), "unknown"))
		return gm_err_set(err, GM_ERR_PROTOCOL, "protocol error: unknown frame type %u",
		                  h->type);
	if (h->len > GM_PROTO_FRAME_MAX)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "protocol error: %s frame of %u bytes (the limit is %u)",
		                  gm_proto_type_name(h->type), h->len, GM_PROTO_FRAME_MAX);
	if (h->flags &
	    ~(unsigned)(GM_PROTO_F_ZSTD | GM_PROTO_F_MORE | GM_PROTO_F_KEEP | GM_PROTO_F_EOF))
		return gm_err_set(err, GM_ERR_PROTOCOL, "protocol error: unknown flags 0x%x",
		                  h->flags);
	return GM_OK;
}

/* ---- encoding ---- */

void gm_proto_put_u64(struct gm_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		uint8_t c = v & 0x7f;
		v >>= 7;
		tmp[n++] = (uint8_t)(c | (v ? 0x80 : 0));
	} while (v);
	gm_buf_add(b, tmp, n);
}

void gm_proto_put_i64(struct gm_buf *b, int64_t v)
{
	gm_proto_put_u64(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void gm_proto_put_bytes(struct gm_buf *b, const void *data, size_t len)
{
	gm_proto_put_u64(b, len);
	if (len)
		gm_buf_add(b, data, len);
}

static void put_str(struct gm_buf *b, const struct gm_buf *s)
{
	gm_proto_put_bytes(b, s->data, s->len);
}

void gm_proto_put_meta(struct gm_buf *b, const struct gm_sync_meta *m)
{
	gm_proto_put_u64(b, m->kind);
	gm_proto_put_u64(b, m->mode);
	gm_proto_put_u64(b, m->uid);
	gm_proto_put_u64(b, m->gid);
	gm_proto_put_u64(b, m->nlink);
	gm_proto_put_u64(b, m->size);
	gm_proto_put_u64(b, m->allocated);
	gm_proto_put_i64(b, m->mtime_ns);
	gm_proto_put_i64(b, m->ctime_ns);
	gm_proto_put_u64(b, m->dev);
	gm_proto_put_u64(b, m->ino);
}

static void put_hash(struct gm_buf *b, const struct gm_sync_hash *h)
{
	gm_buf_add(b, h->b, sizeof(h->b));
}

/* Reserves the header; finish_frame fills it in once the payload is known. */
static size_t start_frame(struct gm_buf *out)
{
	size_t at = out->len;
	static const uint8_t zero[GM_PROTO_HDR];
	gm_buf_add(out, zero, sizeof(zero));
	return at;
}

static void finish_frame(struct gm_buf *out, size_t at, uint8_t type, uint8_t flags, uint32_t id)
{
	struct gm_proto_hdr h = {(uint32_t)(out->len - at - GM_PROTO_HDR), type, flags, id};
	gm_proto_hdr_encode(&h, (uint8_t *)out->data + at);
}

void gm_proto_encode(const struct gm_proto_msg *m, struct gm_buf *out)
{
	size_t at = start_frame(out);
	switch (m->type) {
	case GM_PROTO_HELLO:
		gm_buf_add(out, GM_PROTO_MAGIC, 6);
		gm_proto_put_u64(out, m->num);
		put_str(out, &m->a);
		gm_proto_put_u64(out, m->caps);
		gm_proto_put_u64(out, m->features);
		gm_proto_put_u64(out, m->kind);
		gm_proto_put_u64(out, m->rc);
		put_str(out, &m->b);
		gm_proto_put_u64(out, m->has_hash);
		put_hash(out, &m->hash);
		break;
	case GM_PROTO_ERROR:
		gm_proto_put_u64(out, m->rc);
		put_str(out, &m->b);
		break;
	case GM_PROTO_OK:
	case GM_PROTO_SPACE:
	case GM_PROTO_CANCEL:
	case GM_PROTO_ABORT: break;
	case GM_PROTO_STAT:
	case GM_PROTO_LIST:
	case GM_PROTO_HASH:
	case GM_PROTO_XATTRS:
	case GM_PROTO_SIGNATURE:
	case GM_PROTO_REMOVE: put_str(out, &m->a); break;
	case GM_PROTO_SIGNATURE_R:
		gm_proto_put_meta(out, &m->meta);
		put_str(out, &m->b);
		break;
	case GM_PROTO_OPEN_PATCH:
		put_str(out, &m->a);
		gm_proto_put_meta(out, &m->meta);
		gm_proto_put_meta(out, &m->basis);
		gm_proto_put_u64(out, m->num);
		break;
	case GM_PROTO_STAT_R:
		gm_proto_put_meta(out, &m->meta);
		gm_proto_put_u64(out, m->has_b);
		put_str(out, &m->b);
		break;
	case GM_PROTO_HASH_R:
		put_hash(out, &m->hash);
		gm_proto_put_meta(out, &m->meta);
		break;
	case GM_PROTO_XATTRS_R: put_str(out, &m->b); break;
	case GM_PROTO_SPACE_R:
	case GM_PROTO_HOLE:
	case GM_PROTO_OPEN_WRITE_R: gm_proto_put_u64(out, m->num); break;
	case GM_PROTO_OPEN_READ:
		put_str(out, &m->a);
		gm_proto_put_u64(out, m->num);
		break;
	case GM_PROTO_DATA:
	case GM_PROTO_PATCH: gm_buf_add(out, m->data, m->data_len); break;
	case GM_PROTO_CHUNK:
	case GM_PROTO_COMMIT_R: put_hash(out, &m->hash); break;
	case GM_PROTO_END:
		put_hash(out, &m->hash);
		gm_proto_put_u64(out, m->whole_valid);
		gm_proto_put_u64(out, m->changed);
		gm_proto_put_meta(out, &m->meta);
		break;
	case GM_PROTO_OPEN_WRITE:
	case GM_PROTO_SET_META:
		put_str(out, &m->a);
		gm_proto_put_meta(out, &m->meta);
		gm_proto_put_u64(out, m->num);
		break;
	case GM_PROTO_COMMIT:
		gm_proto_put_u64(out, m->num);
		gm_proto_put_u64(out, m->has_hash);
		put_hash(out, &m->hash);
		gm_proto_put_meta(out, &m->meta);
		gm_proto_put_u64(out, m->has_b);
		put_str(out, &m->b);
		break;
	case GM_PROTO_SET_XATTRS:
		put_str(out, &m->a);
		put_str(out, &m->b);
		break;
	case GM_PROTO_MKDIR:
		put_str(out, &m->a);
		gm_proto_put_meta(out, &m->meta);
		break;
	case GM_PROTO_SYMLINK:
		put_str(out, &m->a);
		put_str(out, &m->b);
		gm_proto_put_meta(out, &m->meta);
		break;
	case GM_PROTO_HARDLINK:
		put_str(out, &m->a);
		put_str(out, &m->b);
		break;
	}
	finish_frame(out, at, m->type, m->flags, m->id);
}

/* The encoded size of an entry is at most this much beyond its name and link. */
#define ENTRY_OVERHEAD 128

void gm_proto_encode_list(uint32_t id, const struct gm_sync_list *l, size_t *next,
                          struct gm_buf *out)
{
	size_t at = start_frame(out), count_at, i = *next, n = 0;
	uint8_t count[5];
	/* the count is written as a fixed 5-byte varint so it can be filled in afterwards */
	count_at = out->len;
	gm_buf_add(out, "\0\0\0\0\0", 5);
	while (i < l->n && n < GM_PROTO_LIST_MAX) {
		const struct gm_sync_entry *e = &l->v[i];
		size_t link_len = e->link ? strlen(e->link) : 0;
		if (n &&
		    out->len - at + e->name_len + link_len + ENTRY_OVERHEAD > GM_PROTO_FRAME_MAX)
			break;
		gm_proto_put_bytes(out, e->name, e->name_len);
		gm_proto_put_u64(out, e->link != NULL);
		gm_proto_put_bytes(out, e->link, link_len);
		gm_proto_put_meta(out, &e->meta);
		i++;
		n++;
	}
	for (int k = 0; k < 5; k++)
		count[k] = (uint8_t)(((n >> (7 * k)) & 0x7f) | (k < 4 ? 0x80 : 0));
	memcpy(out->data + count_at, count, 5);
	*next = i;
	finish_frame(out, at, GM_PROTO_LIST_R, i < l->n ? GM_PROTO_F_MORE : 0, id);
}

static void encode_raw(uint8_t type, uint8_t flags, uint32_t id, const void *data, size_t len,
                       void *zctx, struct gm_buf *out)
{
	size_t at = start_frame(out);
	if (zctx && len >= 64) {
		size_t bound = ZSTD_compressBound(len);
		gm_buf_grow(out, bound);
		size_t z = ZSTD_compress2(zctx, out->data + out->len, bound, data, len);
		if (!ZSTD_isError(z) && z < len) {
			out->len += z;
			out->data[out->len] = '\0';
			flags |= GM_PROTO_F_ZSTD;
		}
	}
	if (!(flags & GM_PROTO_F_ZSTD))
		gm_buf_add(out, data, len);
	finish_frame(out, at, type, flags, id);
}

void gm_proto_encode_data(uint32_t id, const void *data, size_t len, void *zctx, struct gm_buf *out)
{
	encode_raw(GM_PROTO_DATA, 0, id, data, len, zctx, out);
}

void gm_proto_encode_patch(uint32_t id, const void *data, size_t len, bool eof, void *zctx,
                           struct gm_buf *out)
{
	encode_raw(GM_PROTO_PATCH, eof ? GM_PROTO_F_EOF : 0, id, data, len, zctx, out);
}

void gm_proto_encode_signature(uint32_t id, const struct gm_sync_meta *basis, const void *sig,
                               size_t len, size_t *next, struct gm_buf *out)
{
	size_t at = start_frame(out);
	size_t from = *next < len ? *next : len;
	size_t n = len - from < GM_PROTO_SIG_PART ? len - from : GM_PROTO_SIG_PART;
	gm_proto_put_meta(out, basis);
	gm_proto_put_bytes(out, (const uint8_t *)sig + from, n);
	*next = from + n;
	finish_frame(out, at, GM_PROTO_SIGNATURE_R, *next < len ? GM_PROTO_F_MORE : 0, id);
}

/* ---- decoding ---- */

struct cursor {
	const uint8_t *p;
	size_t left;
	bool bad;
	const char *what; /* the first field that was wrong */
};

static void fail(struct cursor *c, const char *what)
{
	if (!c->bad)
		c->what = what;
	c->bad = true;
	c->left = 0;
}

static uint64_t get_u64(struct cursor *c, const char *what)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (!c->left) {
			fail(c, what);
			return 0;
		}
		uint8_t b = *c->p++;
		c->left--;
		if (shift == 63 && (b & 0x7e)) {
			fail(c, what);
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	fail(c, what);
	return 0;
}

static uint64_t get_max(struct cursor *c, uint64_t max, const char *what)
{
	uint64_t v = get_u64(c, what);
	if (v > max)
		fail(c, what);
	return c->bad ? 0 : v;
}

static bool get_bool(struct cursor *c, const char *what)
{
	return get_max(c, 1, what) != 0;
}

static int64_t get_i64(struct cursor *c, const char *what)
{
	uint64_t v = get_u64(c, what);
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* A length-prefixed byte string of at most max bytes, pointing into the payload. */
static const uint8_t *get_bytes(struct cursor *c, size_t max, size_t *len, const char *what)
{
	uint64_t n = get_u64(c, what);
	if (c->bad || n > max || n > c->left) {
		fail(c, what);
		*len = 0;
		return NULL;
	}
	const uint8_t *p = c->p;
	c->p += n;
	c->left -= (size_t)n;
	*len = (size_t)n;
	return p;
}

/* A length-prefixed blob of at most max bytes, appended to out. */
static void get_blob(struct cursor *c, size_t max, struct gm_buf *out, const char *what)
{
	size_t n;
	const uint8_t *p = get_bytes(c, max, &n, what);
	if (!c->bad)
		gm_buf_add(out, p, n);
}

/* Text without NUL (messages, versions, link targets) into out. */
static void get_text(struct cursor *c, size_t max, struct gm_buf *out, const char *what)
{
	size_t n;
	const uint8_t *p = get_bytes(c, max, &n, what);
	if (c->bad)
		return;
	if (memchr(p, '\0', n)) {
		fail(c, what);
		return;
	}
	gm_buf_reset(out);
	gm_buf_add(out, p, n);
}

/* A relative path ("" allowed only when root_ok). */
static void get_path(struct cursor *c, bool root_ok, struct gm_buf *out, const char *what)
{
	size_t n;
	const uint8_t *p = get_bytes(c, GM_SYNC_PATH_MAX, &n, what);
	if (c->bad)
		return;
	if (n == 0 ? !root_ok : (memchr(p, '\0', n) || !gm_sync_path_check((const char *)p, n))) {
		fail(c, what);
		return;
	}
	gm_buf_reset(out);
	gm_buf_add(out, p, n);
}

static void get_meta(struct cursor *c, struct gm_sync_meta *m)
{
	m->kind = (enum gm_sync_kind)get_max(c, GM_SYNC_SPECIAL, "meta kind");
	m->mode = (uint32_t)get_max(c, 07777, "meta mode");
	m->uid = (uint32_t)get_max(c, UINT32_MAX, "meta uid");
	m->gid = (uint32_t)get_max(c, UINT32_MAX, "meta gid");
	m->nlink = (uint32_t)get_max(c, UINT32_MAX, "meta nlink");
	m->size = get_u64(c, "meta size");
	m->allocated = get_u64(c, "meta allocated");
	m->mtime_ns = get_i64(c, "meta mtime");
	m->ctime_ns = get_i64(c, "meta ctime");
	m->dev = get_u64(c, "meta dev");
	m->ino = get_u64(c, "meta ino");
}

static void get_hash(struct cursor *c, struct gm_sync_hash *h)
{
	if (c->left < sizeof(h->b)) {
		fail(c, "hash");
		return;
	}
	memcpy(h->b, c->p, sizeof(h->b));
	c->p += sizeof(h->b);
	c->left -= sizeof(h->b);
}

static bool name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > GM_SYNC_NAME_MAX || memchr(p, '/', n) || memchr(p, '\0', n))
		return false;
	return !(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.');
}

static void get_entries(struct cursor *c, struct gm_sync_list *list)
{
	uint64_t n = get_max(c, GM_PROTO_LIST_MAX, "entry count");
	for (uint64_t i = 0; i < n && !c->bad; i++) {
		size_t name_len, link_len;
		const uint8_t *name = get_bytes(c, GM_SYNC_NAME_MAX, &name_len, "entry name");
		if (!c->bad && !name_ok(name, name_len))
			fail(c, "entry name");
		bool has_link = get_bool(c, "entry link");
		const uint8_t *link = get_bytes(c, GM_SYNC_PATH_MAX, &link_len, "entry link");
		if (!c->bad && (memchr(link, '\0', link_len) || (!has_link && link_len)))
			fail(c, "entry link");
		struct gm_sync_meta meta;
		get_meta(c, &meta);
		if (!c->bad &&
		    (meta.kind == GM_SYNC_NONE || has_link != (meta.kind == GM_SYNC_SYMLINK)))
			fail(c, "entry link");
		if (c->bad)
			return;
		if (list)
			gm_sync_list_add(list, (const char *)name, name_len,
			                 has_link ? (const char *)link : NULL, link_len, &meta);
	}
}

static enum gm_rc check_rc(struct cursor *c, uint64_t rc)
{
	if (rc > GM_ERR_INTERRUPTED)
		fail(c, "rc");
	return (enum gm_rc)rc;
}

enum gm_rc gm_proto_decode(const struct gm_proto_hdr *h, const uint8_t *payload,
                           struct gm_proto_msg *m, struct gm_err *err)
{
	struct cursor cur = {payload, h->len, false, NULL};
	struct cursor *c = &cur;

	gm_proto_msg_reset(m);
	m->type = h->type;
	m->flags = h->flags;
	m->id = h->id;
	bool raw = h->type == GM_PROTO_DATA || h->type == GM_PROTO_PATCH;
	if ((h->flags & GM_PROTO_F_ZSTD) && !raw)
		fail(c, "flags");
	if ((h->flags & GM_PROTO_F_MORE) && h->type != GM_PROTO_LIST_R &&
	    h->type != GM_PROTO_SIGNATURE_R)
		fail(c, "flags");
	if ((h->flags & GM_PROTO_F_KEEP) && h->type != GM_PROTO_ABORT)
		fail(c, "flags");
	if ((h->flags & GM_PROTO_F_EOF) && h->type != GM_PROTO_PATCH)
		fail(c, "flags");
	switch (c->bad ? 0 : h->type) {
	case GM_PROTO_HELLO:
		if (c->left < 6 || memcmp(c->p, GM_PROTO_MAGIC, 6) != 0) {
			fail(c, "magic");
			break;
		}
		c->p += 6;
		c->left -= 6;
		m->num = get_u64(c, "version");
		get_text(c, GM_PROTO_TEXT_MAX, &m->a, "program version");
		m->caps = (unsigned)get_max(c, UINT32_MAX, "caps");
		m->features = (unsigned)get_max(c, UINT32_MAX, "features");
		m->kind = (enum gm_sync_kind)get_max(c, GM_SYNC_SPECIAL, "root kind");
		m->rc = check_rc(c, get_u64(c, "rc"));
		get_text(c, GM_PROTO_TEXT_MAX, &m->b, "message");
		m->has_hash = get_bool(c, "has token");
		get_hash(c, &m->hash);
		break;
	case GM_PROTO_ERROR:
		m->rc = check_rc(c, get_u64(c, "rc"));
		if (m->rc == GM_OK)
			fail(c, "rc");
		get_text(c, GM_PROTO_TEXT_MAX, &m->b, "message");
		break;
	case GM_PROTO_OK:
	case GM_PROTO_SPACE:
	case GM_PROTO_CANCEL:
	case GM_PROTO_ABORT: break;
	case GM_PROTO_STAT:
	case GM_PROTO_LIST:
	case GM_PROTO_HASH:
	case GM_PROTO_XATTRS: get_path(c, true, &m->a, "path"); break;
	case GM_PROTO_SIGNATURE: get_path(c, false, &m->a, "path"); break;
	case GM_PROTO_SIGNATURE_R:
		get_meta(c, &m->meta);
		get_blob(c, GM_PROTO_SIG_PART, &m->b, "signature");
		break;
	case GM_PROTO_OPEN_PATCH:
		get_path(c, false, &m->a, "path");
		get_meta(c, &m->meta);
		get_meta(c, &m->basis);
		m->num = get_max(c, UINT32_MAX, "flags");
		break;
	case GM_PROTO_REMOVE: get_path(c, false, &m->a, "path"); break;
	case GM_PROTO_STAT_R:
		get_meta(c, &m->meta);
		m->has_b = get_bool(c, "has link");
		get_text(c, GM_SYNC_PATH_MAX, &m->b, "link");
		if (!c->bad && !m->has_b && m->b.len)
			fail(c, "link");
		break;
	case GM_PROTO_LIST_R: get_entries(c, m->list); break;
	case GM_PROTO_HASH_R:
		get_hash(c, &m->hash);
		get_meta(c, &m->meta);
		break;
	case GM_PROTO_XATTRS_R: get_blob(c, GM_SYNC_XATTRS_MAX, &m->b, "xattrs"); break;
	case GM_PROTO_SPACE_R:
	case GM_PROTO_OPEN_WRITE_R: m->num = get_u64(c, "number"); break;
	case GM_PROTO_HOLE:
		m->num = get_u64(c, "hole length");
		if (m->num == 0 || m->num > GM_SYNC_CHUNK)
			fail(c, "hole length");
		break;
	case GM_PROTO_OPEN_READ:
		get_path(c, false, &m->a, "path");
		m->num = get_u64(c, "offset");
		if (m->num % GM_SYNC_CHUNK)
			fail(c, "offset");
		break;
	case GM_PROTO_DATA:
	case GM_PROTO_PATCH:
		if (h->flags & GM_PROTO_F_ZSTD) {
			fail(c, "compressed data");
			break;
		}
		if (c->left > GM_PROTO_DATA_MAX) {
			fail(c, "data length");
			break;
		}
		m->data = c->p;
		m->data_len = c->left;
		c->left = 0;
		break;
	case GM_PROTO_CHUNK:
	case GM_PROTO_COMMIT_R: get_hash(c, &m->hash); break;
	case GM_PROTO_END:
		get_hash(c, &m->hash);
		m->whole_valid = get_bool(c, "whole valid");
		m->changed = get_bool(c, "changed");
		get_meta(c, &m->meta);
		break;
	case GM_PROTO_OPEN_WRITE:
	case GM_PROTO_SET_META:
		get_path(c, h->type == GM_PROTO_SET_META, &m->a, "path");
		get_meta(c, &m->meta);
		m->num = get_max(c, UINT32_MAX, "flags");
		break;
	case GM_PROTO_COMMIT:
		m->num = get_max(c, UINT32_MAX, "stream");
		m->has_hash = get_bool(c, "has hash");
		get_hash(c, &m->hash);
		get_meta(c, &m->meta);
		m->has_b = get_bool(c, "has xattrs");
		get_blob(c, GM_SYNC_XATTRS_MAX, &m->b, "xattrs");
		if (!c->bad && !m->has_b && m->b.len)
			fail(c, "xattrs"); /* the frame is refused whole */
		break;
	case GM_PROTO_SET_XATTRS: {
		get_path(c, true, &m->a, "path");
		get_blob(c, GM_SYNC_XATTRS_MAX, &m->b, "xattrs");
		/* the records too: a set to apply must be one (no overrun, empty or twice-named) */
		struct gm_sync_xattr *v = NULL;
		size_t n = 0;
		if (!c->bad && gm_sync_xattrs_parse(m->b.data, m->b.len, "", &v, &n, NULL) != GM_OK)
			fail(c, "xattrs");
		free(v);
		break;
	}
	case GM_PROTO_MKDIR:
		get_path(c, false, &m->a, "path");
		get_meta(c, &m->meta);
		break;
	case GM_PROTO_SYMLINK:
		get_path(c, false, &m->a, "path");
		get_text(c, GM_SYNC_PATH_MAX, &m->b, "target");
		if (!c->bad && m->b.len == 0)
			fail(c, "target");
		get_meta(c, &m->meta);
		break;
	case GM_PROTO_HARDLINK:
		get_path(c, false, &m->a, "existing path");
		get_path(c, false, &m->b, "path");
		break;
	default: fail(c, "type"); break;
	}
	if (!c->bad && c->left)
		fail(c, "trailing bytes");
	if (c->bad)
		return gm_err_set(err, GM_ERR_PROTOCOL, "protocol error: bad %s in a %s frame",
		                  c->what ? c->what : "field", gm_proto_type_name(h->type));
	return GM_OK;
}

enum gm_rc gm_proto_unzstd(void *dctx, const uint8_t *payload, size_t len, struct gm_buf *out,
                           struct gm_err *err)
{
	gm_buf_reset(out);
	unsigned long long size = ZSTD_getFrameContentSize(payload, len);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
	    size > GM_PROTO_DATA_MAX)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "protocol error: bad compressed DATA frame");
	gm_buf_grow(out, (size_t)size);
	size_t z = ZSTD_decompressDCtx(dctx, out->data, (size_t)size, payload, len);
	if (ZSTD_isError(z) || z != size)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "protocol error: compressed DATA frame does not expand");
	out->len = z;
	out->data[z] = '\0';
	return GM_OK;
}

/* ---- I/O ---- */

/* One read() into buf (retrying EINTR): *got bytes, at least one; the end of input and
 * read errors are GM_ERR_UNREACHABLE. */
static enum gm_rc read_some(int fd, void *buf, size_t len, size_t *got, struct gm_err *err)
{
	for (;;) {
		ssize_t r = read(fd, buf, len);
		if (r > 0) {
			*got = (size_t)r;
			return GM_OK;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return gm_err_set(err, GM_ERR_UNREACHABLE, "the connection was closed");
		return gm_err_errno(err, GM_ERR_UNREACHABLE, errno,
		                    "cannot read from the connection");
	}
}

static enum gm_rc read_exact(int fd, void *buf, size_t len, struct gm_err *err)
{
	for (size_t got = 0, n = 0; got < len; got += n) {
		enum gm_rc rc = read_some(fd, (char *)buf + got, len - got, &n, err);
		if (rc)
			return rc;
	}
	return GM_OK;
}

void gm_proto_in_init(struct gm_proto_in *in, int fd)
{
	in->fd = fd;
	in->buf = gm_xmalloc(GM_PROTO_IN_BUF);
	in->start = in->end = 0;
}

void gm_proto_in_release(struct gm_proto_in *in)
{
	free(in->buf);
	in->buf = NULL;
	in->start = in->end = 0;
}

/* One read() into the buffer's free space, after moving what is unread to its start. */
static enum gm_rc in_fill(struct gm_proto_in *in, struct gm_err *err)
{
	if (in->start) {
		memmove(in->buf, in->buf + in->start, in->end - in->start);
		in->end -= in->start;
		in->start = 0;
	}
	size_t n = 0;
	enum gm_rc rc = read_some(in->fd, in->buf + in->end, GM_PROTO_IN_BUF - in->end, &n, err);
	in->end += n;
	return rc;
}

bool gm_proto_in_ready(const struct gm_proto_in *in)
{
	size_t have = in->end - in->start;
	if (have < GM_PROTO_HDR)
		return false;
	const uint8_t *p = in->buf + in->start;
	uint32_t len =
	        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return have - GM_PROTO_HDR >= len;
}

enum gm_rc gm_proto_in_frame(struct gm_proto_in *in, struct gm_proto_hdr *h, struct gm_buf *payload,
                             struct gm_err *err)
{
	enum gm_rc rc;
	while (in->end - in->start < GM_PROTO_HDR)
		if ((rc = in_fill(in, err)) != GM_OK)
			return rc;
	rc = gm_proto_hdr_decode(in->buf + in->start, h, err);
	if (rc)
		return rc;
	in->start += GM_PROTO_HDR;
	gm_buf_reset(payload);
	gm_buf_grow(payload, h->len);
	/* what the buffer holds, then the rest straight into the payload */
	size_t have = in->end - in->start, take = have < h->len ? have : h->len;
	memcpy(payload->data, in->buf + in->start, take);
	in->start += take;
	if (take < h->len &&
	    (rc = read_exact(in->fd, payload->data + take, h->len - take, err)) != GM_OK)
		return rc;
	payload->len = h->len;
	payload->data[h->len] = '\0';
	return GM_OK;
}

enum gm_rc gm_proto_write_all(int fd, const void *data, size_t len, struct gm_err *err)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return gm_err_errno(err, GM_ERR_UNREACHABLE, w < 0 ? errno : EPIPE,
			                    "cannot write to the connection");
		p += w;
		len -= (size_t)w;
	}
	return GM_OK;
}

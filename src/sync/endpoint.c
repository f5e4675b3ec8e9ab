/* What every transport shares: directory listings with stable name storage, the path rules,
 * xattr blobs read as sets of records (parsed, sorted, compared), the XXH3-128 hasher, and
 * opening an endpoint from the name a user typed. */
#include "sync/endpoint.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/xalloc.h"

#include "util/fs.h"

#include "util/banned.h"

/* Name storage: blocks that never move once allocated. */
struct gm_sync_list_block {
	struct gm_sync_list_block *next;
	size_t used, cap;
	char data[];
};

enum { LIST_BLOCK_MIN = 16384 };

void gm_sync_list_init(struct gm_sync_list *l)
{
	memset(l, 0, sizeof(*l));
}

void gm_sync_list_release(struct gm_sync_list *l)
{
	if (!l)
		return;
	struct gm_sync_list_block *b = l->blocks;
	while (b) {
		struct gm_sync_list_block *next = b->next;
		free(b);
		b = next;
	}
	free(l->v);
	gm_sync_list_init(l);
}

void gm_sync_list_reset(struct gm_sync_list *l)
{
	l->n = 0;
	/* Keep the first block (the most recent one) and free the rest. */
	if (!l->blocks)
		return;
	struct gm_sync_list_block *b = l->blocks->next;
	while (b) {
		struct gm_sync_list_block *next = b->next;
		free(b);
		b = next;
	}
	l->blocks->next = NULL;
	l->blocks->used = 0;
}

static char *list_store(struct gm_sync_list *l, const char *s, size_t len)
{
	size_t need = len + 1;
	struct gm_sync_list_block *b = l->blocks;
	if (!b || b->cap - b->used < need) {
		size_t cap = need > LIST_BLOCK_MIN ? need : LIST_BLOCK_MIN;
		b = gm_xmalloc(sizeof(*b) + cap);
		b->cap = cap;
		b->used = 0;
		b->next = l->blocks;
		l->blocks = b;
	}
	char *p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = '\0';
	b->used += need;
	return p;
}

struct gm_sync_entry *gm_sync_list_add(struct gm_sync_list *l, const char *name, size_t name_len,
                                       const char *link, size_t link_len,
                                       const struct gm_sync_meta *meta)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = gm_xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	struct gm_sync_entry *e = &l->v[l->n++];
	e->name = list_store(l, name, name_len);
	e->name_len = name_len;
	e->link = link ? list_store(l, link, link_len) : NULL;
	e->meta = *meta;
	return e;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct gm_sync_entry *x = a, *y = b;
	return strcmp(x->name, y->name);
}

void gm_sync_list_sort(struct gm_sync_list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
}

const struct gm_sync_entry *gm_sync_list_find(const struct gm_sync_list *l, const char *name,
                                              size_t name_len)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gm_sync_entry *e = &l->v[mid];
		size_t common = e->name_len < name_len ? e->name_len : name_len;
		int c = memcmp(e->name, name, common);
		if (c == 0)
			c = e->name_len < name_len ? -1 : e->name_len > name_len;
		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool gm_sync_path_check(const char *path, size_t len)
{
	if (len == 0)
		return true; /* the root */
	if (len > GM_SYNC_PATH_MAX || path[0] == '/' || memchr(path, '\0', len))
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		size_t n = i - start;
		const char *c = path + start;
		if (n == 0 || n > GM_SYNC_NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

void gm_sync_path_join(struct gm_buf *out, const char *dir, const char *name, size_t name_len)
{
	gm_buf_reset(out);
	if (dir && dir[0]) {
		gm_buf_adds(out, dir);
		gm_buf_addch(out, '/');
	}
	gm_buf_add(out, name, name_len);
}

/* ---- xattr blobs ---- */

static uint32_t xa_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int xattr_cmp_name(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int xattr_cmp(const void *a, const void *b)
{
	const struct gm_sync_xattr *x = a, *y = b;
	return xattr_cmp_name(x->name, x->name_len, y->name, y->name_len);
}

enum gm_rc gm_sync_xattrs_parse(const void *blob, size_t len, const char *what,
                                struct gm_sync_xattr **out, size_t *n, struct gm_err *err)
{
	const unsigned char *p = blob;
	size_t left = len, count = 0, cap = 0;
	struct gm_sync_xattr *v = NULL;
	*out = NULL;
	*n = 0;
	while (left > 0) {
		if (left < 4 || xa_le32(p) > left - 4 || xa_le32(p) == 0)
			goto bad;
		size_t nl = xa_le32(p);
		const char *name = (const char *)p + 4;
		if (memchr(name, '\0', nl))
			goto bad;
		p += 4 + nl;
		left -= 4 + nl;
		if (left < 4 || xa_le32(p) > left - 4)
			goto bad;
		size_t vl = xa_le32(p);
		if (count == cap) {
			cap = cap ? 2 * cap : 8;
			v = gm_xreallocarray(v, cap, sizeof(*v));
		}
		v[count++] = (struct gm_sync_xattr){name, nl, p + 4, vl};
		p += 4 + vl;
		left -= 4 + vl;
	}
	if (count > 1)
		qsort(v, count, sizeof(*v), xattr_cmp);
	for (size_t i = 1; i < count; i++)
		if (xattr_cmp(&v[i - 1], &v[i]) == 0)
			goto bad;
	*out = v;
	*n = count;
	return GM_OK;
bad:
	free(v);
	return gm_err_set(err, GM_ERR_PARSE, "the xattrs of '%s' are malformed", what);
}

const struct gm_sync_xattr *gm_sync_xattrs_find(const struct gm_sync_xattr *v, size_t n,
                                                const char *name, size_t name_len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = xattr_cmp_name(v[mid].name, v[mid].name_len, name, name_len);
		if (c == 0)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void xa_put_le32(struct gm_buf *b, size_t v)
{
	unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	gm_buf_add(b, p, 4);
}

void gm_sync_xattrs_put(struct gm_buf *out, const struct gm_sync_xattr *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		xa_put_le32(out, v[i].name_len);
		gm_buf_add(out, v[i].name, v[i].name_len);
		xa_put_le32(out, v[i].value_len);
		gm_buf_add(out, v[i].value, v[i].value_len);
	}
}

bool gm_sync_xattr_local_only(const char *name, size_t len)
{
	static const char selinux[] = "security.selinux";
	return len == sizeof(selinux) - 1 && memcmp(name, selinux, len) == 0;
}

/* Whether every record of v has its twin in w; local_ok: records gm_sync_xattr_local_only
 * names need none. */
static bool xattrs_within(const struct gm_sync_xattr *v, size_t n, const struct gm_sync_xattr *w,
                          size_t nw, bool local_ok)
{
	for (size_t i = 0; i < n; i++) {
		const struct gm_sync_xattr *t =
		        gm_sync_xattrs_find(w, nw, v[i].name, v[i].name_len);
		if (!t && local_ok && gm_sync_xattr_local_only(v[i].name, v[i].name_len))
			continue;
		if (!t || t->value_len != v[i].value_len ||
		    (t->value_len && memcmp(t->value, v[i].value, t->value_len) != 0))
			return false;
	}
	return true;
}

bool gm_sync_xattrs_same(const void *src, size_t slen, const void *dst, size_t dlen)
{
	struct gm_sync_xattr *vs = NULL, *vd = NULL;
	size_t ns = 0, nd = 0;
	bool same = gm_sync_xattrs_parse(src, slen, "", &vs, &ns, NULL) == GM_OK &&
	            gm_sync_xattrs_parse(dst, dlen, "", &vd, &nd, NULL) == GM_OK &&
	            xattrs_within(vs, ns, vd, nd, false) && xattrs_within(vd, nd, vs, ns, true);
	free(vs);
	free(vd);
	return same;
}

void gm_sync_hasher_init(struct gm_sync_hasher *h)
{
	h->state = XXH3_createState();
	if (!h->state)
		gm_xalloc_fail();
	XXH3_128bits_reset(h->state);
}

void gm_sync_hasher_reset(struct gm_sync_hasher *h)
{
	XXH3_128bits_reset(h->state);
}

void gm_sync_hasher_update(struct gm_sync_hasher *h, const void *data, size_t len)
{
	XXH3_128bits_update(h->state, data, len);
}

void gm_sync_hasher_zeros(struct gm_sync_hasher *h, uint64_t len)
{
	static const uint8_t zeros[65536];
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		XXH3_128bits_update(h->state, zeros, n);
		len -= n;
	}
}

static void hash_store(XXH128_hash_t v, struct gm_sync_hash *out)
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, v);
	memcpy(out->b, c.digest, sizeof(out->b));
}

void gm_sync_hasher_digest(const struct gm_sync_hasher *h, struct gm_sync_hash *out)
{
	hash_store(XXH3_128bits_digest(h->state), out);
}

void gm_sync_hasher_release(struct gm_sync_hasher *h)
{
	if (!h || !h->state)
		return;
	XXH3_freeState(h->state);
	h->state = NULL;
}

void gm_sync_hash_buf(const void *data, size_t len, struct gm_sync_hash *out)
{
	hash_store(XXH3_128bits(data, len), out);
}

void gm_sync_hash_hex(const struct gm_sync_hash *h, char out[33])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(h->b); i++) {
		out[2 * i] = digits[h->b[i] >> 4];
		out[2 * i + 1] = digits[h->b[i] & 15];
	}
	out[32] = '\0';
}

bool gm_sync_hash_from_hex(const char *hex, size_t len, struct gm_sync_hash *out)
{
	if (len != 2 * sizeof(out->b))
		return false;
	for (size_t i = 0; i < sizeof(out->b); i++) {
		int a = gm_hex_digit(hex[2 * i]), b = gm_hex_digit(hex[2 * i + 1]);
		if (a < 0 || b < 0)
			return false;
		out->b[i] = (uint8_t)(a << 4 | b);
	}
	return true;
}

bool gm_sync_hash_equal(const struct gm_sync_hash *a, const struct gm_sync_hash *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

void gm_sync_endpoint_close(struct gm_sync_endpoint *ep)
{
	if (ep)
		ep->ops->close(ep);
}

void gm_sync_endpoint_where(const struct gm_sync_endpoint *ep, const char *path, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_add(out, ep->where.data, ep->where.len);
	if (path && path[0]) {
		if (out->len && out->data[out->len - 1] != '/' && out->data[out->len - 1] != ':')
			gm_buf_addch(out, '/');
		gm_buf_adds(out, path);
	}
}

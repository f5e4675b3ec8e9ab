/* What every transport shares: directory listings with stable name storage, the path rules,
 * the XXH3-128 hasher, and opening an endpoint from the name a user typed. */
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

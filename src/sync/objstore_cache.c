/* What a listing learned of each file of an object store (size, ETag, metadata, checksums),
 * kept until the engine opens that file for reading, so copying from a store costs one GET
 * per small file instead of a HEAD and a GET. Bounded: past GM_OBJ_CACHE_MAX entries nothing
 * more is kept, and a file not found here is simply HEADed. An entry is taken (removed) when
 * used; a stale one is caught by the GET's If-Match on its ETag. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "sync/objstore_impl.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define BUCKETS 16384

struct gm_obj_cache_ent {
	struct gm_obj_cache_ent *next;
	char *path;
	struct gm_os_object obj;
};

void gm_obj_cache_init(struct gm_obj_cache *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
}

static void ent_free(struct gm_obj_cache_ent *e)
{
	free(e->path);
	gm_os_object_release(&e->obj);
	free(e);
}

void gm_obj_cache_release(struct gm_obj_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->buckets && i < BUCKETS; i++)
		while (c->buckets[i]) {
			struct gm_obj_cache_ent *e = c->buckets[i];
			c->buckets[i] = e->next;
			ent_free(e);
		}
	free(c->buckets);
	c->buckets = NULL;
	c->n = 0;
	pthread_mutex_destroy(&c->mu);
}

static struct gm_obj_cache_ent **slot_of(struct gm_obj_cache *c, const char *path)
{
	struct gm_obj_cache_ent **p = &c->buckets[XXH3_64bits(path, strlen(path)) % BUCKETS];
	while (*p && strcmp((*p)->path, path) != 0)
		p = &(*p)->next;
	return p;
}

static void copy_object(struct gm_os_object *to, const struct gm_os_object *from)
{
	struct gm_buf key = to->key, etag = to->etag, meta = to->meta;
	*to = *from;
	to->key = key, to->etag = etag, to->meta = meta;
	gm_buf_reset(&to->key);
	gm_buf_reset(&to->etag);
	gm_buf_reset(&to->meta);
	gm_buf_add(&to->key, from->key.data ? from->key.data : "", from->key.len);
	gm_buf_add(&to->etag, from->etag.data ? from->etag.data : "", from->etag.len);
	gm_buf_add(&to->meta, from->meta.data ? from->meta.data : "", from->meta.len);
	gm_buf_grow(&to->key, 0);
	gm_buf_grow(&to->etag, 0);
}

void gm_obj_cache_put(struct gm_obj_cache *c, const char *path, const struct gm_os_object *o)
{
	pthread_mutex_lock(&c->mu);
	if (!c->buckets)
		c->buckets = gm_xcalloc(BUCKETS, sizeof(struct gm_obj_cache_ent *));
	struct gm_obj_cache_ent **p = slot_of(c, path);
	if (!*p && c->n < GM_OBJ_CACHE_MAX) {
		*p = gm_xcalloc(1, sizeof(**p));
		(*p)->path = gm_xstrdup(path);
		gm_os_object_init(&(*p)->obj);
		c->n++;
	}
	if (*p)
		copy_object(&(*p)->obj, o);
	pthread_mutex_unlock(&c->mu);
}

bool gm_obj_cache_take(struct gm_obj_cache *c, const char *path, struct gm_os_object *out)
{
	bool found = false;
	pthread_mutex_lock(&c->mu);
	struct gm_obj_cache_ent **p = c->buckets ? slot_of(c, path) : NULL;
	if (p && *p) {
		struct gm_obj_cache_ent *e = *p;
		*p = e->next;
		c->n--;
		copy_object(out, &e->obj);
		ent_free(e);
		found = true;
	}
	pthread_mutex_unlock(&c->mu);
	return found;
}

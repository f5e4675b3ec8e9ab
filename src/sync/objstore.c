/* The sync endpoint over an object store: the tree half. A directory listing is one store
 * listing of "prefix/dir/" folded at '/'. Where the store's listing carries no user metadata
 * (S3), a non-empty object is a file whose mode and mtime stay unknown (meta.partial) until
 * the engine needs them and stats it, so a copy into an empty destination costs no request
 * per file beyond its GET; empty objects (symlinks, empty files) and directory markers are
 * HEADed side by side while listing, as only their metadata tells what they are. Reading and
 * writing files is objstore_io.c. */
#include "sync/objstore.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/objstore_impl.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* HEAD requests one listing makes at once. */
#define HEAD_PARALLEL 16

static struct gm_obj_ep *ep_of(struct gm_sync_endpoint *e)
{
	return (struct gm_obj_ep *)e;
}

void gm_obj_key(const struct gm_obj_ep *ep, const char *path, bool marker, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_add(out, ep->prefix.data ? ep->prefix.data : "", ep->prefix.len);
	gm_buf_adds(out, path);
	if (marker && path[0])
		gm_buf_addch(out, '/');
	gm_buf_grow(out, 0);
}

enum gm_rc gm_obj_key_check(const struct gm_obj_ep *ep, const char *path, struct gm_err *err)
{
	size_t bad = 0;
	if (!gm_utf8_valid(path, strlen(path), &bad))
		return gm_err_set(
		        err, GM_ERR_USAGE,
		        "'%s/%s': the name is not valid UTF-8 and cannot be an object key; "
		        "rename it or leave it out with --exclude",
		        gm_buf_cstr(&ep->base.where), path);
	if (ep->prefix.len + strlen(path) + 1 > 1024)
		return gm_err_set(
		        err, GM_ERR_LIMIT,
		        "'%s/%s': the key would be longer than 1024 bytes, the most object "
		        "stores accept",
		        gm_buf_cstr(&ep->base.where), path);
	return GM_OK;
}

static bool meta_u64(const struct gm_os_object *o, const char *name, int base, uint64_t *out)
{
	const char *v = gm_os_object_meta(o, name);
	return v && gm_parse_u64(v, base, out) == GM_OK;
}

/* rclone's "mtime": seconds with an optional fraction. */
static bool rclone_mtime(const char *v, int64_t *ns)
{
	int64_t sec = 0, frac = 0, scale = 1000000000;
	const char *p = v;
	bool neg = *p == '-';
	if (neg)
		p++;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (sec > INT64_MAX / 10 / 1000000000)
			return false;
		sec = sec * 10 + (*p - '0');
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale > 1)
				scale /= 10, frac += (*p - '0') * scale;
	if (*p)
		return false;
	*ns = (neg ? -1 : 1) * (sec * 1000000000 + frac);
	return true;
}

void gm_obj_meta_decode(const struct gm_os_object *o, struct gm_sync_meta *meta,
                        struct gm_buf *link)
{
	memset(meta, 0, sizeof(*meta));
	const char *kind = gm_os_object_meta(o, "gm-kind");
	meta->kind = kind && strcmp(kind, "l") == 0   ? GM_SYNC_SYMLINK
	             : kind && strcmp(kind, "d") == 0 ? GM_SYNC_DIR
	                                              : GM_SYNC_FILE;
	uint64_t v = 0;
	meta->mode = meta_u64(o, "gm-mode", 8, &v) && v <= 07777 ? (uint32_t)v
	             : meta->kind == GM_SYNC_DIR                 ? 0755
	                                                         : 0644;
	meta->uid = meta_u64(o, "gm-uid", 10, &v) && v <= UINT32_MAX ? (uint32_t)v : geteuid();
	meta->gid = meta_u64(o, "gm-gid", 10, &v) && v <= UINT32_MAX ? (uint32_t)v : getegid();
	int64_t t = 0;
	const char *ours = gm_os_object_meta(o, "gm-mtime"),
	           *rclone = gm_os_object_meta(o, "mtime");
	bool known = (ours && gm_parse_i64(ours, 10, &t) == GM_OK) ||
	             (rclone && rclone_mtime(rclone, &t));
	meta->mtime_ns = known ? t : o->mtime_ns;
	meta->ctime_ns = o->mtime_ns; /* changes whenever the object is rewritten */
	meta->nlink = 1;
	meta->size = o->size;
	if (meta->kind == GM_SYNC_SYMLINK) {
		const char *enc = gm_os_object_meta(o, "gm-link");
		struct gm_buf target = GM_BUF_INIT;
		gm_os_uri_decode(&target, enc ? enc : "", enc ? strlen(enc) : 0, false);
		meta->size = target.len;
		if (link) {
			gm_buf_reset(link);
			gm_buf_add(link, target.data ? target.data : "", target.len);
			gm_buf_grow(link, 0);
		}
		gm_buf_release(&target);
	} else if (meta->kind == GM_SYNC_DIR) {
		meta->size = 0;
	}
	meta->allocated = meta->size;
}

bool gm_obj_meta_hash(const struct gm_os_object *o, struct gm_sync_hash *out)
{
	const char *h = gm_os_object_meta(o, "gm-hash");
	return h && gm_sync_hash_from_hex(h, strlen(h), out);
}

void gm_obj_kvs_build(struct gm_obj_kvs *k, enum gm_sync_kind kind, const struct gm_sync_meta *meta,
                      const struct gm_sync_hash *hash, const char *link)
{
	/* Values first, then the pairs pointing at them (the buffer no longer moves). */
	size_t at[GM_OS_META_MAX];
	const char *names[GM_OS_META_MAX];
	size_t n = 0;
	gm_buf_init(&k->store);
#define ADD(name, ...)                               \
	do {                                         \
		names[n] = name;                     \
		at[n++] = k->store.len;              \
		gm_buf_addf(&k->store, __VA_ARGS__); \
		gm_buf_addch(&k->store, '\0');       \
	} while (0)
	ADD("gm-kind", "%s", kind == GM_SYNC_SYMLINK ? "l" : kind == GM_SYNC_DIR ? "d" : "f");
	ADD("gm-mode", "%o", meta->mode & 07777);
	ADD("gm-mtime", "%" PRId64, meta->mtime_ns);
	int64_t s = meta->mtime_ns / 1000000000, f = meta->mtime_ns % 1000000000;
	ADD("mtime", "%s%" PRId64 ".%09" PRId64, meta->mtime_ns < 0 ? "-" : "", s < 0 ? -s : s,
	    f < 0 ? -f : f); /* rclone's decimal seconds */
	ADD("gm-uid", "%u", meta->uid);
	ADD("gm-gid", "%u", meta->gid);
	if (hash) {
		char hex[33];
		gm_sync_hash_hex(hash, hex);
		ADD("gm-hash", "%s", hex);
	}
	if (link) {
		names[n] = "gm-link";
		at[n++] = k->store.len;
		gm_os_uri_encode(&k->store, link, strlen(link), true);
		gm_buf_addch(&k->store, '\0');
	}
#undef ADD
	for (size_t i = 0; i < n; i++) {
		k->kv[i].name = names[i];
		k->kv[i].value = k->store.data + at[i];
	}
	k->n = n;
}

void gm_obj_kvs_release(struct gm_obj_kvs *k)
{
	gm_buf_release(&k->store);
}

bool gm_obj_spare_take(struct gm_obj_ep *ep)
{
	pthread_mutex_lock(&ep->mu);
	bool ok = ep->spare > 0;
	if (ok)
		ep->spare--;
	pthread_mutex_unlock(&ep->mu);
	return ok;
}

void gm_obj_spare_give(struct gm_obj_ep *ep)
{
	pthread_mutex_lock(&ep->mu);
	ep->spare++;
	pthread_mutex_unlock(&ep->mu);
}

/* ---- listing ---- */

/* One entry of a listing being gathered: its name, and the object (or marker) to HEAD
 * when the listing carried no metadata. */
struct pending {
	char *name;
	bool dir;
	bool have;    /* obj holds the metadata */
	bool partial; /* obj holds what the listing said (no metadata): no HEAD needed */
	struct gm_os_object obj;
	enum gm_rc rc;
	struct gm_err err;
};

struct gather {
	struct gm_obj_ep *ep;
	size_t skip; /* bytes of the listed prefix */
	bool at_root;
	struct pending *v;
	size_t n, cap;
};

static struct pending *gather_add(struct gather *g, const char *name, size_t len, bool dir)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 64;
		g->v = gm_xreallocarray(g->v, g->cap, sizeof(*g->v));
	}
	struct pending *p = &g->v[g->n++];
	memset(p, 0, sizeof(*p));
	p->name = gm_xstrndup(name, len);
	p->dir = dir;
	gm_os_object_init(&p->obj);
	gm_err_init(&p->err);
	return p;
}

static bool skip_name(const struct gather *g, const char *name, size_t len)
{
	return len == 0 ||
	       (g->at_root && len == strlen(GM_SYNC_AREA) && memcmp(name, GM_SYNC_AREA, len) == 0);
}

static bool on_object(void *ctx, const struct gm_os_object *o)
{
	struct gather *g = ctx;
	const char *name = gm_buf_cstr(&o->key) + g->skip;
	size_t len = o->key.len - g->skip;
	if (skip_name(g, name, len) || memchr(name, '/', len))
		return true; /* the directory's own marker, our area, or a key with "//" */
	struct pending *p = gather_add(g, name, len, false);
	if (o->meta_known) {
		gm_buf_add(&p->obj.key, o->key.data, o->key.len);
		gm_buf_add(&p->obj.etag, o->etag.data ? o->etag.data : "", o->etag.len);
		gm_buf_add(&p->obj.meta, o->meta.data ? o->meta.data : "", o->meta.len);
		p->obj.size = o->size;
		p->obj.mtime_ns = o->mtime_ns;
		p->obj.meta_known = true;
		p->have = true;
	} else if (o->size > 0) {
		/* A file for sure (our symlinks and markers are empty): size and ETag from the
		 * listing; mode and mtime wait until a decision needs them (meta.partial). */
		gm_buf_add(&p->obj.key, o->key.data, o->key.len);
		gm_buf_add(&p->obj.etag, o->etag.data ? o->etag.data : "", o->etag.len);
		p->obj.size = o->size;
		p->obj.mtime_ns = o->mtime_ns;
		p->obj.has_md5 = o->has_md5;
		memcpy(p->obj.md5, o->md5, sizeof(o->md5));
		p->partial = true;
	}
	return true;
}

static bool on_prefix(void *ctx, const char *prefix, size_t len)
{
	struct gather *g = ctx;
	if (len <= g->skip + 1)
		return true;
	const char *name = prefix + g->skip;
	size_t n = len - g->skip - 1; /* without the trailing '/' */
	if (skip_name(g, name, n))
		return true;
	gather_add(g, name, n, true);
	return true;
}

struct head_job {
	struct gather *g;
	const char *dir;
	pthread_mutex_t mu;
	size_t next;
};

static void head_one(struct gather *g, const char *dir, struct pending *p)
{
	struct gm_buf path = GM_BUF_INIT, key = GM_BUF_INIT;
	gm_sync_path_join(&path, dir, p->name, strlen(p->name));
	gm_obj_key(g->ep, gm_buf_cstr(&path), p->dir, &key);
	p->rc = g->ep->store->ops->head(g->ep->store, gm_buf_cstr(&key), &p->obj, &p->err);
	if (p->dir && p->rc == GM_ERR_NOT_FOUND) /* a prefix without a marker */
		p->rc = GM_OK;
	else if (p->rc == GM_OK)
		p->have = true;
	gm_buf_release(&path);
	gm_buf_release(&key);
}

static void *head_worker(void *arg)
{
	struct head_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		size_t i = j->next;
		while (i < j->g->n && (j->g->v[i].have || j->g->v[i].partial))
			i++;
		j->next = i + 1;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->g->n)
			return NULL;
		head_one(j->g, j->dir, &j->g->v[i]);
	}
}

/* HEADs every entry whose metadata the listing did not carry, HEAD_PARALLEL at a time. */
static void head_all(struct gather *g, const char *dir)
{
	size_t todo = 0;
	for (size_t i = 0; i < g->n; i++)
		todo += !g->v[i].have && !g->v[i].partial;
	if (!todo)
		return;
	struct head_job j = {g, dir, PTHREAD_MUTEX_INITIALIZER, 0};
	size_t nt = todo < HEAD_PARALLEL ? todo : HEAD_PARALLEL;
	pthread_t t[HEAD_PARALLEL];
	size_t started = 0;
	for (size_t i = 1; i < nt; i++)
		if (pthread_create(&t[started], NULL, head_worker, &j) == 0)
			started++;
	head_worker(&j);
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&j.mu);
}

static int pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (int)y->dir - (int)x->dir; /* a directory before a file of its name */
}

static enum gm_rc obj_list(struct gm_sync_endpoint *e, const char *dir, struct gm_sync_list *out,
                           struct gm_err *err)
{
	struct gm_obj_ep *ep = ep_of(e);
	struct gather g = {ep, 0, dir[0] == '\0', NULL, 0, 0};
	struct gm_buf prefix = GM_BUF_INIT, link = GM_BUF_INIT, path = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	gm_sync_list_reset(out);
	gm_obj_key(ep, dir, true, &prefix);
	g.skip = prefix.len;
	struct gm_os_list_cb cb = {on_object, on_prefix, &g};
	rc = ep->store->ops->list(ep->store, gm_buf_cstr(&prefix), true, &cb, err);
	if (rc != GM_OK)
		goto out;
	head_all(&g, dir);
	if (g.n)
		qsort(g.v, g.n, sizeof(*g.v), pending_cmp);
	for (size_t i = 0; i < g.n; i++) {
		struct pending *p = &g.v[i];
		if (p->rc != GM_OK && p->rc != GM_ERR_NOT_FOUND) {
			rc = gm_err_set(err, p->rc, "%s", gm_err_msg(&p->err));
			goto out;
		}
		if (p->rc == GM_ERR_NOT_FOUND) /* deleted since it was listed */
			continue;
		if (i > 0 && strcmp(g.v[i - 1].name, p->name) == 0) {
			gm_warn("'%s/%s%s%s' is both an object and a prefix of other objects; only "
			        "the "
			        "directory is synced",
			        gm_buf_cstr(&e->where), dir, dir[0] ? "/" : "", p->name);
			continue;
		}
		struct gm_sync_meta meta;
		if (p->have || p->partial) {
			gm_obj_meta_decode(&p->obj, &meta, &link);
			meta.partial = p->partial;
		} else {
			memset(&meta, 0, sizeof(meta));
			meta.mode = 0755, meta.uid = geteuid(), meta.gid = getegid(),
			meta.nlink = 1;
		}
		if (p->dir)
			meta.kind = GM_SYNC_DIR, meta.size = meta.allocated = 0;
		else if (meta.kind == GM_SYNC_DIR) /* a "d" object not ending in '/': not ours */
			meta.kind = GM_SYNC_FILE;
		bool sl = meta.kind == GM_SYNC_SYMLINK;
		if ((p->have || p->partial) && meta.kind == GM_SYNC_FILE && !ep->writable) {
			gm_sync_path_join(&path, dir, p->name, strlen(p->name));
			gm_obj_cache_put(&ep->listed, gm_buf_cstr(&path), &p->obj);
		}
		gm_sync_list_add(out, p->name, strlen(p->name), sl ? gm_buf_cstr(&link) : NULL,
		                 sl ? link.len : 0, &meta);
	}
	gm_sync_list_sort(out);
out:
	for (size_t i = 0; i < g.n; i++) {
		free(g.v[i].name);
		gm_os_object_release(&g.v[i].obj);
		gm_err_release(&g.v[i].err);
	}
	free(g.v);
	gm_buf_release(&prefix);
	gm_buf_release(&link);
	gm_buf_release(&path);
	return rc;
}

/* ---- single entries ---- */

static bool stop_at_first(void *ctx, const struct gm_os_object *o)
{
	(void)o;
	*(bool *)ctx = true;
	return false;
}

static bool stop_at_first_prefix(void *ctx, const char *p, size_t n)
{
	(void)p, (void)n;
	*(bool *)ctx = true;
	return false;
}

/* Whether any key starts with prefix. */
static enum gm_rc any_under(struct gm_obj_ep *ep, const char *prefix, bool *found,
                            struct gm_err *err)
{
	*found = false;
	struct gm_os_list_cb cb = {stop_at_first, stop_at_first_prefix, found};
	enum gm_rc rc = ep->store->ops->list(ep->store, prefix, true, &cb, err);
	if (rc == GM_ERR_INTERRUPTED && *found)
		rc = GM_OK, gm_err_clear(err);
	return rc;
}

static enum gm_rc obj_stat(struct gm_sync_endpoint *e, const char *path, struct gm_sync_meta *meta,
                           struct gm_buf *link, struct gm_err *err)
{
	struct gm_obj_ep *ep = ep_of(e);
	struct gm_buf key = GM_BUF_INIT;
	struct gm_os_object o;
	gm_os_object_init(&o);
	enum gm_rc rc = GM_OK;
	if (path[0]) {
		gm_obj_key(ep, path, false, &key);
		rc = ep->store->ops->head(ep->store, gm_buf_cstr(&key), &o, err);
		if (rc == GM_OK) {
			gm_obj_meta_decode(&o, meta, link);
			if (meta->kind == GM_SYNC_DIR)
				meta->kind = GM_SYNC_FILE;
			goto out;
		}
		if (rc != GM_ERR_NOT_FOUND)
			goto out;
		gm_err_clear(err);
	}
	gm_obj_key(ep, path, true, &key);
	if (key.len) {
		rc = ep->store->ops->head(ep->store, gm_buf_cstr(&key), &o, err);
		if (rc == GM_OK) {
			gm_obj_meta_decode(&o, meta, NULL);
			meta->kind = GM_SYNC_DIR, meta->size = meta->allocated = 0;
			goto out;
		}
		if (rc != GM_ERR_NOT_FOUND)
			goto out;
		gm_err_clear(err);
	}
	bool found = false;
	rc = any_under(ep, gm_buf_cstr(&key), &found, err);
	if (rc != GM_OK)
		goto out;
	if (!found && (path[0] || !ep->writable)) {
		rc = gm_err_set(err, GM_ERR_NOT_FOUND, "'%s%s%s' does not exist",
		                gm_buf_cstr(&e->where), path[0] ? "/" : "", path);
		goto out;
	}
	memset(meta, 0, sizeof(*meta));
	meta->kind = GM_SYNC_DIR, meta->mode = 0755, meta->nlink = 1;
	meta->uid = geteuid(), meta->gid = getegid();
out:
	gm_os_object_release(&o);
	gm_buf_release(&key);
	return rc;
}

static enum gm_rc read_only(struct gm_obj_ep *ep, struct gm_err *err)
{
	return gm_err_set(err, GM_ERR_USAGE, "'%s' was opened read-only",
	                  gm_buf_cstr(&ep->base.where));
}

/* Puts the zero-byte object of a directory, symlink or empty marker. */
static enum gm_rc put_marker(struct gm_obj_ep *ep, const char *path, enum gm_sync_kind kind,
                             const struct gm_sync_meta *meta, const char *link, struct gm_err *err)
{
	if (!ep->writable)
		return read_only(ep, err);
	enum gm_rc rc = gm_obj_key_check(ep, path, err);
	if (rc != GM_OK)
		return rc;
	struct gm_buf key = GM_BUF_INIT;
	struct gm_obj_kvs kvs;
	gm_obj_key(ep, path, kind == GM_SYNC_DIR, &key);
	if (!key.len) { /* the bucket's root has no key to keep its metadata in */
		gm_buf_release(&key);
		return GM_OK;
	}
	gm_obj_kvs_build(&kvs, kind, meta, NULL, link);
	rc = ep->store->ops->put(ep->store, gm_buf_cstr(&key), "", 0, kvs.kv, kvs.n, NULL, err);
	gm_obj_kvs_release(&kvs);
	gm_buf_release(&key);
	return rc;
}

/* A store needs no parent object before its children, so a directory's marker is written
 * once, by set_meta when the run gives the directory its final time (every new directory
 * gets one); a run stopped before then leaves a prefix without a marker, which the next
 * run makes. */
static enum gm_rc obj_mkdir(struct gm_sync_endpoint *e, const char *path,
                            const struct gm_sync_meta *meta, struct gm_err *err)
{
	(void)meta;
	struct gm_obj_ep *ep = ep_of(e);
	if (!ep->writable)
		return read_only(ep, err);
	return gm_obj_key_check(ep, path, err);
}

static enum gm_rc obj_symlink(struct gm_sync_endpoint *e, const char *path, const char *target,
                              const struct gm_sync_meta *meta, struct gm_err *err)
{
	return put_marker(ep_of(e), path, GM_SYNC_SYMLINK, meta, target, err);
}

static enum gm_rc obj_hardlink(struct gm_sync_endpoint *e, const char *existing, const char *path,
                               struct gm_err *err)
{
	(void)existing;
	return gm_err_set(err, GM_ERR_UNSUPPORTED, "'%s/%s': object stores have no hard links",
	                  gm_buf_cstr(&e->where), path);
}

struct keys {
	char **v;
	size_t n, cap;
};

static bool collect_key(void *ctx, const struct gm_os_object *o)
{
	struct keys *k = ctx;
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 64;
		k->v = gm_xreallocarray(k->v, k->cap, sizeof(*k->v));
	}
	k->v[k->n++] = gm_xstrndup(o->key.data, o->key.len);
	return true;
}

static enum gm_rc obj_remove(struct gm_sync_endpoint *e, const char *path, struct gm_err *err)
{
	struct gm_obj_ep *ep = ep_of(e);
	if (!ep->writable)
		return read_only(ep, err);
	struct gm_buf key = GM_BUF_INIT;
	struct keys k = {NULL, 0, 0};
	gm_obj_key(ep, path, false, &key);
	enum gm_rc rc = path[0] ? ep->store->ops->del(ep->store, gm_buf_cstr(&key), err) : GM_OK;
	if (rc != GM_OK)
		goto out;
	gm_obj_key(ep, path, true, &key); /* then everything below it, marker included */
	struct gm_os_list_cb cb = {collect_key, NULL, &k};
	rc = ep->store->ops->list(ep->store, gm_buf_cstr(&key), false, &cb, err);
	for (size_t i = 0; rc == GM_OK && i < k.n; i++) {
		const char *rest = k.v[i] + ep->prefix.len;
		if (!path[0] && strncmp(rest, GM_SYNC_AREA "/", strlen(GM_SYNC_AREA) + 1) == 0)
			continue;
		rc = ep->store->ops->del(ep->store, k.v[i], err);
	}
out:
	for (size_t i = 0; i < k.n; i++)
		free(k.v[i]);
	free(k.v);
	gm_buf_release(&key);
	return rc;
}

static enum gm_rc obj_set_meta(struct gm_sync_endpoint *e, const char *path,
                               const struct gm_sync_meta *meta, unsigned flags, struct gm_err *err)
{
	(void)flags;
	struct gm_obj_ep *ep = ep_of(e);
	if (!ep->writable)
		return read_only(ep, err);
	struct gm_buf key = GM_BUF_INIT, link = GM_BUF_INIT;
	struct gm_os_object o;
	struct gm_obj_kvs kvs = {.n = 0};
	gm_buf_init(&kvs.store);
	gm_os_object_init(&o);
	gm_obj_key(ep, path, false, &key);
	enum gm_rc rc = path[0] && meta->kind != GM_SYNC_DIR
	                        ? ep->store->ops->head(ep->store, gm_buf_cstr(&key), &o, err)
	                        : GM_ERR_NOT_FOUND;
	if (rc == GM_ERR_NOT_FOUND) { /* a directory: its marker, written whole */
		gm_err_clear(err);
		rc = put_marker(ep, path, GM_SYNC_DIR, meta, NULL, err);
		goto out;
	}
	if (rc != GM_OK)
		goto out;
	struct gm_sync_meta now;
	struct gm_sync_hash h;
	gm_obj_meta_decode(&o, &now, &link);
	bool has_hash = gm_obj_meta_hash(&o, &h);
	gm_buf_release(&kvs.store);
	gm_obj_kvs_build(&kvs, now.kind, meta, has_hash ? &h : NULL,
	                 now.kind == GM_SYNC_SYMLINK ? gm_buf_cstr(&link) : NULL);
	rc = ep->store->ops->set_meta(ep->store, gm_buf_cstr(&key), kvs.kv, kvs.n, err);
out:
	gm_obj_kvs_release(&kvs);
	gm_os_object_release(&o);
	gm_buf_release(&key);
	gm_buf_release(&link);
	return rc;
}

static void obj_close(struct gm_sync_endpoint *e)
{
	struct gm_obj_ep *ep = ep_of(e);
	if (!ep)
		return;
	gm_os_close(ep->store);
	if (ep->state_fd >= 0)
		close(ep->state_fd);
	pthread_mutex_destroy(&ep->mu);
	gm_obj_cache_release(&ep->listed);
	gm_buf_release(&ep->prefix);
	gm_buf_release(&e->where);
	free(ep);
}

static const struct gm_sync_ops obj_ops = {
        .stat = obj_stat,
        .list = obj_list,
        .hash = gm_obj_hash,
        .open_read = gm_obj_open_read,
        .read = gm_obj_read,
        .close_read = gm_obj_close_read,
        .open_write = gm_obj_open_write,
        .write = gm_obj_write,
        .hole = gm_obj_hole,
        .chunk = gm_obj_chunk,
        .commit = gm_obj_commit,
        .abort = gm_obj_abort,
        .mkdir = obj_mkdir,
        .symlink = obj_symlink,
        .hardlink = obj_hardlink,
        .remove = obj_remove,
        .set_meta = obj_set_meta,
        .close = obj_close,
};

enum gm_rc gm_sync_objstore_open(const char *scheme, const char *bucket, const char *prefix,
                                 const struct gm_sync_open_opts *opts,
                                 struct gm_sync_endpoint **out, struct gm_err *err)
{
	static const struct gm_os_opts no_opts = {.path_style = -1};
	const struct gm_os_opts *oo = opts && opts->os ? opts->os : &no_opts;
	struct gm_obj_ep *ep = gm_xcalloc(1, sizeof(*ep));
	ep->base.ops = &obj_ops;
	ep->base.caps =
	        GM_SYNC_CAP_SYMLINKS | GM_SYNC_CAP_MODE | GM_SYNC_CAP_OWNER | GM_SYNC_CAP_RESUME;
	ep->writable = opts && opts->writable;
	ep->state_fd = -1;
	ep->spare = GM_OBJ_SPARE_BUFFERS;
	pthread_mutex_init(&ep->mu, NULL);
	gm_obj_cache_init(&ep->listed);
	gm_buf_addf(&ep->base.where, "%s://%s%s%s", scheme, bucket, prefix[0] ? "/" : "", prefix);
	/* The root's prefix: the path without surplus slashes, ending in one. */
	for (const char *p = prefix; *p; p++)
		if (*p != '/' || (ep->prefix.len && ep->prefix.data[ep->prefix.len - 1] != '/'))
			gm_buf_addch(&ep->prefix, *p);
	if (ep->prefix.len && ep->prefix.data[ep->prefix.len - 1] != '/')
		gm_buf_addch(&ep->prefix, '/');
	gm_buf_grow(&ep->prefix, 0);
	enum gm_rc rc = strcmp(scheme, "s3") == 0 ? gm_os_s3_open(bucket, oo, &ep->store, err)
	                                          : gm_os_gcs_open(bucket, oo, &ep->store, err);
	if (rc == GM_OK && !ep->writable && ep->prefix.len) {
		/* As for a directory: a read-only open of a prefix that holds nothing fails here
		 * (a dry run then treats the destination as empty). */
		struct gm_sync_meta m;
		rc = obj_stat(&ep->base, "", &m, NULL, err);
	}
	if (rc != GM_OK) {
		obj_close(&ep->base);
		return rc;
	}
	*out = &ep->base;
	return GM_OK;
}

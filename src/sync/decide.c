/* The engine's pure decisions, kept apart from the threads and transports so the unit tests
 * can pin them down: which part of SRC moves (rsync's trailing-slash rule), what to do with
 * one entry given both sides, the merge-join of two sorted listings, shard assignment and
 * the bandwidth limiter's arithmetic. */
#include <string.h>
#include <xxhash.h>

#include "sync/engine.h"
#include "util/fs.h"
#include "util/banned.h"

void gm_sync_selection_init(struct gm_sync_selection *s)
{
	s->contents = false;
	gm_buf_init(&s->parent);
	gm_buf_init(&s->name);
}

void gm_sync_selection_release(struct gm_sync_selection *s)
{
	if (!s)
		return;
	gm_buf_release(&s->parent);
	gm_buf_release(&s->name);
}

bool gm_sync_spec_is_dir(const char *text)
{
	size_t n = strlen(text);
	return n > 0 && text[n - 1] == '/';
}

/* Where the path part of a spec starts: after "host:" for scp-style names, at the first '/'
 * after the host of an ssh:// URL, 0 for a local path. */
static size_t path_start(const char *t)
{
	if (strncmp(t, "ssh://", 6) == 0) {
		const char *slash = strchr(t + 6, '/');
		return slash ? (size_t)(slash - t) : strlen(t);
	}
	if (t[0] == '/' || (t[0] == '.' && t[1] == '/'))
		return 0;
	if (t[0] == '[') {
		const char *close = strstr(t, "]:");
		if (close && !memchr(t, '/', (size_t)(close - t)))
			return (size_t)(close - t) + 2;
		return 0;
	}
	const char *colon = strchr(t, ':');
	const char *slash = strchr(t, '/');
	if (colon && (!slash || colon < slash))
		return (size_t)(colon - t) + 1;
	return 0;
}

enum gm_rc gm_sync_select(const char *text, struct gm_sync_selection *s, struct gm_err *err)
{
	gm_buf_reset(&s->parent);
	gm_buf_reset(&s->name);
	s->contents = false;
	if (!text || !*text)
		return gm_err_set(err, GM_ERR_USAGE, "empty source path");
	size_t len = strlen(text), ps = path_start(text);
	const char *p = text + ps;
	size_t plen = len - ps;
	/* The contents of: a trailing slash, "." or "..", or a remote home ("host:"). */
	const char *last = memrchr(p, '/', plen);
	const char *base = last ? last + 1 : p;
	size_t blen = plen - (size_t)(base - p);
	if (plen == 0 || blen == 0 || (blen == 1 && base[0] == '.') ||
	    (blen == 2 && base[0] == '.' && base[1] == '.')) {
		s->contents = true;
		gm_buf_adds(&s->parent, text);
		return GM_OK;
	}
	gm_buf_add(&s->name, base, blen);
	gm_buf_add(&s->parent, text, ps);
	if (!last) {
		if (ps == 0)
			gm_buf_adds(&s->parent, ".");
	} else if (last == p) {
		gm_buf_addch(&s->parent, '/');
	} else {
		gm_buf_add(&s->parent, p, (size_t)(last - p));
	}
	return GM_OK;
}

static bool owner_differs(const struct gm_sync_meta *a, const struct gm_sync_meta *b)
{
	return a->uid != b->uid || a->gid != b->gid;
}

static bool link_differs(const struct gm_sync_entry *s, const struct gm_sync_entry *d)
{
	const char *a = s->link ? s->link : "", *b = d->link ? d->link : "";
	return strcmp(a, b) != 0;
}

struct gm_sync_decision gm_sync_decide(const struct gm_sync_entry *s, const struct gm_sync_entry *d,
                                       unsigned flags)
{
	struct gm_sync_decision r = {GM_SYNC_ACT_NONE, 0};
	const struct gm_sync_meta *sm = &s->meta, *dm = d ? &d->meta : NULL;
	unsigned meta = 0;
	if (dm && dm->kind == sm->kind) {
		if (sm->mtime_ns != dm->mtime_ns)
			meta |= GM_SYNC_WHY_TIME;
		if ((flags & GM_SYNC_DECIDE_MODE) && sm->kind != GM_SYNC_SYMLINK &&
		    (sm->mode & 07777) != (dm->mode & 07777))
			meta |= GM_SYNC_WHY_MODE;
		if ((flags & GM_SYNC_DECIDE_OWNER) && owner_differs(sm, dm))
			meta |= GM_SYNC_WHY_OWNER;
	}
	switch (sm->kind) {
	case GM_SYNC_FILE:
		if (!dm) {
			r.action = GM_SYNC_ACT_COPY, r.why = GM_SYNC_WHY_NEW;
		} else if (dm->kind != GM_SYNC_FILE) {
			r.action = GM_SYNC_ACT_COPY, r.why = GM_SYNC_WHY_KIND;
		} else if (sm->size != dm->size) {
			r.action = GM_SYNC_ACT_COPY, r.why = GM_SYNC_WHY_SIZE | meta;
		} else if (flags & GM_SYNC_DECIDE_CHECKSUM) {
			r.action = GM_SYNC_ACT_HASH, r.why = meta;
		} else if (meta & GM_SYNC_WHY_TIME) {
			r.action = GM_SYNC_ACT_COPY, r.why = meta;
		} else if (meta) {
			r.action = GM_SYNC_ACT_META, r.why = meta;
		}
		break;
	case GM_SYNC_DIR:
		if (!dm)
			r.action = GM_SYNC_ACT_MKDIR, r.why = GM_SYNC_WHY_NEW;
		else if (dm->kind != GM_SYNC_DIR)
			r.action = GM_SYNC_ACT_MKDIR, r.why = GM_SYNC_WHY_KIND;
		else
			r.action = GM_SYNC_ACT_DESCEND, r.why = meta;
		break;
	case GM_SYNC_SYMLINK:
		if (!dm)
			r.action = GM_SYNC_ACT_SYMLINK, r.why = GM_SYNC_WHY_NEW;
		else if (dm->kind != GM_SYNC_SYMLINK)
			r.action = GM_SYNC_ACT_SYMLINK, r.why = GM_SYNC_WHY_KIND;
		else if (link_differs(s, d))
			r.action = GM_SYNC_ACT_SYMLINK, r.why = GM_SYNC_WHY_TARGET | meta;
		else if (meta)
			r.action = GM_SYNC_ACT_META, r.why = meta;
		break;
	case GM_SYNC_SPECIAL:
	case GM_SYNC_NONE: r.action = GM_SYNC_ACT_SPECIAL; break;
	}
	return r;
}

static int name_cmp(const struct gm_sync_entry *a, const struct gm_sync_entry *b)
{
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(a->name, b->name, n);
	if (c)
		return c;
	return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

void gm_sync_merge(const struct gm_sync_list *src, const struct gm_sync_list *dst,
                   bool (*fn)(void *ctx, const struct gm_sync_entry *s,
                              const struct gm_sync_entry *d),
                   void *ctx)
{
	size_t i = 0, j = 0, ns = src ? src->n : 0, nd = dst ? dst->n : 0;
	while (i < ns || j < nd) {
		const struct gm_sync_entry *s = i < ns ? &src->v[i] : NULL;
		const struct gm_sync_entry *d = j < nd ? &dst->v[j] : NULL;
		int c = !s ? 1 : !d ? -1 : name_cmp(s, d);
		bool go;
		if (c < 0)
			go = fn(ctx, s, NULL), i++;
		else if (c > 0)
			go = fn(ctx, NULL, d), j++;
		else
			go = fn(ctx, s, d), i++, j++;
		if (!go)
			return;
	}
}

uint32_t gm_sync_shard_of(const char *path, size_t len, uint32_t n)
{
	if (n <= 1)
		return 0;
	return (uint32_t)(XXH3_64bits(path, len) % n);
}

uint32_t gm_sync_shard_of_inode(uint64_t ino, uint32_t n)
{
	uint8_t le[8];
	if (n <= 1)
		return 0;
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(ino >> (8 * i));
	return (uint32_t)(XXH3_64bits(le, sizeof(le)) % n);
}

enum gm_rc gm_sync_shard_parse(const char *text, uint32_t *index, uint32_t *count,
                               struct gm_err *err)
{
	const char *slash = text ? strchr(text, '/') : NULL;
	uint64_t i = 0, n = 0;
	struct gm_buf a = GM_BUF_INIT;
	enum gm_rc rc = GM_ERR_USAGE;
	if (!slash)
		goto bad;
	gm_buf_add(&a, text, (size_t)(slash - text));
	if (gm_parse_u64(gm_buf_cstr(&a), 10, &i) != GM_OK ||
	    gm_parse_u64(slash + 1, 10, &n) != GM_OK || n < 1 || n > 65536 || i >= n)
		goto bad;
	*index = (uint32_t)i;
	*count = (uint32_t)n;
	rc = GM_OK;
	goto out;
bad:
	gm_err_set(err, GM_ERR_USAGE,
	           "--shard needs I/N with 0 <= I < N <= 65536 (e.g. 0/4), not '%s'",
	           text ? text : "");
out:
	gm_buf_release(&a);
	return rc;
}

enum gm_rc gm_sync_bw_parse(const char *text, uint64_t *rate, struct gm_err *err)
{
	/* digits[.digits][kKmMgG][B][/s] */
	const char *p = text;
	uint64_t whole = 0, frac = 0, frac_div = 1;
	bool any = false;
	while (*p >= '0' && *p <= '9') {
		if (whole > UINT64_MAX / 100)
			goto bad;
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		any = true;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (frac_div < 1000000000)
				frac = frac * 10 + (uint64_t)(*p - '0'), frac_div *= 10;
			p++;
			any = true;
		}
	}
	if (!any)
		goto bad;
	uint64_t unit = 1024;
	switch (*p) {
	case 'b':
	case 'B':
		if (p[1] == '\0' || p[1] == '/')
			unit = 1;
		else
			goto bad;
		break;
	case 'k':
	case 'K': unit = 1024, p++; break;
	case 'm':
	case 'M': unit = (uint64_t)1024 * 1024, p++; break;
	case 'g':
	case 'G': unit = 1024ull * 1024 * 1024, p++; break;
	default: break;
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (strcmp(p, "/s") == 0)
		p += 2;
	if (*p)
		goto bad;
	if (whole > UINT64_MAX / unit / 2)
		goto bad;
	*rate = whole * unit + frac * unit / frac_div;
	if (*rate == 0 && (whole || frac))
		*rate = 1;
	return GM_OK;
bad:
	return gm_err_set(err, GM_ERR_USAGE,
	                  "--bwlimit needs a rate like 500k, 10M or 1G (bytes per second; no "
	                  "suffix: KiB), not '%s'",
	                  text);
}

void gm_sync_bw_init(struct gm_sync_bw *b, uint64_t rate)
{
	b->rate = rate;
	/* A tenth of a second of data, at least 64 KiB: smooth without a syscall per block. */
	b->burst = rate / 10 > 65536 ? rate / 10 : 65536;
	b->next_ns = 0;
}

int64_t gm_sync_bw_take(struct gm_sync_bw *b, int64_t now_ns, uint64_t n)
{
	if (!b->rate)
		return 0;
	/* Virtual time: the bucket is full when next_ns lies burst's worth in the past. */
	int64_t burst_ns = (int64_t)((double)b->burst * 1e9 / (double)b->rate);
	int64_t start = b->next_ns;
	if (start < now_ns - burst_ns)
		start = now_ns - burst_ns;
	b->next_ns = start + (int64_t)((double)n * 1e9 / (double)b->rate);
	int64_t wait = b->next_ns - now_ns;
	return wait > 0 ? wait : 0;
}

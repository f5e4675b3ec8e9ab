/* The sync endpoint over an object store: reading and writing files.
 *
 * A reader fetches the object one chunk (GM_SYNC_CHUNK) per ranged GET, pinned to the ETag
 * or generation the object had when the read began, and keeps up to READ_AHEAD chunks in
 * flight on threads of their own, so a large object downloads over several connections at
 * once. It hashes what it serves and, at the end, checks the whole object against the
 * XXH3-128 we stored at upload, or else the store's own CRC32C or MD5.
 *
 * A writer buffers a small file and puts it in one request with its metadata and hash. A file
 * larger than SINGLE_MAX becomes an upload in parts of k chunks each (k chosen so the file
 * fits the store's part count), sent by threads while the next part fills, at most
 * UPLOAD_AHEAD at once (one at a time, in order, where the store needs it: GCS). Each verified
 * chunk goes to a journal (journal.h) and the upload's identity to a file beside it, so a
 * run killed mid-file asks the store which parts it holds and resumes after them. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore/codec.h"
#include "objstore/crc32c.h"
#include "sync/journal.h"
#include "sync/objstore_impl.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define READ_AHEAD   2
#define UPLOAD_AHEAD 4
#define PIECE_MAX    ((size_t)1 << 20)
#define SINGLE_MAX   (2 * GM_SYNC_CHUNK)

/* ---- reading ---- */

struct slot {
	struct gm_sync_reader *r;
	uint64_t index; /* the chunk it holds or fetches */
	struct gm_buf data;
	bool used;  /* holds or fetches a chunk not yet served */
	bool busy;  /* a fetch thread runs or ran and was not joined */
	bool spare; /* its buffer came from the endpoint's spare budget */
	pthread_t t;
	enum gm_rc rc;
	struct gm_err err;
};

struct gm_sync_reader {
	struct gm_obj_ep *ep;
	struct gm_buf path, key, etag;
	struct gm_sync_meta meta;
	uint64_t size, off, chunk_start, next_fetch;
	bool whole, done;
	struct gm_sync_hasher whole_h, chunk_h;
	bool has_hash; /* stored: our hash from the upload */
	struct gm_sync_hash stored;
	bool check_crc, check_md5;
	uint32_t crc, want_crc;
	uint8_t want_md5[16];
	struct gm_os_md5_ctx md5;
	struct slot slots[READ_AHEAD];
	struct slot *cur; /* the slot being served; pos: bytes of it served */
	size_t pos;
	struct slot *served; /* served whole, its last piece still with the caller */
	/* The listing carried no metadata (S3) and no HEAD was made: the first chunk's GET
	 * brings it, into first. */
	bool meta_from_get;
	struct gm_os_object first;
};

static void *fetch_main(void *arg)
{
	struct slot *s = arg;
	struct gm_sync_reader *r = s->r;
	uint64_t off = s->index * GM_SYNC_CHUNK;
	uint64_t len = r->size - off < GM_SYNC_CHUNK ? r->size - off : GM_SYNC_CHUNK;
	gm_buf_reset(&s->data);
	gm_buf_grow(&s->data, (size_t)len);
	struct gm_os_object *info = s->index == 0 && r->meta_from_get ? &r->first : NULL;
	s->rc = r->ep->store->ops->get(r->ep->store, gm_buf_cstr(&r->key), off, len,
	                               gm_buf_cstr(&r->etag), &s->data, info, &s->err);
	if (s->rc == GM_OK && s->data.len != len)
		s->rc = gm_err_set(&s->err, GM_ERR_CHANGED,
		                   "'%s': the store sent %zu bytes of %llu", gm_buf_cstr(&r->path),
		                   s->data.len, (unsigned long long)len);
	return NULL;
}

static void slot_join(struct slot *s)
{
	if (s->busy)
		pthread_join(s->t, NULL);
	s->busy = false;
}

/* Starts fetching the chunks after what is in flight, as far as READ_AHEAD and the
 * endpoint's budget allow (the first slot is the reader's own). */
static void fetch_ahead(struct gm_sync_reader *r)
{
	uint64_t chunks = (r->size + GM_SYNC_CHUNK - 1) / GM_SYNC_CHUNK;
	while (r->next_fetch < chunks) {
		struct slot *s = &r->slots[r->next_fetch % READ_AHEAD];
		if (s->used)
			return;
		bool own = true; /* the reader's own buffer is free: no spare needed */
		for (size_t i = 0; i < READ_AHEAD; i++)
			if (r->slots[i].used && !r->slots[i].spare)
				own = false;
		if (!own) {
			if (!gm_obj_spare_take(r->ep))
				return;
			s->spare = true;
		}
		s->used = true;
		s->index = r->next_fetch++;
		s->rc = GM_OK;
		gm_err_clear(&s->err);
		if (pthread_create(&s->t, NULL, fetch_main, s) == 0)
			s->busy = true;
		else
			fetch_main(s); /* no thread: fetch here */
	}
}

/* What the end of a whole read is checked against: our stored hash, else the store's CRC32C
 * or MD5 of the object. */
static void set_checks(struct gm_sync_reader *r, const struct gm_os_object *o)
{
	r->has_hash = gm_obj_meta_hash(o, &r->stored);
	if (r->whole && !r->has_hash) {
		r->check_crc = o->has_crc32c;
		r->want_crc = o->crc32c;
		r->check_md5 = !o->has_crc32c && o->has_md5 && gm_os_md5_init(&r->md5);
		memcpy(r->want_md5, o->md5, sizeof(r->want_md5));
	}
}

enum gm_rc gm_obj_open_read(struct gm_sync_endpoint *e, const char *path, uint64_t offset,
                            struct gm_sync_reader **out, struct gm_err *err)
{
	struct gm_obj_ep *ep = (struct gm_obj_ep *)e;
	struct gm_sync_reader *r = gm_xcalloc(1, sizeof(*r));
	struct gm_os_object o;
	gm_os_object_init(&o);
	r->ep = ep;
	gm_buf_adds(&r->path, path);
	gm_obj_key(ep, path, false, &r->key);
	for (size_t i = 0; i < READ_AHEAD; i++)
		r->slots[i].r = r;
	/* The listing usually told already (one request saved per file); what it could not
	 * tell (S3: the metadata) comes with the first chunk. */
	enum gm_rc rc = GM_OK;
	gm_os_object_init(&r->first);
	bool listed = gm_obj_cache_take(&ep->listed, path, &o);
	if (listed && !o.meta_known && (offset != 0 || !ep->store->get_carries_meta))
		listed = false;
	if (!listed)
		rc = ep->store->ops->head(ep->store, gm_buf_cstr(&r->key), &o, err);
	if (rc != GM_OK)
		goto out;
	r->meta_from_get = !o.meta_known;
	gm_obj_meta_decode(&o, &r->meta, NULL);
	r->size = o.size;
	gm_buf_add(&r->etag, o.etag.data ? o.etag.data : "", o.etag.len);
	gm_buf_grow(&r->etag, 0);
	if (offset % GM_SYNC_CHUNK || offset > r->size) {
		rc = gm_err_set(err, GM_ERR_USAGE, "'%s': cannot read from offset %llu", path,
		                (unsigned long long)offset);
		goto out;
	}
	r->off = r->chunk_start = offset;
	r->next_fetch = offset / GM_SYNC_CHUNK;
	r->whole = offset == 0;
	gm_sync_hasher_init(&r->whole_h);
	gm_sync_hasher_init(&r->chunk_h);
	if (!r->meta_from_get)
		set_checks(r, &o);
	fetch_ahead(r);
out:
	gm_os_object_release(&o);
	if (rc != GM_OK) {
		gm_obj_close_read(r);
		r = NULL;
	}
	*out = r;
	return rc;
}

static enum gm_rc end_check(struct gm_sync_reader *r, struct gm_sync_piece *piece,
                            struct gm_err *err)
{
	if (!r->whole)
		return GM_OK;
	const char *what = NULL;
	if (r->has_hash && !gm_sync_hash_equal(&piece->hash, &r->stored))
		what = "the XXH3-128 stored at upload";
	if (r->check_crc && r->crc != r->want_crc)
		what = "the store's CRC32C";
	uint8_t md5[16];
	if (r->check_md5 && gm_os_md5_final(&r->md5, md5) && memcmp(md5, r->want_md5, 16) != 0)
		what = "the store's MD5";
	if (!what)
		return GM_OK;
	return gm_err_set(err, GM_ERR_MISMATCH,
	                  "'%s/%s': the content read does not match %s; the object is damaged "
	                  "or changed while read: run again",
	                  gm_buf_cstr(&r->ep->base.where), gm_buf_cstr(&r->path), what);
}

enum gm_rc gm_obj_read(struct gm_sync_reader *r, struct gm_sync_piece *piece, struct gm_err *err)
{
	memset(piece, 0, sizeof(*piece));
	if (r->done)
		return gm_err_set(err, GM_ERR_USAGE, "read '%s' past its end",
		                  gm_buf_cstr(&r->path));
	if (r->served) { /* the last piece of it was valid until this call: the slot is free
		          * for the chunk READ_AHEAD on */
		if (r->served->spare)
			gm_obj_spare_give(r->ep), r->served->spare = false;
		r->served->used = false;
		r->served = NULL;
		fetch_ahead(r);
	}
	bool at_end = r->off >= r->size;
	if (r->off > r->chunk_start && (r->off - r->chunk_start == GM_SYNC_CHUNK || at_end)) {
		piece->kind = GM_SYNC_PIECE_CHUNK;
		gm_sync_hasher_digest(&r->chunk_h, &piece->hash);
		gm_sync_hasher_reset(&r->chunk_h);
		r->chunk_start = r->off;
		return GM_OK;
	}
	if (at_end) {
		piece->kind = GM_SYNC_PIECE_END;
		piece->meta = r->meta;
		piece->whole_valid = r->whole;
		if (r->whole)
			gm_sync_hasher_digest(&r->whole_h, &piece->hash);
		r->done = true;
		return end_check(r, piece, err);
	}
	if (!r->cur) {
		struct slot *s = &r->slots[(r->off / GM_SYNC_CHUNK) % READ_AHEAD];
		slot_join(s);
		if (s->rc != GM_OK)
			return gm_err_set(err, s->rc, "%s", gm_err_msg(&s->err));
		if (r->meta_from_get && s->index == 0) { /* the first answer described the object */
			gm_obj_meta_decode(&r->first, &r->meta, NULL);
			set_checks(r, &r->first);
			r->meta_from_get = false;
		}
		r->cur = s;
		r->pos = 0;
	}
	size_t left = r->cur->data.len - r->pos;
	size_t n = left < PIECE_MAX ? left : PIECE_MAX;
	const char *p = r->cur->data.data + r->pos;
	piece->kind = GM_SYNC_PIECE_DATA;
	piece->data = p;
	piece->len = n;
	if (r->whole)
		gm_sync_hasher_update(&r->whole_h, p, n);
	gm_sync_hasher_update(&r->chunk_h, p, n);
	if (r->check_crc)
		r->crc = gm_crc32c(r->crc, p, n);
	if (r->check_md5)
		gm_os_md5_update(&r->md5, p, n);
	r->off += n;
	r->pos += n;
	if (r->pos == r->cur->data.len) { /* served: free once the caller is done with it */
		r->served = r->cur;
		r->cur = NULL;
	}
	return GM_OK;
}

void gm_obj_close_read(struct gm_sync_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < READ_AHEAD; i++) {
		struct slot *s = &r->slots[i];
		slot_join(s);
		if (s->spare)
			gm_obj_spare_give(r->ep);
		gm_buf_release(&s->data);
		gm_err_release(&s->err);
	}
	gm_os_md5_release(&r->md5);
	gm_os_object_release(&r->first);
	gm_sync_hasher_release(&r->whole_h);
	gm_sync_hasher_release(&r->chunk_h);
	gm_buf_release(&r->path);
	gm_buf_release(&r->key);
	gm_buf_release(&r->etag);
	free(r);
}

enum gm_rc gm_obj_hash(struct gm_sync_endpoint *e, const char *path, struct gm_sync_hash *out,
                       struct gm_sync_meta *meta, struct gm_err *err)
{
	struct gm_obj_ep *ep = (struct gm_obj_ep *)e;
	struct gm_buf key = GM_BUF_INIT;
	struct gm_os_object o;
	gm_os_object_init(&o);
	gm_obj_key(ep, path, false, &key);
	enum gm_rc rc = ep->store->ops->head(ep->store, gm_buf_cstr(&key), &o, err);
	if (rc == GM_OK && gm_obj_meta_hash(&o, out)) {
		if (meta)
			gm_obj_meta_decode(&o, meta, NULL);
		goto out;
	}
	if (rc != GM_OK)
		goto out;
	/* No stored hash: read the object, without asking for what the HEAD just told. */
	gm_obj_cache_put(&ep->listed, path, &o);
	struct gm_sync_reader *r = NULL;
	rc = gm_obj_open_read(e, path, 0, &r, err);
	struct gm_sync_piece piece;
	while (rc == GM_OK && (rc = gm_obj_read(r, &piece, err)) == GM_OK &&
	       piece.kind != GM_SYNC_PIECE_END)
		;
	if (rc == GM_OK) {
		*out = piece.hash;
		if (meta)
			*meta = piece.meta;
	}
	gm_obj_close_read(r);
out:
	gm_os_object_release(&o);
	gm_buf_release(&key);
	return rc;
}

/* ---- writing ---- */

struct upjob {
	struct gm_sync_writer *w;
	unsigned number;
	uint64_t off;
	struct gm_buf data;
	struct gm_buf tag;
	bool busy, spare;
	pthread_t t;
	enum gm_rc rc;
	struct gm_err err;
};

struct gm_sync_writer {
	struct gm_obj_ep *ep;
	struct gm_buf path, key;
	struct gm_sync_meta src;
	unsigned flags;
	uint64_t received; /* bytes given to write/hole: the object offset of the next one */
	struct gm_sync_hasher whole_h, chunk_h;
	uint64_t chunk_start;
	struct gm_buf part; /* the part being filled (a small file: all of it) */
	bool multipart;
	uint64_t part_size;
	struct gm_buf id; /* the upload's identity: a secret (a GCS session URI authorizes) */
	struct gm_os_part *parts;
	size_t n_parts; /* parts[i] is part i + 1 */
	/* an unfinished upload of this key that no journal knew (adopt_upload): the parts the
	 * store held, each sent again only when its bytes differ */
	struct gm_os_part *adopted;
	size_t n_adopted;
	struct upjob jobs[UPLOAD_AHEAD];
	unsigned next_job;
	enum gm_rc failed; /* the first failed part upload */
	struct gm_err fail_err;
	bool journal_open;
	struct gm_sync_journal journal;
	char jname[40];
};

/* The journals' directory, made on first use. */
static int state_dir(struct gm_obj_ep *ep, struct gm_err *err)
{
	pthread_mutex_lock(&ep->mu);
	int fd = ep->state_fd;
	if (fd >= 0)
		goto out;
	struct gm_buf dir = GM_BUF_INIT;
	if (gm_fs_state_dir("gpumigrate/uploads", &dir, err) == GM_OK) {
		fd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			gm_err_errno(err, GM_ERR_IO, errno, "cannot open '%s'", dir.data);
		ep->state_fd = fd;
	}
	gm_buf_release(&dir);
out:
	pthread_mutex_unlock(&ep->mu);
	return fd;
}

/* The journal's name for key: the hash of where the object goes. */
static void journal_name(const struct gm_obj_ep *ep, const char *key, char out[40])
{
	struct gm_buf id = GM_BUF_INIT;
	gm_buf_addf(&id, "%s://%s\n%s\n%s", ep->store->scheme, gm_buf_cstr(&ep->store->bucket),
	            gm_buf_cstr(&ep->store->endpoint), key);
	struct gm_sync_hash h;
	gm_sync_hash_buf(id.data, id.len, &h);
	gm_sync_hash_hex(&h, out);
	gm_buf_release(&id);
}

/* The file beside the journal that holds the upload's identity and part size. */
static void upload_file(const char *jname, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_addf(out, "%s.upload", jname);
}

static enum gm_rc upload_save(struct gm_sync_writer *w, int dirfd, struct gm_err *err)
{
	struct gm_buf name = GM_BUF_INIT, tmp = GM_BUF_INIT, text = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	upload_file(w->jname, &name);
	gm_buf_addf(&tmp, "%s.tmp", gm_buf_cstr(&name));
	gm_buf_addf(&text, "gpumigrate-upload 1\n%llu\n%s\n", (unsigned long long)w->part_size,
	            gm_buf_cstr(&w->id));
	int fd = openat(dirfd, tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text.data, text.len) != (ssize_t)text.len || fdatasync(fd) < 0 ||
	    renameat(dirfd, tmp.data, dirfd, name.data) < 0)
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot write the upload journal of '%s'",
		                  gm_buf_cstr(&w->path));
	if (fd >= 0)
		close(fd);
	memset(text.data, 0, text.len);
	gm_buf_release(&name);
	gm_buf_release(&tmp);
	gm_buf_release(&text);
	return rc;
}

/* Reads the upload's identity and part size back; false when absent or unusable. */
static bool upload_load(struct gm_sync_writer *w, int dirfd)
{
	struct gm_buf name = GM_BUF_INIT, text = GM_BUF_INIT;
	bool ok = false;
	upload_file(w->jname, &name);
	int fd = openat(dirfd, name.data, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char b[4096];
		ssize_t n = read(fd, b, sizeof(b) - 1);
		close(fd);
		if (n > 0) {
			gm_buf_add(&text, b, (size_t)n);
			memset(b, 0, sizeof(b));
		}
	}
	const char *p = gm_buf_cstr(&text), *l1 = strchr(p, '\n');
	const char *l2 = l1 ? strchr(l1 + 1, '\n') : NULL, *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
	uint64_t ps = 0;
	if (l3 && strncmp(p, "gpumigrate-upload 1\n", 20) == 0) {
		struct gm_buf num = GM_BUF_INIT;
		gm_buf_add(&num, l1 + 1, (size_t)(l2 - l1 - 1));
		if (gm_parse_u64(gm_buf_cstr(&num), 10, &ps) == GM_OK && ps == w->part_size &&
		    l3 > l2 + 1) {
			gm_buf_add(&w->id, l2 + 1, (size_t)(l3 - l2 - 1));
			gm_buf_grow(&w->id, 0);
			ok = true;
		}
		gm_buf_release(&num);
	}
	if (text.data)
		memset(text.data, 0, text.len);
	gm_buf_release(&text);
	gm_buf_release(&name);
	return ok;
}

static void journal_drop(struct gm_sync_writer *w)
{
	if (w->journal_open)
		gm_sync_journal_close(&w->journal);
	w->journal_open = false;
	int dirfd = w->ep->state_fd;
	if (dirfd < 0 || !w->jname[0])
		return;
	struct gm_buf name = GM_BUF_INIT;
	upload_file(w->jname, &name);
	unlinkat(dirfd, w->jname, 0);
	unlinkat(dirfd, name.data, 0);
	gm_buf_release(&name);
}

static void parts_set(struct gm_sync_writer *w, unsigned number, uint64_t size,
                      const struct gm_buf *tag)
{
	while (w->n_parts < number) {
		w->parts = gm_xreallocarray(w->parts, w->n_parts + 1, sizeof(*w->parts));
		memset(&w->parts[w->n_parts], 0, sizeof(*w->parts));
		w->parts[w->n_parts].number = (unsigned)w->n_parts + 1;
		w->n_parts++;
	}
	struct gm_os_part *p = &w->parts[number - 1];
	p->size = size;
	gm_buf_reset(&p->tag);
	gm_buf_add(&p->tag, tag->data ? tag->data : "", tag->len);
	gm_buf_grow(&p->tag, 0);
}

static void parts_free(struct gm_sync_writer *w)
{
	for (size_t i = 0; i < w->n_parts; i++)
		gm_buf_release(&w->parts[i].tag);
	free(w->parts);
	for (size_t i = 0; i < w->n_adopted; i++)
		gm_buf_release(&w->adopted[i].tag);
	free(w->adopted);
	w->adopted = NULL;
	w->n_adopted = 0;
	w->parts = NULL;
	w->n_parts = 0;
}

/* A part size for total bytes: whole chunks, as few as keep the count within the store's
 * limit (journal records are per chunk, so a part must end on a chunk boundary). */
static uint64_t pick_part_size(const struct gm_os *s, uint64_t total)
{
	uint64_t k = 1;
	while ((total + k * GM_SYNC_CHUNK - 1) / (k * GM_SYNC_CHUNK) > s->max_parts)
		k++;
	return k * GM_SYNC_CHUNK;
}

/* With no journal (a run on another machine or pod, a deleted state directory), an
 * unfinished upload of the same key is taken over instead of left to cost space: its parts
 * whose bytes match what this run sends are kept (send_part compares their MD5), the others
 * sent again, other such uploads aborted. Only where the object's metadata is rewritten at
 * the end (meta_rewrite_max), since the old upload's carries the old source's times. True
 * when w->id now names the adopted upload. */
static bool adopt_upload(struct gm_sync_writer *w)
{
	struct gm_os *s = w->ep->store;
	struct gm_buf ids = GM_BUF_INIT;
	struct gm_err e = GM_ERR_INIT;
	size_t n = 0;
	bool adopted = false;
	if (!s->ops->up_list || (w->flags & GM_SYNC_W_NO_RESUME) || !s->meta_rewrite_max ||
	    w->src.size > s->meta_rewrite_max)
		return false;
	if (s->ops->up_list(s, gm_buf_cstr(&w->key), &ids, &n, &e) != GM_OK) {
		gm_debug("'%s': unfinished uploads not listed: %s", gm_buf_cstr(&w->path),
		         gm_err_msg(&e));
		n = 0;
	}
	const char *id = ids.data;
	for (size_t i = 0; i < n; i++, id += strlen(id) + 1) {
		gm_err_clear(&e);
		if (!adopted && s->ops->up_parts(s, gm_buf_cstr(&w->key), id, &w->adopted,
		                                 &w->n_adopted, &e) == GM_OK) {
			gm_buf_reset(&w->id);
			gm_buf_adds(&w->id, id);
			adopted = true;
			gm_info("'%s': taking over an unfinished upload an earlier run left (%zu "
			        "parts held)",
			        gm_buf_cstr(&w->path), w->n_adopted);
			continue;
		}
		s->ops->up_abort(s, gm_buf_cstr(&w->key), id, NULL);
	}
	gm_buf_release(&ids);
	gm_err_release(&e);
	return adopted;
}

/* Whether the adopted upload holds part number with exactly data's bytes (its ETag is their
 * MD5); then *tag is the part's. */
static bool adopted_part(const struct gm_sync_writer *w, unsigned number, const struct gm_buf *data,
                         const struct gm_buf **tag)
{
	const struct gm_os_part *p = NULL;
	for (size_t i = 0; i < w->n_adopted && !p; i++)
		if (w->adopted[i].number == number)
			p = &w->adopted[i];
	uint8_t md[16];
	struct gm_buf hex = GM_BUF_INIT;
	bool same = false;
	if (p && p->size == data->len && gm_os_md5(data->data, data->len, md)) {
		gm_os_hex(&hex, md, sizeof(md));
		const char *t = gm_buf_cstr(&p->tag);
		size_t tl = p->tag.len;
		if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"')
			t++, tl -= 2;
		same = tl == hex.len && strncasecmp(t, hex.data, tl) == 0;
	}
	gm_buf_release(&hex);
	if (same)
		*tag = &p->tag;
	return same;
}

/* Starts the upload, or finds the one an earlier run left for the same source and how
 * far it got; *resume_at receives the offset to send from. */
static enum gm_rc begin_upload(struct gm_sync_writer *w, uint64_t *resume_at, struct gm_err *err)
{
	struct gm_obj_ep *ep = w->ep;
	struct gm_os *s = ep->store;
	enum gm_rc rc = GM_OK;
	struct gm_os_part *held = NULL;
	size_t n_held = 0;
	int dirfd = state_dir(ep, err);
	if (dirfd < 0)
		return err->rc;
	journal_name(ep, gm_buf_cstr(&w->key), w->jname);
	*resume_at = 0;
	if (!(w->flags & GM_SYNC_W_NO_RESUME) && upload_load(w, dirfd)) {
		struct gm_err jerr = GM_ERR_INIT;
		rc = s->ops->up_parts(s, gm_buf_cstr(&w->key), gm_buf_cstr(&w->id), &held, &n_held,
		                      &jerr);
		/* Parts the store holds from the first on, each of the full size. */
		uint64_t done = 0;
		if (s->sequential_parts && rc == GM_OK && n_held)
			done = held[0].size / w->part_size;
		else
			while (rc == GM_OK && done < n_held && held[done].number == done + 1 &&
			       held[done].size == w->part_size)
				done++;
		uint64_t k = w->part_size / GM_SYNC_CHUNK;
		if (rc == GM_OK)
			rc = gm_sync_journal_load(&w->journal, dirfd, w->jname,
			                          gm_buf_cstr(&w->key), &w->src, done * k,
			                          &w->whole_h, &jerr);
		if (rc == GM_OK && w->journal.chunks % k) { /* back to the last whole part */
			gm_sync_journal_close(&w->journal);
			gm_sync_hasher_reset(&w->whole_h);
			rc = gm_sync_journal_load(&w->journal, dirfd, w->jname,
			                          gm_buf_cstr(&w->key), &w->src,
			                          w->journal.chunks / k * k, &w->whole_h, &jerr);
		}
		if (rc == GM_OK) {
			w->journal_open = true;
			*resume_at = w->journal.chunks * GM_SYNC_CHUNK;
			/* The parts finish will list: the store's own, or for a store that takes
			 * parts in order (GCS) one covering what it persisted. */
			if (s->sequential_parts && *resume_at)
				parts_set(w, 1, *resume_at, &held[0].tag);
			for (size_t i = 0; !s->sequential_parts && i < w->journal.chunks / k; i++)
				parts_set(w, held[i].number, held[i].size, &held[i].tag);
			gm_info("'%s': resuming the upload at %llu of %llu bytes",
			        gm_buf_cstr(&w->path), (unsigned long long)*resume_at,
			        (unsigned long long)w->src.size);
		} else {
			gm_debug("'%s': the earlier upload cannot be resumed: %s",
			         gm_buf_cstr(&w->path), gm_err_msg(&jerr));
			if (rc != GM_ERR_NOT_FOUND || w->id.len)
				s->ops->up_abort(s, gm_buf_cstr(&w->key), gm_buf_cstr(&w->id),
				                 NULL);
			gm_sync_hasher_reset(&w->whole_h);
			gm_buf_reset(&w->id);
		}
		gm_err_release(&jerr);
	}
	for (size_t i = 0; i < n_held; i++)
		gm_buf_release(&held[i].tag);
	free(held);
	if (w->journal_open)
		goto ready;
	if (!adopt_upload(w)) {
		struct gm_obj_kvs kvs;
		gm_obj_kvs_build(&kvs, GM_SYNC_FILE, &w->src, NULL, NULL);
		gm_buf_reset(&w->id);
		rc = s->ops->up_begin(s, gm_buf_cstr(&w->key), w->src.size, kvs.kv, kvs.n, &w->id,
		                      err);
		gm_obj_kvs_release(&kvs);
		if (rc != GM_OK)
			return rc;
	}
	rc = upload_save(w, dirfd, err);
	if (rc == GM_OK)
		rc = gm_sync_journal_create(&w->journal, dirfd, w->jname, gm_buf_cstr(&w->key),
		                            &w->src, err);
	if (rc != GM_OK)
		return rc;
	w->journal_open = true;
ready:
	w->received = w->chunk_start = *resume_at;
	return GM_OK;
}

enum gm_rc gm_obj_open_write(struct gm_sync_endpoint *e, const char *path,
                             const struct gm_sync_meta *src, unsigned flags,
                             struct gm_sync_writer **out, uint64_t *resume_at, struct gm_err *err)
{
	struct gm_obj_ep *ep = (struct gm_obj_ep *)e;
	*out = NULL;
	*resume_at = 0;
	if (!ep->writable)
		return gm_err_set(err, GM_ERR_USAGE, "'%s' was opened read-only",
		                  gm_buf_cstr(&e->where));
	enum gm_rc rc = gm_obj_key_check(ep, path, err);
	if (rc != GM_OK)
		return rc;
	struct gm_sync_writer *w = gm_xcalloc(1, sizeof(*w));
	w->ep = ep;
	w->src = *src;
	w->flags = flags;
	gm_buf_adds(&w->path, path);
	gm_obj_key(ep, path, false, &w->key);
	gm_sync_hasher_init(&w->whole_h);
	gm_sync_hasher_init(&w->chunk_h);
	gm_sync_journal_init(&w->journal);
	for (size_t i = 0; i < UPLOAD_AHEAD; i++) {
		w->jobs[i].w = w;
		gm_err_init(&w->jobs[i].err);
	}
	gm_err_init(&w->fail_err);
	w->multipart = src->size > SINGLE_MAX;
	if (w->multipart) {
		w->part_size = pick_part_size(ep->store, src->size);
		rc = begin_upload(w, resume_at, err);
		gm_buf_grow(&w->part, (size_t)w->part_size);
	} else {
		gm_buf_grow(&w->part, (size_t)src->size);
	}
	if (rc != GM_OK) {
		gm_obj_abort(w, true);
		return rc;
	}
	*out = w;
	return GM_OK;
}

static void *part_main(void *arg)
{
	struct upjob *j = arg;
	struct gm_sync_writer *w = j->w;
	struct gm_os *s = w->ep->store;
	j->rc = s->ops->up_part(s, gm_buf_cstr(&w->key), gm_buf_cstr(&w->id), j->number, j->off,
	                        j->data.data, j->data.len, w->src.size, &j->tag, &j->err);
	return NULL;
}

static void job_join(struct upjob *j)
{
	if (!j->busy)
		return;
	pthread_join(j->t, NULL);
	j->busy = false;
	struct gm_sync_writer *w = j->w;
	if (j->rc == GM_OK)
		parts_set(w, j->number, j->data.len, &j->tag);
	else if (w->failed == GM_OK) {
		w->failed = j->rc;
		gm_err_set(&w->fail_err, j->rc, "%s", gm_err_msg(&j->err));
	}
	if (j->spare)
		gm_obj_spare_give(w->ep), j->spare = false;
	gm_buf_reset(&j->data);
}

static void jobs_join(struct gm_sync_writer *w)
{
	for (size_t i = 0; i < UPLOAD_AHEAD; i++)
		job_join(&w->jobs[(w->next_job + i) % UPLOAD_AHEAD]);
}

/* Sends the filled part: on a thread while the next one fills when the budget allows,
 * else here. */
static enum gm_rc send_part(struct gm_sync_writer *w, struct gm_err *err)
{
	uint64_t off = w->received - w->part.len;
	unsigned number = (unsigned)(off / w->part_size) + 1;
	if (w->ep->store->sequential_parts) { /* in order, after the one before */
		jobs_join(w);
		number = (unsigned)w->n_parts + 1;
	}
	const struct gm_buf *held = NULL;
	if (w->n_adopted && adopted_part(w, number, &w->part, &held)) {
		parts_set(w, number, w->part.len, held); /* the store has these bytes already */
		gm_buf_reset(&w->part);
		return GM_OK;
	}
	struct upjob *j = &w->jobs[w->next_job];
	job_join(j);
	if (w->failed != GM_OK)
		return gm_err_set(err, w->failed, "%s", gm_err_msg(&w->fail_err));
	w->next_job = (w->next_job + 1) % UPLOAD_AHEAD;
	struct gm_buf swap = j->data;
	j->data = w->part;
	w->part = swap;
	gm_buf_reset(&w->part);
	gm_buf_grow(&w->part, (size_t)w->part_size);
	j->number = number;
	j->off = off;
	j->spare = gm_obj_spare_take(w->ep);
	if (j->spare && pthread_create(&j->t, NULL, part_main, j) == 0) {
		j->busy = true;
		return GM_OK;
	}
	if (j->spare)
		gm_obj_spare_give(w->ep), j->spare = false;
	part_main(j);
	if (j->rc == GM_OK) {
		parts_set(w, j->number, j->data.len, &j->tag);
		gm_buf_reset(&j->data);
		return GM_OK;
	}
	return gm_err_set(err, j->rc, "%s", gm_err_msg(&j->err));
}

static enum gm_rc take(struct gm_sync_writer *w, const void *data, size_t len, struct gm_err *err)
{
	while (len) {
		size_t n = len;
		if (w->multipart && w->part.len + n > w->part_size)
			n = (size_t)(w->part_size - w->part.len);
		if (data)
			gm_buf_add(&w->part, data, n);
		else
			gm_buf_addpad(&w->part, '\0', n);
		w->received += n;
		len -= n;
		if (data)
			data = (const char *)data + n;
		if (w->multipart && w->part.len == w->part_size) {
			enum gm_rc rc = send_part(w, err);
			if (rc != GM_OK)
				return rc;
		}
	}
	return GM_OK;
}

enum gm_rc gm_obj_write(struct gm_sync_writer *w, const void *data, size_t len, struct gm_err *err)
{
	if (w->received + len > w->src.size)
		return gm_err_set(err, GM_ERR_CHANGED, "'%s' grew while it was read",
		                  gm_buf_cstr(&w->path));
	gm_sync_hasher_update(&w->whole_h, data, len);
	gm_sync_hasher_update(&w->chunk_h, data, len);
	return take(w, data, len, err);
}

enum gm_rc gm_obj_hole(struct gm_sync_writer *w, uint64_t len, struct gm_err *err)
{
	if (w->received + len > w->src.size)
		return gm_err_set(err, GM_ERR_CHANGED, "'%s' grew while it was read",
		                  gm_buf_cstr(&w->path));
	gm_sync_hasher_zeros(&w->whole_h, len);
	gm_sync_hasher_zeros(&w->chunk_h, len);
	enum gm_rc rc = GM_OK;
	while (rc == GM_OK && len) { /* objects have no holes: zeros, a MiB at a time */
		size_t n = len < PIECE_MAX ? (size_t)len : PIECE_MAX;
		rc = take(w, NULL, n, err);
		len -= n;
	}
	return rc;
}

enum gm_rc gm_obj_chunk(struct gm_sync_writer *w, const struct gm_sync_hash *src_hash,
                        struct gm_err *err)
{
	struct gm_sync_hash h;
	gm_sync_hasher_digest(&w->chunk_h, &h);
	gm_sync_hasher_reset(&w->chunk_h);
	uint64_t index = w->chunk_start / GM_SYNC_CHUNK;
	w->chunk_start = w->received;
	if (!gm_sync_hash_equal(&h, src_hash))
		return gm_err_set(err, GM_ERR_MISMATCH,
		                  "'%s': chunk %llu arrived damaged (its hash differs from the "
		                  "source's); nothing was put in place",
		                  gm_buf_cstr(&w->path), (unsigned long long)index);
	if (w->journal_open && index == w->journal.chunks)
		return gm_sync_journal_append(&w->journal, index, &h, &w->whole_h, err);
	return GM_OK;
}

static bool meta_moved(const struct gm_sync_meta *a, const struct gm_sync_meta *b)
{
	return a->mode != b->mode || a->mtime_ns != b->mtime_ns || a->uid != b->uid ||
	       a->gid != b->gid;
}

enum gm_rc gm_obj_commit(struct gm_sync_writer *w, const struct gm_sync_hash *whole,
                         const struct gm_sync_meta *meta, const struct gm_buf *xattrs,
                         struct gm_sync_hash *written, struct gm_err *err)
{
	(void)xattrs;
	struct gm_os *s = w->ep->store;
	struct gm_sync_hash h;
	struct gm_obj_kvs kvs = {.n = 0};
	enum gm_rc rc = GM_OK;
	gm_buf_init(&kvs.store);
	gm_sync_hasher_digest(&w->whole_h, &h);
	if (w->received != w->src.size) {
		rc = gm_err_set(err, GM_ERR_CHANGED, "'%s' changed size while it was read",
		                gm_buf_cstr(&w->path));
		goto fail;
	}
	if (whole && !gm_sync_hash_equal(whole, &h)) {
		rc = gm_err_set(err, GM_ERR_MISMATCH,
		                "'%s': the bytes received do not match the source's hash; nothing "
		                "was put in place",
		                gm_buf_cstr(&w->path));
		goto fail;
	}
	if (!w->multipart) {
		gm_obj_kvs_build(&kvs, GM_SYNC_FILE, meta, &h, NULL);
		rc = s->ops->put(s, gm_buf_cstr(&w->key), w->part.data ? w->part.data : "",
		                 w->part.len, kvs.kv, kvs.n, NULL, err);
		if (rc != GM_OK)
			goto fail;
		goto done;
	}
	if (w->part.len) {
		rc = send_part(w, err);
		if (rc != GM_OK)
			goto fail;
	}
	jobs_join(w);
	if (w->failed != GM_OK) {
		rc = gm_err_set(err, w->failed, "%s", gm_err_msg(&w->fail_err));
		goto fail;
	}
	rc = s->ops->up_finish(s, gm_buf_cstr(&w->key), gm_buf_cstr(&w->id), w->parts, w->n_parts,
	                       NULL, err);
	if (rc != GM_OK)
		goto fail;
	journal_drop(w);
	/* The content hash is known only now: it goes into the metadata so --checksum and
	 * verify need not read the object back. GCS changes metadata in place; S3 rewrites the
	 * object onto itself (MinIO and Ceph change only the metadata, AWS copies inside the
	 * store, up to 5 GiB). Above that the hash stays unknown and --checksum reads the
	 * object; a refused rewrite is a warning, the object itself is complete. Changed mode
	 * or mtime are set either way. */
	bool add_hash = !s->meta_rewrite_max || w->src.size <= s->meta_rewrite_max;
	bool moved = meta_moved(meta, &w->src);
	if (!add_hash && !moved)
		goto done;
	gm_obj_kvs_build(&kvs, GM_SYNC_FILE, meta, add_hash ? &h : NULL, NULL);
	rc = s->ops->set_meta(s, gm_buf_cstr(&w->key), kvs.kv, kvs.n, err);
	if (rc != GM_OK && !moved && rc != GM_ERR_INTERRUPTED) {
		gm_warn("%s; the content hash of '%s' was not stored, so --checksum and verify "
		        "will read it",
		        gm_err_msg(err), gm_buf_cstr(&w->path));
		gm_err_clear(err);
		rc = GM_OK;
	}
	if (rc != GM_OK)
		goto out;
done:
	if (written)
		*written = h;
	goto out;
fail:
	jobs_join(w);
	if (w->multipart && rc != GM_ERR_INTERRUPTED && rc != GM_ERR_UNREACHABLE) {
		s->ops->up_abort(s, gm_buf_cstr(&w->key), gm_buf_cstr(&w->id), NULL);
		journal_drop(w);
	}
out:
	gm_obj_kvs_release(&kvs);
	gm_obj_abort(w, true);
	return rc;
}

void gm_obj_abort(struct gm_sync_writer *w, bool keep)
{
	if (!w)
		return;
	jobs_join(w);
	if (w->multipart && !keep && w->id.len) {
		struct gm_os *s = w->ep->store;
		s->ops->up_abort(s, gm_buf_cstr(&w->key), gm_buf_cstr(&w->id), NULL);
		journal_drop(w);
	}
	if (w->journal_open)
		gm_sync_journal_close(&w->journal);
	for (size_t i = 0; i < UPLOAD_AHEAD; i++) {
		gm_buf_release(&w->jobs[i].data);
		gm_buf_release(&w->jobs[i].tag);
		gm_err_release(&w->jobs[i].err);
	}
	parts_free(w);
	gm_err_release(&w->fail_err);
	if (w->id.data)
		memset(w->id.data, 0, w->id.len);
	gm_buf_release(&w->id);
	gm_buf_release(&w->part);
	gm_buf_release(&w->path);
	gm_buf_release(&w->key);
	gm_sync_hasher_release(&w->whole_h);
	gm_sync_hasher_release(&w->chunk_h);
	free(w);
}

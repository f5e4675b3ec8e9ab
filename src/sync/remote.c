/* The remote endpoint (remote.h): struct gm_sync_ops as requests over the sync protocol.
 * Each connection has a send lock (a frame, or a writer's batch of frames, goes out whole)
 * and a receiver thread that decodes every frame the server sends — all checking happens
 * there, and a frame that breaks the protocol ends the connection — and queues it on the
 * call waiting for its request id. Read streams are bounded per call: when a reader falls
 * behind, the receiver stops reading and the pipe pushes back on the server. Every
 * connection's server writes (they share the root's lock through its token), so requests
 * of every kind are spread over all of them. */
#include "sync/remote.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zstd.h>

#include "sync/delta.h"
#include "sync/proto.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* How many bytes of a read stream (or a signature) may wait for its reader before the
 * receiver stops. */
#define STREAM_QUEUE_MAX ((size_t)8 << 20)
/* A writer sends its frames once this much has gathered (and at commit). */
#define WRITER_BATCH ((size_t)256 << 10)
/* Commits of small files sent but not answered yet, per connection: a commit waits while
 * this many are outstanding. */
#define DEFERRED_MAX 512

struct item {
	struct item *next;
	struct gm_proto_msg m;
	struct gm_buf payload; /* DATA: m.data points here */
	size_t cost;           /* what it counts against its call's queue */
};

enum call_kind {
	CALL_RPC,    /* one reply (LIST: LIST_R frames until one without F_MORE) */
	CALL_STREAM, /* a read stream: DATA/HOLE/CHUNK until END or ERROR */
	CALL_WRITE,  /* a write stream: OPEN_WRITE_R, then at most an ERROR */
};

struct call {
	struct call *next;
	uint32_t id;
	enum call_kind kind;
	uint8_t expect; /* CALL_RPC: the reply type */
	bool done;      /* its last frame was queued; it left the table */
	struct item *head, *tail;
	size_t bytes;
	pthread_cond_t cv;
	struct gm_sync_list *list; /* LIST: entries go straight here */
};

/* A commit sent without waiting for its answer (r_commit): heard by the receiver. */
struct deferred {
	struct deferred *next;
	uint32_t id;
	struct gm_sync_hash whole; /* what COMMIT_R must say the file now is */
	char path[];
};

/* A deferred commit that failed, for drain. */
struct dfail {
	struct dfail *next;
	enum gm_rc rc;
	char *msg;
	char path[];
};

struct remote;

struct conn {
	struct remote *r;
	struct gm_proto_in in; /* the receiver's (and the HELLO's before it) */
	int out;
	/* the write side: one thread at a time writes (flushing); frames that come meanwhile
	 * gather in sbuf, which that thread sends before it stops. Also guards zctx. */
	pthread_mutex_t send_lock;
	pthread_cond_t send_cv; /* sbuf was taken, or the writing thread stopped */
	bool flushing;
	struct gm_buf sbuf, wbuf; /* gathering; being written (the writing thread's) */
	ZSTD_CCtx *zctx;

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t space_cv;
	struct call *calls;
	uint32_t next_id;
	bool dead, closing;
	bool wrapped; /* request ids went round: new ones are checked against the deferred */
	enum gm_rc dead_rc;
	struct gm_buf dead_msg;
	/* deferred commits, oldest first (answers come back nearly in order), and those
	 * that failed; dcv: one was answered or the connection died */
	struct deferred *dhead, *dtail;
	size_t ndeferred;
	struct dfail *fails;
	pthread_cond_t dcv;

	pthread_t rx;
	bool rx_started;
	uint64_t wire; /* bytes sent and received, as on the wire (atomic) */
};

struct remote {
	struct gm_sync_endpoint base;
	struct conn *conns;
	size_t nconns;
	unsigned rr;
	bool zstd;
	enum gm_sync_kind root_kind;
	bool has_token; /* the first server's lock token, for the others' HELLO */
	struct gm_sync_hash token;
	struct gm_buf host;
	void (*on_close)(void *);
	void *on_close_ctx;
};

static const struct gm_sync_ops remote_ops;

/* ---- items and calls ---- */

static void item_free(struct item *it)
{
	if (!it)
		return;
	gm_proto_msg_release(&it->m);
	gm_buf_release(&it->payload);
	free(it);
}

static void call_init(struct call *c, enum call_kind kind, uint8_t expect)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->expect = expect;
	pthread_cond_init(&c->cv, NULL);
}

static void call_release(struct call *c)
{
	while (c->head) {
		struct item *it = c->head;
		c->head = it->next;
		item_free(it);
	}
	pthread_cond_destroy(&c->cv);
}

/* Unlinks c from the table (conn->lock held). */
static void call_unlink(struct conn *cn, struct call *c)
{
	for (struct call **pp = &cn->calls; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
}

static struct call *call_find(struct conn *cn, uint32_t id)
{
	for (struct call *c = cn->calls; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static bool deferred_used(const struct conn *cn, uint32_t id)
{
	if (!cn->wrapped)
		return false;
	for (const struct deferred *d = cn->dhead; d; d = d->next)
		if (d->id == id)
			return true;
	return false;
}

/* A request id not in use (conn->lock held). */
static uint32_t conn_new_id(struct conn *cn)
{
	uint32_t id;
	for (;;) {
		id = ++cn->next_id;
		if (id == 0) {
			cn->wrapped = true;
			continue;
		}
		if (!call_find(cn, id) && !deferred_used(cn, id))
			return id;
	}
}

/* Gives c an id and puts it in the table. False when the connection is dead. */
static bool call_register(struct conn *cn, struct call *c, struct gm_err *err)
{
	bool ok;
	pthread_mutex_lock(&cn->lock);
	ok = !cn->dead;
	if (ok) {
		c->id = conn_new_id(cn);
		c->next = cn->calls;
		cn->calls = c;
	} else {
		gm_err_set(err, cn->dead_rc, "%s", gm_buf_cstr(&cn->dead_msg));
	}
	pthread_mutex_unlock(&cn->lock);
	return ok;
}

/* Takes c out of the table if it is still there and drops what was queued. */
static void call_forget(struct conn *cn, struct call *c)
{
	pthread_mutex_lock(&cn->lock);
	if (!c->done)
		call_unlink(cn, c);
	c->done = true;
	while (c->head) {
		struct item *it = c->head;
		c->head = it->next;
		item_free(it);
	}
	c->tail = NULL;
	c->bytes = 0;
	pthread_cond_broadcast(&cn->space_cv);
	pthread_mutex_unlock(&cn->lock);
}

/* ---- connection failure ---- */

/* Marks the connection dead (the first reason wins) and wakes everyone waiting on it. */
static void conn_die(struct conn *cn, enum gm_rc rc, const char *msg)
{
	pthread_mutex_lock(&cn->lock);
	if (!cn->dead) {
		cn->dead = true;
		cn->dead_rc = rc;
		gm_buf_reset(&cn->dead_msg);
		gm_buf_adds(&cn->dead_msg, msg);
	}
	for (struct call *c = cn->calls; c; c = c->next)
		pthread_cond_broadcast(&c->cv);
	pthread_cond_broadcast(&cn->space_cv);
	pthread_cond_broadcast(&cn->dcv);
	pthread_mutex_unlock(&cn->lock);
}

static void conn_lost(struct conn *cn, const struct gm_err *e)
{
	struct gm_buf msg = GM_BUF_INIT;
	if (e->rc == GM_ERR_UNREACHABLE)
		gm_buf_addf(&msg, "lost the connection to '%s' (%s)", gm_buf_cstr(&cn->r->host),
		            gm_err_msg(e));
	else
		gm_buf_addf(&msg, "'%s': %s", gm_buf_cstr(&cn->r->host), gm_err_msg(e));
	conn_die(cn, e->rc == GM_ERR_UNREACHABLE ? GM_ERR_UNREACHABLE : GM_ERR_PROTOCOL,
	         gm_buf_cstr(&msg));
	gm_buf_release(&msg);
}

/* ---- sending ---- */

/* Frames that may gather while another thread writes; beyond this, senders wait. */
#define SEND_GATHER_MAX ((size_t)1 << 20)

/* The error of a dead connection into err, or GM_OK. */
static enum gm_rc conn_dead_err(struct conn *cn, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	pthread_mutex_lock(&cn->lock);
	if (cn->dead)
		rc = gm_err_set(err, cn->dead_rc, "%s", gm_buf_cstr(&cn->dead_msg));
	pthread_mutex_unlock(&cn->lock);
	return rc;
}

/* Writes data on the connection (send_lock not held); false when the connection broke. */
static bool conn_write_out(struct conn *cn, const void *data, size_t len)
{
	struct gm_err e = GM_ERR_INIT;
	bool ok = gm_proto_write_all(cn->out, data, len, &e) == GM_OK;
	if (ok)
		__atomic_add_fetch(&cn->wire, (uint64_t)len, __ATOMIC_RELAXED);
	else
		conn_lost(cn, &e);
	gm_err_release(&e);
	return ok;
}

/* Sends frames (already encoded, whole) on the connection. When another thread is writing,
 * they are handed to it and this returns at once: so the frames of many small files leave
 * in a few large writes, and no sender sleeps on the lock while another one writes. A
 * failure to send them is the connection's, heard by the next call or by drain. */
static enum gm_rc conn_write(struct conn *cn, const struct gm_buf *frames, struct gm_err *err)
{
	enum gm_rc rc = conn_dead_err(cn, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&cn->send_lock);
	while (cn->flushing && cn->sbuf.len >= SEND_GATHER_MAX)
		pthread_cond_wait(&cn->send_cv, &cn->send_lock);
	if (cn->flushing) {
		gm_buf_add(&cn->sbuf, frames->data, frames->len);
		pthread_mutex_unlock(&cn->send_lock);
		return GM_OK;
	}
	/* this thread writes: its own frames, then whatever gathered meanwhile */
	cn->flushing = true;
	pthread_mutex_unlock(&cn->send_lock);
	bool ok = conn_write_out(cn, frames->data, frames->len);
	if (!ok)
		rc = conn_dead_err(cn, err);
	pthread_mutex_lock(&cn->send_lock);
	while (cn->sbuf.len) {
		struct gm_buf t = cn->wbuf;
		cn->wbuf = cn->sbuf;
		cn->sbuf = t;
		gm_buf_reset(&cn->sbuf);
		pthread_cond_broadcast(&cn->send_cv);
		pthread_mutex_unlock(&cn->send_lock);
		if (ok)
			ok = conn_write_out(cn, cn->wbuf.data, cn->wbuf.len);
		pthread_mutex_lock(&cn->send_lock);
	}
	cn->flushing = false;
	pthread_cond_broadcast(&cn->send_cv);
	pthread_mutex_unlock(&cn->send_lock);
	return rc;
}

static enum gm_rc conn_send(struct conn *cn, const struct gm_proto_msg *m, struct gm_err *err)
{
	struct gm_buf f = GM_BUF_INIT;
	gm_proto_encode(m, &f);
	enum gm_rc rc = conn_write(cn, &f, err);
	gm_buf_release(&f);
	return rc;
}

/* Appends a DATA (or PATCH) frame to out, compressed with the connection's context when
 * agreed. */
static void conn_encode_raw(struct conn *cn, uint8_t type, bool eof, uint32_t id, const void *data,
                            size_t len, struct gm_buf *out)
{
	if (cn->zctx)
		pthread_mutex_lock(&cn->send_lock);
	if (type == GM_PROTO_PATCH)
		gm_proto_encode_patch(id, data, len, eof, cn->zctx, out);
	else
		gm_proto_encode_data(id, data, len, cn->zctx, out);
	if (cn->zctx)
		pthread_mutex_unlock(&cn->send_lock);
}

/* Sends a frame that carries only its type, id and flags (CANCEL, ABORT); errors are the
 * connection's, heard by the next call. */
static void conn_send_control(struct conn *cn, uint8_t type, uint32_t id, uint8_t flags)
{
	struct gm_proto_msg m;
	gm_proto_msg_init(&m);
	m.type = type;
	m.id = id;
	m.flags = flags;
	conn_send(cn, &m, NULL);
	gm_proto_msg_release(&m);
}

/* ---- receiving ---- */

static bool reply_fits(const struct call *c, uint8_t type)
{
	if (type == GM_PROTO_ERROR)
		return true;
	switch (c->kind) {
	case CALL_RPC: return type == c->expect;
	case CALL_STREAM:
		return type == GM_PROTO_DATA || type == GM_PROTO_HOLE || type == GM_PROTO_CHUNK ||
		       type == GM_PROTO_END;
	case CALL_WRITE: return type == GM_PROTO_OPEN_WRITE_R && !c->head;
	}
	return false;
}

static bool reply_final(const struct call *c, const struct item *it)
{
	switch (c->kind) {
	case CALL_RPC: return !(it->m.flags & GM_PROTO_F_MORE);
	case CALL_STREAM: return it->m.type == GM_PROTO_END || it->m.type == GM_PROTO_ERROR;
	case CALL_WRITE: return it->m.type == GM_PROTO_ERROR;
	}
	return true;
}

/* Records a deferred commit's failure (conn->lock held); takes d. */
static void deferred_fail(struct conn *cn, struct deferred *d, enum gm_rc rc, const char *msg)
{
	size_t len = strlen(d->path);
	struct dfail *f = gm_xmalloc(sizeof(*f) + len + 1);
	memcpy(f->path, d->path, len + 1);
	f->rc = rc ? rc : GM_ERR_INTERNAL;
	f->msg = gm_xstrdup(msg);
	f->next = cn->fails;
	cn->fails = f;
	free(d);
}

/* The answer to a deferred commit, if h is one (conn->lock held): records a failure, drops
 * the entry and wakes drain and full windows. False when h.id is no deferred commit. A frame
 * that does not decode sets e (the connection ends). */
static bool deferred_answer(struct conn *cn, const struct gm_proto_hdr *h, struct item *it,
                            struct gm_err *e)
{
	struct deferred **pp = &cn->dhead, *prev = NULL;
	while (*pp && (*pp)->id != h->id) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	struct deferred *d = *pp;
	if (!d)
		return false;
	if (gm_proto_decode(h, (const uint8_t *)it->payload.data, &it->m, e))
		return true;
	*pp = d->next;
	if (cn->dtail == d)
		cn->dtail = prev;
	cn->ndeferred--;
	if (it->m.type == GM_PROTO_ERROR) {
		deferred_fail(cn, d, it->m.rc, gm_buf_cstr(&it->m.b));
	} else if (!gm_sync_hash_equal(&it->m.hash, &d->whole)) {
		struct gm_buf msg = GM_BUF_INIT;
		gm_buf_addf(&msg, "'%s' committed '%s' with other content than was sent",
		            gm_buf_cstr(&cn->r->host), d->path);
		deferred_fail(cn, d, GM_ERR_MISMATCH, gm_buf_cstr(&msg));
		gm_buf_release(&msg);
	} else {
		free(d);
	}
	pthread_cond_broadcast(&cn->dcv);
	return true;
}

static void *rx_main(void *arg)
{
	struct conn *cn = arg;
	struct gm_err e = GM_ERR_INIT;
	struct gm_proto_hdr h;
	struct gm_buf payload = GM_BUF_INIT, plain = GM_BUF_INIT;
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	if (!dctx)
		gm_xalloc_fail();

	for (;;) {
		gm_err_clear(&e);
		if (gm_proto_in_frame(&cn->in, &h, &payload, &e))
			break;
		__atomic_add_fetch(&cn->wire, (uint64_t)GM_PROTO_HDR + h.len, __ATOMIC_RELAXED);
		struct item *it = gm_xcalloc(1, sizeof(*it));
		gm_proto_msg_init(&it->m);
		if (h.type == GM_PROTO_DATA && (h.flags & GM_PROTO_F_ZSTD)) {
			if (gm_proto_unzstd(dctx, (const uint8_t *)payload.data, h.len, &plain,
			                    &e)) {
				item_free(it);
				break;
			}
			h.flags &= (uint8_t)~GM_PROTO_F_ZSTD;
			h.len = (uint32_t)plain.len;
			it->payload = plain;
			gm_buf_init(&plain);
		} else {
			it->payload = payload;
			gm_buf_init(&payload);
		}

		pthread_mutex_lock(&cn->lock);
		struct call *c = call_find(cn, h.id);
		if (!c && h.id == 0 && h.type == GM_PROTO_ERROR) {
			/* the server gave up on the connection: its last word */
			pthread_mutex_unlock(&cn->lock);
			if (!gm_proto_decode(&h, (const uint8_t *)it->payload.data, &it->m, &e))
				gm_err_set(&e, it->m.rc, "the server stopped: %s",
				           gm_buf_cstr(&it->m.b));
			item_free(it);
			break;
		}
		if (!c && (h.type == GM_PROTO_COMMIT_R || h.type == GM_PROTO_ERROR) &&
		    deferred_answer(cn, &h, it, &e)) {
			pthread_mutex_unlock(&cn->lock);
			item_free(it);
			if (e.rc)
				break;
			continue;
		}
		if (!c) { /* a stream the caller gave up on */
			pthread_mutex_unlock(&cn->lock);
			item_free(it);
			continue;
		}
		if (!reply_fits(c, h.type)) {
			pthread_mutex_unlock(&cn->lock);
			gm_err_set(&e, GM_ERR_PROTOCOL, "protocol error: unexpected %s frame",
			           gm_proto_type_name(h.type));
			item_free(it);
			break;
		}
		it->m.list = h.type == GM_PROTO_LIST_R ? c->list : NULL;
		if (gm_proto_decode(&h, (const uint8_t *)it->payload.data, &it->m, &e)) {
			pthread_mutex_unlock(&cn->lock);
			item_free(it);
			break;
		}
		if (h.type != GM_PROTO_DATA)
			gm_buf_release(&it->payload);
		it->cost = it->m.data_len + it->m.b.len + 64;
		/* back-pressure: wait while this stream's reader is behind */
		while (c && c->bytes > STREAM_QUEUE_MAX && !cn->dead) {
			pthread_cond_wait(&cn->space_cv, &cn->lock);
			c = call_find(cn, h.id);
		}
		if (!c || cn->dead) {
			pthread_mutex_unlock(&cn->lock);
			item_free(it);
			if (cn->dead)
				break;
			continue;
		}
		if (c->tail)
			c->tail->next = it;
		else
			c->head = it;
		c->tail = it;
		c->bytes += it->cost;
		if (reply_final(c, it)) {
			c->done = true;
			call_unlink(cn, c);
		}
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&cn->lock);
	}

	pthread_mutex_lock(&cn->lock);
	bool closing = cn->closing;
	pthread_mutex_unlock(&cn->lock);
	if (closing && e.rc == GM_ERR_UNREACHABLE)
		conn_die(cn, GM_ERR_UNREACHABLE, "the connection was closed");
	else
		conn_lost(cn, &e);
	ZSTD_freeDCtx(dctx);
	gm_buf_release(&payload);
	gm_buf_release(&plain);
	gm_err_release(&e);
	return NULL;
}

/* The next frame for c, waiting for it. NULL with err set when the connection died first. */
static struct item *call_next(struct conn *cn, struct call *c, struct gm_err *err)
{
	struct item *it = NULL;
	pthread_mutex_lock(&cn->lock);
	while (!c->head && !c->done && !cn->dead)
		pthread_cond_wait(&c->cv, &cn->lock);
	if (c->head) {
		it = c->head;
		c->head = it->next;
		if (!c->head)
			c->tail = NULL;
		c->bytes -= it->cost;
		it->next = NULL;
		pthread_cond_broadcast(&cn->space_cv);
	} else if (cn->dead) {
		gm_err_set(err, cn->dead_rc, "%s", gm_buf_cstr(&cn->dead_msg));
	} else {
		gm_err_set(err, GM_ERR_INTERNAL, "no more replies for request %u", c->id);
	}
	pthread_mutex_unlock(&cn->lock);
	return it;
}

/* An ERROR frame as the caller's error. */
static enum gm_rc reply_error(const struct item *it, struct gm_err *err)
{
	return gm_err_set(err, it->m.rc, "%s", gm_buf_cstr(&it->m.b));
}

/* ---- the endpoint ---- */

static struct conn *pick(struct remote *r)
{
	size_t n = r->nconns; /* gm_sync_remote_open refuses zero connections */
	assert(n > 0);
	unsigned start = __atomic_fetch_add(&r->rr, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < n; i++) {
		struct conn *cn = &r->conns[(start + i) % n];
		pthread_mutex_lock(&cn->lock);
		bool dead = cn->dead;
		pthread_mutex_unlock(&cn->lock);
		if (!dead)
			return cn;
	}
	return &r->conns[start % n];
}

/* Registers c on cn and sends req as its request (req->id is set). On failure c is out of
 * the table again, and err says why. */
static enum gm_rc call_start(struct conn *cn, struct call *c, struct gm_proto_msg *req,
                             struct gm_err *err)
{
	if (!call_register(cn, c, err))
		return err->rc;
	req->id = c->id;
	enum gm_rc rc = conn_send(cn, req, err);
	if (rc)
		call_forget(cn, c);
	return rc;
}

/* One request, one reply. *reply receives the reply item (free it), unless it was an ERROR. */
static enum gm_rc rpc(struct remote *r, struct gm_proto_msg *req, uint8_t expect,
                      struct gm_sync_list *list, struct item **reply, struct gm_err *err)
{
	struct conn *cn = pick(r);
	struct call c;
	enum gm_rc rc = GM_OK;
	call_init(&c, CALL_RPC, expect);
	c.list = list;
	*reply = NULL;
	rc = call_start(cn, &c, req, err);
	while (!rc) {
		struct item *it = call_next(cn, &c, err);
		if (!it) {
			call_forget(cn, &c);
			rc = err->rc;
			break;
		}
		if (it->m.type == GM_PROTO_ERROR) {
			rc = reply_error(it, err);
			item_free(it);
			break;
		}
		if (it->m.flags & GM_PROTO_F_MORE) {
			item_free(it);
			continue;
		}
		*reply = it;
		break;
	}
	call_release(&c);
	return rc;
}

static void req_init(struct gm_proto_msg *m, uint8_t type, const char *path)
{
	gm_proto_msg_init(m);
	m->type = type;
	if (path)
		gm_buf_adds(&m->a, path);
}

static enum gm_rc simple_rpc(struct remote *r, struct gm_proto_msg *req, uint8_t expect,
                             struct gm_err *err)
{
	struct item *it = NULL;
	enum gm_rc rc = rpc(r, req, expect, NULL, &it, err);
	item_free(it);
	gm_proto_msg_release(req);
	return rc;
}

static enum gm_rc r_stat(struct gm_sync_endpoint *ep, const char *path, struct gm_sync_meta *meta,
                         struct gm_buf *link, struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	struct gm_proto_msg req;
	struct item *it = NULL;
	req_init(&req, GM_PROTO_STAT, path);
	enum gm_rc rc = rpc(r, &req, GM_PROTO_STAT_R, NULL, &it, err);
	if (!rc) {
		*meta = it->m.meta;
		if (link) {
			gm_buf_reset(link);
			if (it->m.has_b)
				gm_buf_add(link, it->m.b.data, it->m.b.len);
		}
	}
	item_free(it);
	gm_proto_msg_release(&req);
	return rc;
}

static enum gm_rc r_list(struct gm_sync_endpoint *ep, const char *dir, struct gm_sync_list *out,
                         struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	struct gm_proto_msg req;
	struct item *it = NULL;
	gm_sync_list_reset(out);
	req_init(&req, GM_PROTO_LIST, dir);
	enum gm_rc rc = rpc(r, &req, GM_PROTO_LIST_R, out, &it, err);
	item_free(it);
	gm_proto_msg_release(&req);
	if (rc) {
		gm_sync_list_reset(out);
		return rc;
	}
	/* the engine's merge-join relies on the order: never trust the peer's */
	gm_sync_list_sort(out);
	for (size_t i = 1; i < out->n; i++)
		if (out->v[i - 1].name_len == out->v[i].name_len &&
		    !memcmp(out->v[i - 1].name, out->v[i].name, out->v[i].name_len)) {
			gm_sync_list_reset(out);
			return gm_err_set(err, GM_ERR_PROTOCOL,
			                  "protocol error: '%s' listed the same name twice in '%s'",
			                  gm_buf_cstr(&r->host), dir);
		}
	if (!dir[0]) /* the server hides its own area; so do we */
		for (size_t i = 0; i < out->n; i++)
			if (out->v[i].name_len == strlen(GM_SYNC_AREA) &&
			    !memcmp(out->v[i].name, GM_SYNC_AREA, out->v[i].name_len)) {
				memmove(&out->v[i], &out->v[i + 1],
				        (out->n - i - 1) * sizeof(out->v[0]));
				out->n--;
				break;
			}
	return GM_OK;
}

static enum gm_rc r_hash(struct gm_sync_endpoint *ep, const char *path, struct gm_sync_hash *out,
                         struct gm_sync_meta *meta, struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	struct gm_proto_msg req;
	struct item *it = NULL;
	req_init(&req, GM_PROTO_HASH, path);
	enum gm_rc rc = rpc(r, &req, GM_PROTO_HASH_R, NULL, &it, err);
	if (!rc) {
		*out = it->m.hash;
		if (meta)
			*meta = it->m.meta;
	}
	item_free(it);
	gm_proto_msg_release(&req);
	return rc;
}

static enum gm_rc r_xattrs(struct gm_sync_endpoint *ep, const char *path, struct gm_buf *blob,
                           struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	struct gm_proto_msg req;
	struct item *it = NULL;
	req_init(&req, GM_PROTO_XATTRS, path);
	enum gm_rc rc = rpc(r, &req, GM_PROTO_XATTRS_R, NULL, &it, err);
	gm_buf_reset(blob);
	if (!rc)
		gm_buf_add(blob, it->m.b.data, it->m.b.len);
	item_free(it);
	gm_proto_msg_release(&req);
	return rc;
}

static enum gm_rc r_space(struct gm_sync_endpoint *ep, uint64_t *avail, struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	struct gm_proto_msg req;
	struct item *it = NULL;
	req_init(&req, GM_PROTO_SPACE, NULL);
	enum gm_rc rc = rpc(r, &req, GM_PROTO_SPACE_R, NULL, &it, err);
	if (!rc)
		*avail = it->m.num;
	item_free(it);
	gm_proto_msg_release(&req);
	return rc;
}

static enum gm_rc r_mkdir(struct gm_sync_endpoint *ep, const char *path,
                          const struct gm_sync_meta *meta, struct gm_err *err)
{
	struct gm_proto_msg req;
	req_init(&req, GM_PROTO_MKDIR, path);
	req.meta = *meta;
	return simple_rpc((struct remote *)ep, &req, GM_PROTO_OK, err);
}

static enum gm_rc r_symlink(struct gm_sync_endpoint *ep, const char *path, const char *target,
                            const struct gm_sync_meta *meta, struct gm_err *err)
{
	struct gm_proto_msg req;
	req_init(&req, GM_PROTO_SYMLINK, path);
	gm_buf_adds(&req.b, target);
	req.meta = *meta;
	return simple_rpc((struct remote *)ep, &req, GM_PROTO_OK, err);
}

static enum gm_rc r_hardlink(struct gm_sync_endpoint *ep, const char *existing, const char *path,
                             struct gm_err *err)
{
	struct gm_proto_msg req;
	req_init(&req, GM_PROTO_HARDLINK, existing);
	gm_buf_adds(&req.b, path);
	return simple_rpc((struct remote *)ep, &req, GM_PROTO_OK, err);
}

static enum gm_rc r_remove(struct gm_sync_endpoint *ep, const char *path, struct gm_err *err)
{
	struct gm_proto_msg req;
	req_init(&req, GM_PROTO_REMOVE, path);
	return simple_rpc((struct remote *)ep, &req, GM_PROTO_OK, err);
}

static enum gm_rc r_set_meta(struct gm_sync_endpoint *ep, const char *path,
                             const struct gm_sync_meta *meta, unsigned flags, struct gm_err *err)
{
	struct gm_proto_msg req;
	req_init(&req, GM_PROTO_SET_META, path);
	req.meta = *meta;
	req.num = flags;
	return simple_rpc((struct remote *)ep, &req, GM_PROTO_OK, err);
}

static enum gm_rc r_set_xattrs(struct gm_sync_endpoint *ep, const char *path,
                               const struct gm_buf *blob, struct gm_err *err)
{
	struct gm_proto_msg req;
	if (blob->len > GM_SYNC_XATTRS_MAX)
		return gm_err_set(err, GM_ERR_LIMIT, "the xattrs of '%s' exceed %u bytes", path,
		                  GM_SYNC_XATTRS_MAX);
	req_init(&req, GM_PROTO_SET_XATTRS, path);
	gm_buf_add(&req.b, blob->data, blob->len);
	return simple_rpc((struct remote *)ep, &req, GM_PROTO_OK, err);
}

/* ---- readers ---- */

struct gm_sync_reader {
	struct remote *r;
	struct conn *cn;
	struct call call;
	struct item *cur; /* the frame whose bytes the last DATA piece points into */
	bool ended;
};

static enum gm_rc r_open_read(struct gm_sync_endpoint *ep, const char *path, uint64_t offset,
                              struct gm_sync_reader **out, struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	struct gm_sync_reader *rd = gm_xcalloc(1, sizeof(*rd));
	struct gm_proto_msg req;
	enum gm_rc rc;

	*out = NULL;
	rd->r = r;
	rd->cn = pick(r);
	call_init(&rd->call, CALL_STREAM, 0);
	req_init(&req, GM_PROTO_OPEN_READ, path);
	req.num = offset;
	rc = call_start(rd->cn, &rd->call, &req, err);
	if (rc)
		goto fail;
	/* the first frame says whether the open worked: errors belong to open_read */
	rd->cur = call_next(rd->cn, &rd->call, err);
	if (!rd->cur) {
		call_forget(rd->cn, &rd->call);
		rc = err->rc;
		goto fail;
	}
	if (rd->cur->m.type == GM_PROTO_ERROR) {
		rc = reply_error(rd->cur, err);
		goto fail;
	}
	rd->cur->next = rd->cur; /* marks "not handed out yet" */
	gm_proto_msg_release(&req);
	*out = rd;
	return GM_OK;
fail:
	gm_proto_msg_release(&req);
	item_free(rd->cur);
	call_release(&rd->call);
	free(rd);
	return rc;
}

static enum gm_rc r_read(struct gm_sync_reader *rd, struct gm_sync_piece *piece, struct gm_err *err)
{
	struct item *it;
	memset(piece, 0, sizeof(*piece));
	if (rd->ended)
		return gm_err_set(err, GM_ERR_USAGE, "read past the end of a stream");
	if (rd->cur && rd->cur->next == rd->cur) {
		it = rd->cur; /* the first frame, read by open */
		it->next = NULL;
	} else {
		item_free(rd->cur);
		rd->cur = NULL;
		it = call_next(rd->cn, &rd->call, err);
		if (!it) {
			rd->ended = true;
			return err->rc;
		}
		rd->cur = it;
	}
	switch (it->m.type) {
	case GM_PROTO_DATA:
		piece->kind = GM_SYNC_PIECE_DATA;
		piece->data = it->m.data;
		piece->len = it->m.data_len;
		break;
	case GM_PROTO_HOLE:
		piece->kind = GM_SYNC_PIECE_HOLE;
		piece->len = it->m.num;
		break;
	case GM_PROTO_CHUNK:
		piece->kind = GM_SYNC_PIECE_CHUNK;
		piece->hash = it->m.hash;
		break;
	case GM_PROTO_END:
		piece->kind = GM_SYNC_PIECE_END;
		piece->hash = it->m.hash;
		piece->whole_valid = it->m.whole_valid;
		piece->changed = it->m.changed;
		piece->meta = it->m.meta;
		rd->ended = true;
		break;
	default: rd->ended = true; return reply_error(it, err);
	}
	return GM_OK;
}

static void r_close_read(struct gm_sync_reader *rd)
{
	if (!rd)
		return;
	bool done;
	pthread_mutex_lock(&rd->cn->lock);
	done = rd->call.done;
	pthread_mutex_unlock(&rd->cn->lock);
	if (!done)
		conn_send_control(rd->cn, GM_PROTO_CANCEL, rd->call.id, 0);
	call_forget(rd->cn, &rd->call);
	if (rd->cur && rd->cur->next == rd->cur)
		rd->cur->next = NULL;
	item_free(rd->cur);
	call_release(&rd->call);
	free(rd);
}

/* ---- writers ---- */

struct gm_sync_writer {
	struct remote *r;
	struct conn *cn;
	struct call call;      /* the OPEN_WRITE: its reply, then a write failure */
	struct gm_buf pending; /* frames not sent yet */
	bool sent;             /* the OPEN_WRITE went out */
	bool small;            /* a whole file below GM_SYNC_CHUNK: nothing to resume */
	char *path;
};

static enum gm_rc w_flush(struct gm_sync_writer *w, struct gm_err *err)
{
	if (!w->pending.len)
		return GM_OK;
	enum gm_rc rc = conn_write(w->cn, &w->pending, err);
	gm_buf_reset(&w->pending);
	w->sent = true;
	return rc;
}

/* A failure the server reported for this stream while we were sending. */
static enum gm_rc w_check(struct gm_sync_writer *w, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	pthread_mutex_lock(&w->cn->lock);
	for (struct item *it = w->call.head; it; it = it->next)
		if (it->m.type == GM_PROTO_ERROR)
			rc = reply_error(it, err);
	pthread_mutex_unlock(&w->cn->lock);
	return rc;
}

static void w_free(struct gm_sync_writer *w)
{
	call_forget(w->cn, &w->call);
	call_release(&w->call);
	gm_buf_release(&w->pending);
	free(w->path);
	free(w);
}

/* Starts a write stream with req (OPEN_WRITE or OPEN_PATCH, queued in the writer's pending
 * frames, not sent yet). NULL with err set when the connection is dead. */
static struct gm_sync_writer *w_open(struct remote *r, struct gm_proto_msg *req, struct gm_err *err)
{
	struct gm_sync_writer *w = gm_xcalloc(1, sizeof(*w));
	w->r = r;
	w->cn = pick(r);
	call_init(&w->call, CALL_WRITE, 0);
	if (!call_register(w->cn, &w->call, err)) {
		call_release(&w->call);
		free(w);
		return NULL;
	}
	req->id = w->call.id;
	gm_proto_encode(req, &w->pending);
	w->path = gm_xstrdup(gm_buf_cstr(&req->a));
	return w;
}

/* Sends what is pending and waits for c's reply: *it receives it (free it; NULL on error). An
 * ERROR reply is the caller's error. */
static enum gm_rc w_reply(struct gm_sync_writer *w, struct call *c, struct item **it,
                          struct gm_err *err)
{
	enum gm_rc rc = w_flush(w, err);
	*it = NULL;
	if (!rc)
		*it = call_next(w->cn, c, err);
	if (!rc && !*it)
		rc = err->rc != GM_OK ? err->rc : GM_ERR_PROTOCOL;
	if (!rc && *it && (*it)->m.type == GM_PROTO_ERROR)
		rc = reply_error(*it, err);
	return rc;
}

static enum gm_rc r_open_write(struct gm_sync_endpoint *ep, const char *path,
                               const struct gm_sync_meta *src, unsigned flags,
                               struct gm_sync_writer **out, uint64_t *resume_at, struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	struct gm_sync_writer *w;
	struct gm_proto_msg req;
	struct item *it = NULL;
	enum gm_rc rc = GM_OK;

	*out = NULL;
	*resume_at = 0;
	req_init(&req, GM_PROTO_OPEN_WRITE, path);
	req.meta = *src;
	req.num = flags;
	w = w_open(r, &req, err);
	if (!w) {
		rc = err->rc;
		goto out;
	}
	if (src->size < GM_SYNC_CHUNK) {
		/* a small file: no journal to resume, so no need to wait for the answer */
		w->small = true;
		*out = w;
		goto out;
	}
	rc = w_reply(w, &w->call, &it, err);
	if (!rc && (it->m.num % GM_SYNC_CHUNK || it->m.num > src->size))
		rc = gm_err_set(err, GM_ERR_PROTOCOL,
		                "protocol error: '%s' offered to resume '%s' at %llu",
		                gm_buf_cstr(&r->host), path, (unsigned long long)it->m.num);
	if (rc) {
		w_free(w);
		goto out;
	}
	*resume_at = it->m.num;
	*out = w;
out:
	item_free(it);
	gm_proto_msg_release(&req);
	return rc;
}

/* Queues bytes as DATA or PATCH frames of at most GM_PROTO_DATA_MAX bytes, sending once a
 * batch has gathered. eof (PATCH): the last frame carries GM_PROTO_F_EOF, and an empty eof
 * still sends one frame. */
static enum gm_rc w_raw(struct gm_sync_writer *w, uint8_t type, const void *data, size_t len,
                        bool eof, struct gm_err *err)
{
	const uint8_t *p = data;
	enum gm_rc rc = w_check(w, err);
	bool first = true;
	while (!rc && (len || (eof && first))) {
		size_t n = len < GM_PROTO_DATA_MAX ? len : GM_PROTO_DATA_MAX;
		conn_encode_raw(w->cn, type, eof && n == len, w->call.id, p, n, &w->pending);
		p += n;
		len -= n;
		first = false;
		if (w->pending.len >= WRITER_BATCH)
			rc = w_flush(w, err);
	}
	return rc;
}

static enum gm_rc r_write(struct gm_sync_writer *w, const void *data, size_t len,
                          struct gm_err *err)
{
	return w_raw(w, GM_PROTO_DATA, data, len, false, err);
}

static enum gm_rc r_hole(struct gm_sync_writer *w, uint64_t len, struct gm_err *err)
{
	struct gm_proto_msg m;
	enum gm_rc rc = w_check(w, err);
	gm_proto_msg_init(&m);
	m.type = GM_PROTO_HOLE;
	m.id = w->call.id;
	while (!rc && len) {
		m.num = len < GM_SYNC_CHUNK ? len : GM_SYNC_CHUNK;
		gm_proto_encode(&m, &w->pending);
		len -= m.num;
	}
	if (!rc && w->pending.len >= WRITER_BATCH)
		rc = w_flush(w, err);
	gm_proto_msg_release(&m);
	return rc;
}

static enum gm_rc r_chunk(struct gm_sync_writer *w, const struct gm_sync_hash *src_hash,
                          struct gm_err *err)
{
	struct gm_proto_msg m;
	enum gm_rc rc = w_check(w, err);
	gm_proto_msg_init(&m);
	m.type = GM_PROTO_CHUNK;
	m.id = w->call.id;
	m.hash = *src_hash;
	if (!rc) {
		gm_proto_encode(&m, &w->pending);
		/* a chunk is the unit of resume: let it reach the journal now (a small file
		 * has no journal; its frames leave with its COMMIT, in one write) */
		if (!w->small)
			rc = w_flush(w, err);
	}
	gm_proto_msg_release(&m);
	return rc;
}

static void r_abort(struct gm_sync_writer *w, bool keep);

/* Sends req (a COMMIT) for a small file without waiting for its answer: the receiver hears
 * it, drain reports it. Waits while the connection has DEFERRED_MAX outstanding. */
static enum gm_rc commit_deferred(struct gm_sync_writer *w, struct gm_proto_msg *req,
                                  const struct gm_sync_hash *whole, struct gm_err *err)
{
	struct conn *cn = w->cn;
	size_t len = strlen(w->path);
	struct deferred *d = gm_xmalloc(sizeof(*d) + len + 1);
	enum gm_rc rc = GM_OK;
	d->next = NULL;
	d->whole = *whole;
	memcpy(d->path, w->path, len + 1);

	pthread_mutex_lock(&cn->lock);
	while (cn->ndeferred >= DEFERRED_MAX && !cn->dead)
		pthread_cond_wait(&cn->dcv, &cn->lock);
	if (cn->dead) {
		rc = gm_err_set(err, cn->dead_rc, "%s", gm_buf_cstr(&cn->dead_msg));
		pthread_mutex_unlock(&cn->lock);
		free(d);
		return rc;
	}
	d->id = conn_new_id(cn);
	if (cn->dtail)
		cn->dtail->next = d;
	else
		cn->dhead = d;
	cn->dtail = d;
	cn->ndeferred++;
	pthread_mutex_unlock(&cn->lock);

	req->id = d->id;
	gm_proto_encode(req, &w->pending);
	rc = w_flush(w, err);
	if (rc) {
		/* not sent whole: the connection is dead, and this commit fails here */
		pthread_mutex_lock(&cn->lock);
		struct deferred *prev = NULL;
		for (struct deferred **pp = &cn->dhead; *pp; prev = *pp, pp = &(*pp)->next)
			if (*pp == d) {
				*pp = d->next;
				if (cn->dtail == d)
					cn->dtail = prev;
				cn->ndeferred--;
				free(d);
				break;
			}
		pthread_cond_broadcast(&cn->dcv);
		pthread_mutex_unlock(&cn->lock);
	}
	return rc;
}

static enum gm_rc r_commit(struct gm_sync_writer *w, const struct gm_sync_hash *whole,
                           const struct gm_sync_meta *meta, const struct gm_buf *xattrs,
                           struct gm_sync_hash *written, struct gm_err *err)
{
	struct gm_proto_msg req;
	struct call c;
	struct item *it = NULL;
	enum gm_rc rc;

	call_init(&c, CALL_RPC, GM_PROTO_COMMIT_R);
	req_init(&req, GM_PROTO_COMMIT, NULL);
	req.num = w->call.id;
	if (whole) {
		req.has_hash = true;
		req.hash = *whole;
	}
	req.meta = *meta;
	if (xattrs) {
		req.has_b = true;
		gm_buf_add(&req.b, xattrs->data, xattrs->len);
	}
	rc = w_check(w, err);
	if (rc) {
		r_abort(w, false); /* the server forgets the failed stream */
		w = NULL;
		goto out;
	}
	if (whole && w->small) {
		rc = commit_deferred(w, &req, whole, err);
		if (!rc && written)
			*written = *whole;
		goto out;
	}
	if (!call_register(w->cn, &c, err)) {
		rc = err->rc;
		goto out;
	}
	req.id = c.id;
	gm_proto_encode(&req, &w->pending);
	rc = w_reply(w, &c, &it, err);
	if (!rc && written)
		*written = it->m.hash;
	if (rc)
		call_forget(w->cn, &c);
out:
	item_free(it);
	call_release(&c);
	gm_proto_msg_release(&req);
	if (w)
		w_free(w);
	return rc;
}

static void r_abort(struct gm_sync_writer *w, bool keep)
{
	if (!w)
		return;
	if (w->sent)
		conn_send_control(w->cn, GM_PROTO_ABORT, w->call.id, keep ? GM_PROTO_F_KEEP : 0);
	w_free(w);
}

static enum gm_rc r_drain(struct gm_sync_endpoint *ep,
                          void (*failed)(void *ctx, const char *path, enum gm_rc rc,
                                         const char *msg),
                          void *ctx, struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	(void)err;
	for (size_t i = 0; i < r->nconns; i++) {
		struct conn *cn = &r->conns[i];
		struct dfail *fails;
		pthread_mutex_lock(&cn->lock);
		while (cn->ndeferred && !cn->dead)
			pthread_cond_wait(&cn->dcv, &cn->lock);
		/* a lost connection: whatever was not answered failed (and kept nothing) */
		while (cn->dhead) {
			struct deferred *d = cn->dhead;
			cn->dhead = d->next;
			deferred_fail(cn, d, cn->dead_rc, gm_buf_cstr(&cn->dead_msg));
		}
		cn->dtail = NULL;
		cn->ndeferred = 0;
		fails = cn->fails;
		cn->fails = NULL;
		pthread_mutex_unlock(&cn->lock);
		/* oldest first, as they were recorded newest first */
		struct dfail *rev = NULL;
		while (fails) {
			struct dfail *f = fails;
			fails = f->next;
			f->next = rev;
			rev = f;
		}
		while (rev) {
			struct dfail *f = rev;
			rev = f->next;
			if (failed)
				failed(ctx, f->path, f->rc, f->msg);
			free(f->msg);
			free(f);
		}
	}
	return GM_OK;
}

/* ---- deltas ---- */

static enum gm_rc r_signature(struct gm_sync_endpoint *ep, const char *path,
                              struct gm_sync_meta *basis, struct gm_buf *sig, struct gm_err *err)
{
	struct remote *r = (struct remote *)ep;
	struct conn *cn = pick(r);
	struct gm_proto_msg req;
	struct call c;
	enum gm_rc rc = GM_OK;
	gm_buf_reset(sig);
	call_init(&c, CALL_RPC, GM_PROTO_SIGNATURE_R);
	req_init(&req, GM_PROTO_SIGNATURE, path);
	rc = call_start(cn, &c, &req, err);
	while (!rc) {
		struct item *it = call_next(cn, &c, err);
		if (!it) {
			rc = err->rc;
			break;
		}
		if (it->m.type == GM_PROTO_ERROR) {
			rc = reply_error(it, err);
		} else if (sig->len + it->m.b.len > GM_SYNC_DELTA_SIG_MAX) {
			rc = gm_err_set(
			        err, GM_ERR_PROTOCOL,
			        "protocol error: '%s' sent a signature of '%s' over %zu bytes",
			        gm_buf_cstr(&r->host), path, GM_SYNC_DELTA_SIG_MAX);
		} else {
			gm_buf_add(sig, it->m.b.data, it->m.b.len);
			*basis = it->m.meta;
		}
		bool more = (it->m.flags & GM_PROTO_F_MORE) != 0;
		item_free(it);
		if (!more)
			break;
	}
	if (rc) {
		call_forget(cn, &c); /* frames still coming are dropped */
		gm_buf_reset(sig);
	}
	call_release(&c);
	gm_proto_msg_release(&req);
	return rc;
}

static enum gm_rc r_open_patch(struct gm_sync_endpoint *ep, const char *path,
                               const struct gm_sync_meta *src, const struct gm_sync_meta *basis,
                               unsigned flags, struct gm_sync_writer **out, struct gm_err *err)
{
	struct gm_proto_msg req;
	enum gm_rc rc = GM_OK;

	*out = NULL;
	req_init(&req, GM_PROTO_OPEN_PATCH, path);
	req.meta = *src;
	req.basis = *basis;
	req.num = flags;
	/* no round trip: a failed open comes back as an ERROR, heard at patch or commit */
	*out = w_open((struct remote *)ep, &req, err);
	if (!*out)
		rc = err->rc;
	gm_proto_msg_release(&req);
	return rc;
}

static enum gm_rc r_patch(struct gm_sync_writer *w, const void *delta, size_t len, bool eof,
                          struct gm_err *err)
{
	return w_raw(w, GM_PROTO_PATCH, delta, len, eof, err);
}

uint64_t gm_sync_remote_wire_bytes(const struct gm_sync_endpoint *ep)
{
	if (!ep || ep->ops != &remote_ops)
		return 0;
	const struct remote *r = (const struct remote *)ep;
	uint64_t sum = 0;
	for (size_t i = 0; i < r->nconns; i++)
		sum += __atomic_load_n(&r->conns[i].wire, __ATOMIC_RELAXED);
	return sum;
}

/* ---- opening and closing ---- */

static void conn_init(struct conn *cn, struct remote *r, int in, int out)
{
	memset(cn, 0, sizeof(*cn));
	cn->r = r;
	gm_proto_in_init(&cn->in, in);
	cn->out = out;
	pthread_mutex_init(&cn->send_lock, NULL);
	pthread_cond_init(&cn->send_cv, NULL);
	pthread_mutex_init(&cn->lock, NULL);
	pthread_cond_init(&cn->space_cv, NULL);
	pthread_cond_init(&cn->dcv, NULL);
}

static void r_close(struct gm_sync_endpoint *ep)
{
	struct remote *r = (struct remote *)ep;
	if (!r)
		return;
	for (size_t i = 0; i < r->nconns; i++) {
		struct conn *cn = &r->conns[i];
		pthread_mutex_lock(&cn->lock);
		cn->closing = true;
		pthread_mutex_unlock(&cn->lock);
		if (cn->out >= 0) {
			shutdown(cn->out, SHUT_WR); /* a socket: the peer sees the end */
			close(cn->out);
			cn->out = -1;
		}
	}
	if (r->on_close)
		r->on_close(r->on_close_ctx);
	for (size_t i = 0; i < r->nconns; i++) {
		struct conn *cn = &r->conns[i];
		if (cn->rx_started)
			pthread_join(cn->rx, NULL);
		if (cn->in.fd >= 0)
			close(cn->in.fd);
		gm_proto_in_release(&cn->in);
		gm_buf_release(&cn->sbuf);
		gm_buf_release(&cn->wbuf);
		gm_buf_release(&cn->dead_msg);
		ZSTD_freeCCtx(cn->zctx);
		while (cn->dhead) {
			struct deferred *d = cn->dhead;
			cn->dhead = d->next;
			free(d);
		}
		while (cn->fails) {
			struct dfail *f = cn->fails;
			cn->fails = f->next;
			free(f->msg);
			free(f);
		}
		pthread_cond_destroy(&cn->dcv);
		pthread_mutex_destroy(&cn->send_lock);
		pthread_cond_destroy(&cn->send_cv);
		pthread_mutex_destroy(&cn->lock);
		pthread_cond_destroy(&cn->space_cv);
	}
	free(r->conns);
	gm_buf_release(&r->host);
	gm_buf_release(&r->base.where);
	free(r);
}

void gm_sync_remote_on_close(struct gm_sync_endpoint *ep, void (*fn)(void *ctx), void *ctx)
{
	struct remote *r = (struct remote *)ep;
	r->on_close = fn;
	r->on_close_ctx = ctx;
}

enum gm_sync_kind gm_sync_remote_root_kind(const struct gm_sync_endpoint *ep)
{
	return ((const struct remote *)ep)->root_kind;
}

/* Reads and checks the server's HELLO on one connection. */
static enum gm_rc hello_answer(struct remote *r, struct conn *cn, struct gm_err *err)
{
	struct gm_proto_hdr h;
	struct gm_buf payload = GM_BUF_INIT;
	struct gm_proto_msg m;
	struct gm_err e = GM_ERR_INIT;
	enum gm_rc rc;
	const char *host = gm_buf_cstr(&r->host);

	gm_proto_msg_init(&m);
	rc = gm_proto_in_frame(&cn->in, &h, &payload, &e);
	if (!rc)
		__atomic_add_fetch(&cn->wire, (uint64_t)GM_PROTO_HDR + h.len, __ATOMIC_RELAXED);
	if (rc == GM_ERR_UNREACHABLE) {
		rc = gm_err_set(err, rc, "'%s' closed the connection before it answered (%s)", host,
		                gm_err_msg(&e));
		goto out;
	}
	if (!rc)
		rc = gm_proto_decode(&h, (const uint8_t *)payload.data, &m, &e);
	if (rc) {
		rc = gm_err_set(
		        err, GM_ERR_PROTOCOL,
		        "'%s' did not answer as gpumigrate's sync server (%s): is something "
		        "printing on the remote shell's output?",
		        host, gm_err_msg(&e));
		goto out;
	}
	if (m.type == GM_PROTO_ERROR) {
		rc = gm_err_set(err, m.rc, "'%s': %s", host, gm_buf_cstr(&m.b));
		goto out;
	}
	if (m.type != GM_PROTO_HELLO) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "'%s' answered HELLO with %s", host,
		                gm_proto_type_name(m.type));
		goto out;
	}
	if (m.num != GM_PROTO_VERSION) {
		rc = gm_err_set(
		        err, GM_ERR_PROTOCOL,
		        "gpumigrate %s here speaks sync protocol %u, but '%s' runs gpumigrate "
		        "%s (protocol %llu): install the same version on both hosts",
		        GM_VERSION, GM_PROTO_VERSION, host, gm_buf_cstr(&m.a),
		        (unsigned long long)m.num);
		goto out;
	}
	if (m.rc) {
		rc = gm_err_set(err, m.rc, "%s: %s", host, gm_buf_cstr(&m.b));
		goto out;
	}
	if (cn == &r->conns[0]) {
		r->base.caps = m.caps;
		r->root_kind = m.kind;
		r->has_token = m.has_hash;
		r->token = m.hash;
	}
	if ((m.features & GM_PROTO_FEAT_ZSTD) && r->zstd && !cn->zctx) {
		cn->zctx = ZSTD_createCCtx();
		if (!cn->zctx)
			gm_xalloc_fail();
		ZSTD_CCtx_setParameter(cn->zctx, ZSTD_c_compressionLevel, 1);
	}
out:
	gm_buf_release(&payload);
	gm_proto_msg_release(&m);
	gm_err_release(&e);
	return rc;
}

enum gm_rc gm_sync_remote_open(const int (*fds)[2], size_t n,
                               const struct gm_sync_remote_opts *opts,
                               struct gm_sync_endpoint **out, struct gm_err *err)
{
	struct remote *r = gm_xcalloc(1, sizeof(*r));
	struct gm_proto_msg hello;
	enum gm_rc rc = GM_OK;

	*out = NULL;
	r->base.ops = &remote_ops;
	gm_buf_adds(&r->base.where, opts->where ? opts->where : "");
	gm_buf_adds(&r->host, opts->host ? opts->host : "remote");
	r->zstd = opts->compress;
	r->conns = gm_xcalloc(n ? n : 1, sizeof(*r->conns));
	r->nconns = n;
	for (size_t i = 0; i < n; i++)
		conn_init(&r->conns[i], r, fds[i][0], fds[i][1]);
	if (!n) {
		rc = gm_err_set(err, GM_ERR_USAGE, "no connections");
		goto out;
	}

	gm_proto_msg_init(&hello);
	hello.type = GM_PROTO_HELLO;
	hello.num = GM_PROTO_VERSION;
	gm_buf_adds(&hello.a, GM_VERSION);
	hello.features = (opts->compress ? GM_PROTO_FEAT_ZSTD : 0) |
	                 (opts->create ? GM_PROTO_FEAT_CREATE : 0);
	/* the first connection takes the root's write lock; the others join it with the token
	 * its server returned (writers too), so they wait for it */
	rc = conn_send(&r->conns[0], &hello, err);
	if (!rc)
		rc = hello_answer(r, &r->conns[0], err);
	if (!rc && opts->writable && n > 1 && !r->has_token)
		rc = gm_err_set(err, GM_ERR_PROTOCOL,
		                "protocol error: '%s' gave no lock token for the other connections",
		                gm_buf_cstr(&r->host));
	hello.features |= GM_PROTO_FEAT_SECONDARY;
	hello.has_hash = opts->writable && r->has_token;
	hello.hash = r->token;
	for (size_t i = 1; i < n && !rc; i++)
		rc = conn_send(&r->conns[i], &hello, err);
	gm_proto_msg_release(&hello);
	for (size_t i = 1; i < n && !rc; i++)
		rc = hello_answer(r, &r->conns[i], err);
	for (size_t i = 0; i < n && !rc; i++) {
		if (pthread_create(&r->conns[i].rx, NULL, rx_main, &r->conns[i]))
			rc = gm_err_set(err, GM_ERR_INTERNAL, "cannot start a receiver thread");
		else
			r->conns[i].rx_started = true;
	}
out:
	if (rc) {
		r_close(&r->base);
		return rc;
	}
	*out = &r->base;
	return GM_OK;
}

static const struct gm_sync_ops remote_ops = {
        .stat = r_stat,
        .list = r_list,
        .hash = r_hash,
        .xattrs = r_xattrs,
        .space = r_space,
        .open_read = r_open_read,
        .read = r_read,
        .close_read = r_close_read,
        .open_write = r_open_write,
        .write = r_write,
        .hole = r_hole,
        .chunk = r_chunk,
        .commit = r_commit,
        .abort = r_abort,
        .mkdir = r_mkdir,
        .symlink = r_symlink,
        .hardlink = r_hardlink,
        .remove = r_remove,
        .set_meta = r_set_meta,
        .set_xattrs = r_set_xattrs,
        .signature = r_signature,
        .open_patch = r_open_patch,
        .patch = r_patch,
        .drain = r_drain,
        .close = r_close,
};

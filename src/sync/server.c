/* The sync server (server.h): one connection, one local endpoint. The reader thread owns the
 * write streams (their frames must be applied in order and need no reply until commit), and
 * a bounded queue feeds a few workers with the requests that take time: streamed reads,
 * hashes, listings. Every frame out goes through one lock, whole, so frames never mix. */
#include "sync/server.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "sync/delta.h"
#include "sync/local.h"
#include "sync/proto.h"
#include "util/xalloc.h"

#include "util/banned.h"

enum {
	WORKERS = 4,
	QUEUE_MAX = 64,
	/* the reader thread's answers wait in its sender up to this many bytes, or until the
	 * input runs dry, so a burst of small files is answered in a few writes */
	ANSWER_BATCH = 64 << 10,
};

struct job {
	struct job *next;
	struct gm_proto_msg m;
};

/* A read stream being sent, so CANCEL can stop it. */
struct rstream {
	struct rstream *next;
	uint32_t id;
	bool cancel;
};

/* A write stream: its writer, or the error that ended it (reported at COMMIT). */
struct wstream {
	struct wstream *next;
	uint32_t id;
	struct gm_sync_writer *w;
	enum gm_rc rc;
	struct gm_buf msg;
};

struct server {
	struct gm_proto_in in;
	int out;
	struct gm_sync_endpoint *ep;
	bool writable;
	bool zstd;

	pthread_mutex_t out_lock;
	bool out_dead;

	pthread_mutex_t lock;
	pthread_cond_t job_cv, space_cv;
	struct job *head, *tail;
	size_t njobs;
	bool stopping;
	struct rstream *reads;

	struct wstream *writes; /* reader thread only */
};

/* What one thread needs to send frames. */
struct sender {
	struct server *s;
	struct gm_buf frame;
	ZSTD_CCtx *zctx;
	bool batch; /* send_msg keeps frames until ANSWER_BATCH bytes (the reader thread) */
};

static void sender_init(struct sender *sd, struct server *s)
{
	sd->s = s;
	gm_buf_init(&sd->frame);
	sd->zctx = NULL;
	sd->batch = false;
	if (s->zstd) {
		sd->zctx = ZSTD_createCCtx();
		if (!sd->zctx)
			gm_xalloc_fail();
		ZSTD_CCtx_setParameter(sd->zctx, ZSTD_c_compressionLevel, 1);
	}
}

static void sender_release(struct sender *sd)
{
	gm_buf_release(&sd->frame);
	ZSTD_freeCCtx(sd->zctx);
}

/* Sends the frames in sd->frame and empties it. False when the client is gone. */
static bool flush(struct sender *sd)
{
	struct server *s = sd->s;
	bool ok;
	pthread_mutex_lock(&s->out_lock);
	if (!s->out_dead && sd->frame.len &&
	    gm_proto_write_all(s->out, sd->frame.data, sd->frame.len, NULL))
		s->out_dead = true;
	ok = !s->out_dead;
	pthread_mutex_unlock(&s->out_lock);
	gm_buf_reset(&sd->frame);
	return ok;
}

static bool send_msg(struct sender *sd, const struct gm_proto_msg *m)
{
	gm_proto_encode(m, &sd->frame);
	if (sd->batch && sd->frame.len < ANSWER_BATCH) {
		pthread_mutex_lock(&sd->s->out_lock);
		bool ok = !sd->s->out_dead;
		pthread_mutex_unlock(&sd->s->out_lock);
		return ok;
	}
	return flush(sd);
}

static bool send_error(struct sender *sd, uint32_t id, enum gm_rc rc, const char *msg)
{
	struct gm_proto_msg m;
	gm_proto_msg_init(&m);
	m.type = GM_PROTO_ERROR;
	m.id = id;
	m.rc = rc ? rc : GM_ERR_INTERNAL;
	size_t len = strlen(msg);
	gm_buf_add(&m.b, msg, len < GM_PROTO_TEXT_MAX ? len : GM_PROTO_TEXT_MAX);
	bool ok = send_msg(sd, &m);
	gm_proto_msg_release(&m);
	return ok;
}

static bool send_err(struct sender *sd, uint32_t id, const struct gm_err *err)
{
	return send_error(sd, id, err->rc, gm_err_msg(err));
}

/* ---- the requests the workers answer ---- */

static bool read_cancelled(struct server *s, uint32_t id)
{
	bool c = false;
	pthread_mutex_lock(&s->lock);
	for (struct rstream *r = s->reads; r; r = r->next)
		if (r->id == id)
			c = r->cancel;
	pthread_mutex_unlock(&s->lock);
	return c;
}

static void read_forget(struct server *s, uint32_t id)
{
	pthread_mutex_lock(&s->lock);
	for (struct rstream **pp = &s->reads; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct rstream *r = *pp;
			*pp = r->next;
			free(r);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static void serve_read(struct sender *sd, const struct gm_proto_msg *req)
{
	struct server *s = sd->s;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_reader *r = NULL;
	struct gm_proto_msg m;
	gm_proto_msg_init(&m);

	if (s->ep->ops->open_read(s->ep, gm_buf_cstr(&req->a), req->num, &r, &err)) {
		send_err(sd, req->id, &err);
		goto out;
	}
	for (;;) {
		struct gm_sync_piece piece;
		if (read_cancelled(s, req->id))
			break;
		if (s->ep->ops->read(r, &piece, &err)) {
			send_err(sd, req->id, &err);
			break;
		}
		gm_proto_msg_reset(&m);
		m.id = req->id;
		switch (piece.kind) {
		case GM_SYNC_PIECE_DATA:
			for (size_t off = 0; off < piece.len; off += GM_PROTO_DATA_MAX) {
				size_t n = piece.len - off;
				if (n > GM_PROTO_DATA_MAX)
					n = GM_PROTO_DATA_MAX;
				gm_proto_encode_data(req->id, (const uint8_t *)piece.data + off, n,
				                     sd->zctx, &sd->frame);
				if (!flush(sd))
					goto out;
			}
			continue;
		case GM_SYNC_PIECE_HOLE:
			m.type = GM_PROTO_HOLE;
			m.num = piece.len;
			break;
		case GM_SYNC_PIECE_CHUNK:
			m.type = GM_PROTO_CHUNK;
			m.hash = piece.hash;
			break;
		case GM_SYNC_PIECE_END:
			m.type = GM_PROTO_END;
			m.hash = piece.hash;
			m.whole_valid = piece.whole_valid;
			m.changed = piece.changed;
			m.meta = piece.meta;
			break;
		}
		if (!send_msg(sd, &m) || piece.kind == GM_SYNC_PIECE_END)
			break;
	}
out:
	if (r)
		s->ep->ops->close_read(r);
	read_forget(s, req->id);
	gm_proto_msg_release(&m);
	gm_err_release(&err);
}

static void serve_list(struct sender *sd, const struct gm_proto_msg *req)
{
	struct server *s = sd->s;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_list l;
	gm_sync_list_init(&l);
	if (s->ep->ops->list(s->ep, gm_buf_cstr(&req->a), &l, &err)) {
		send_err(sd, req->id, &err);
	} else {
		size_t next = 0;
		do {
			gm_proto_encode_list(req->id, &l, &next, &sd->frame);
			if (!flush(sd))
				break;
		} while (next < l.n);
	}
	gm_sync_list_release(&l);
	gm_err_release(&err);
}

/* The signature, streamed in frames of at most GM_PROTO_SIG_PART bytes. */
static void serve_signature(struct sender *sd, const struct gm_proto_msg *req)
{
	struct server *s = sd->s;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta basis = {0};
	struct gm_buf sig = GM_BUF_INIT;
	enum gm_rc rc;
	if (!s->ep->ops->signature)
		rc = gm_err_set(&err, GM_ERR_USAGE, "this server cannot make signatures");
	else
		rc = s->ep->ops->signature(s->ep, gm_buf_cstr(&req->a), &basis, &sig, &err);
	if (!rc && sig.len > GM_SYNC_DELTA_SIG_MAX)
		rc = gm_err_set(&err, GM_ERR_LIMIT, "the signature of '%s' exceeds %zu bytes",
		                gm_buf_cstr(&req->a), GM_SYNC_DELTA_SIG_MAX);
	if (rc) {
		send_err(sd, req->id, &err);
	} else {
		size_t next = 0;
		do {
			gm_proto_encode_signature(req->id, &basis, sig.data, sig.len, &next,
			                          &sd->frame);
			if (!flush(sd))
				break;
		} while (next < sig.len);
	}
	gm_buf_release(&sig);
	gm_err_release(&err);
}

static void serve(struct sender *sd, struct gm_proto_msg *req)
{
	struct server *s = sd->s;
	const struct gm_sync_ops *ops = s->ep->ops;
	struct gm_sync_endpoint *ep = s->ep;
	struct gm_err err = GM_ERR_INIT;
	struct gm_proto_msg m;
	const char *path = gm_buf_cstr(&req->a);
	enum gm_rc rc = GM_OK;

	gm_proto_msg_init(&m);
	m.id = req->id;
	m.type = GM_PROTO_OK;
	switch (req->type) {
	case GM_PROTO_OPEN_READ: serve_read(sd, req); goto out;
	case GM_PROTO_LIST: serve_list(sd, req); goto out;
	case GM_PROTO_SIGNATURE: serve_signature(sd, req); goto out;
	case GM_PROTO_STAT:
		m.type = GM_PROTO_STAT_R;
		rc = ops->stat(ep, path, &m.meta, &m.b, &err);
		m.has_b = m.meta.kind == GM_SYNC_SYMLINK;
		if (!m.has_b)
			gm_buf_reset(&m.b);
		break;
	case GM_PROTO_HASH:
		m.type = GM_PROTO_HASH_R;
		rc = ops->hash(ep, path, &m.hash, &m.meta, &err);
		break;
	case GM_PROTO_XATTRS:
		m.type = GM_PROTO_XATTRS_R;
		if (ops->xattrs)
			rc = ops->xattrs(ep, path, &m.b, &err);
		if (!rc && m.b.len > GM_SYNC_XATTRS_MAX)
			rc = gm_err_set(&err, GM_ERR_LIMIT, "xattrs of '%s' exceed %u bytes", path,
			                GM_SYNC_XATTRS_MAX);
		break;
	case GM_PROTO_SPACE:
		m.type = GM_PROTO_SPACE_R;
		m.num = UINT64_MAX;
		if (ops->space)
			rc = ops->space(ep, &m.num, &err);
		break;
	case GM_PROTO_MKDIR: rc = ops->mkdir(ep, path, &req->meta, &err); break;
	case GM_PROTO_SYMLINK:
		rc = ops->symlink(ep, path, gm_buf_cstr(&req->b), &req->meta, &err);
		break;
	case GM_PROTO_HARDLINK: rc = ops->hardlink(ep, path, gm_buf_cstr(&req->b), &err); break;
	case GM_PROTO_REMOVE: rc = ops->remove(ep, path, &err); break;
	case GM_PROTO_SET_META:
		rc = ops->set_meta(ep, path, &req->meta, (unsigned)req->num, &err);
		break;
	case GM_PROTO_SET_XATTRS:
		if (ops->set_xattrs)
			rc = ops->set_xattrs(ep, path, &req->b, &err);
		else
			rc = gm_err_set(&err, GM_ERR_UNSUPPORTED, "'%s': no xattrs here", path);
		break;
	default: rc = gm_err_set(&err, GM_ERR_INTERNAL, "no handler"); break;
	}
	if (rc)
		send_err(sd, req->id, &err);
	else
		send_msg(sd, &m);
out:
	gm_proto_msg_release(&m);
	gm_err_release(&err);
}

static void *worker_main(void *arg)
{
	struct server *s = arg;
	struct sender sd;
	sender_init(&sd, s);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->job_cv, &s->lock);
		if (!s->head)
			break;
		struct job *j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		s->njobs--;
		pthread_cond_signal(&s->space_cv);
		bool skip = s->stopping;
		pthread_mutex_unlock(&s->lock);
		if (!skip)
			serve(&sd, &j->m);
		gm_proto_msg_release(&j->m);
		free(j);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	sender_release(&sd);
	return NULL;
}

/* Queues req (its buffers move to the job), waiting while the queue is full. */
/* Queues a request for the workers, waiting while the queue is full; the answers the reader
 * thread holds go out before it waits (the client may be waiting for one of them). */
static void enqueue(struct server *s, struct sender *sd, struct gm_proto_msg *req)
{
	struct job *j = gm_xcalloc(1, sizeof(*j));
	j->m = *req;
	gm_proto_msg_init(req);
	pthread_mutex_lock(&s->lock);
	if (s->njobs >= QUEUE_MAX && sd->frame.len) {
		pthread_mutex_unlock(&s->lock);
		flush(sd);
		pthread_mutex_lock(&s->lock);
	}
	while (s->njobs >= QUEUE_MAX)
		pthread_cond_wait(&s->space_cv, &s->lock);
	if (j->m.type == GM_PROTO_OPEN_READ) {
		struct rstream *r = gm_xcalloc(1, sizeof(*r));
		r->id = j->m.id;
		r->next = s->reads;
		s->reads = r;
	}
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->njobs++;
	pthread_cond_signal(&s->job_cv);
	pthread_mutex_unlock(&s->lock);
}

/* ---- write streams (reader thread) ---- */

static struct wstream **wfind(struct server *s, uint32_t id)
{
	struct wstream **pp = &s->writes;
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

/* Unlinks and frees a write stream (its writer was committed or aborted). */
static void wdrop(struct wstream **pp)
{
	struct wstream *ws = *pp;
	*pp = ws->next;
	gm_buf_release(&ws->msg);
	free(ws);
}

/* Records why a write stream failed, for its COMMIT. */
static void wrecord(struct wstream *ws, const struct gm_err *err)
{
	ws->rc = err->rc ? err->rc : GM_ERR_INTERNAL;
	gm_buf_reset(&ws->msg);
	gm_buf_adds(&ws->msg, gm_err_msg(err));
}

/* Records the failure of a write stream and gives up its file. */
static void wfail(struct server *s, struct wstream *ws, struct gm_err *err)
{
	wrecord(ws, err);
	s->ep->ops->abort(ws->w, false);
	ws->w = NULL;
}

/* Handles a frame of a write stream. False: the client broke the protocol (err set). */
static bool handle_write(struct server *s, struct sender *sd, struct gm_proto_msg *m,
                         struct gm_err *err)
{
	const struct gm_sync_ops *ops = s->ep->ops;
	struct gm_err e = GM_ERR_INIT;
	struct wstream **pp, *ws;
	bool ok = true;

	switch (m->type) {
	case GM_PROTO_OPEN_WRITE:
	case GM_PROTO_OPEN_PATCH: {
		struct gm_sync_writer *w = NULL;
		uint64_t resume_at = 0;
		bool patch = m->type == GM_PROTO_OPEN_PATCH;
		if (*wfind(s, m->id)) {
			gm_err_set(err, GM_ERR_PROTOCOL,
			           "protocol error: write stream %u opened twice", m->id);
			ok = false;
			break;
		}
		/* a failed open is remembered too: the client may have sent the data and the
		 * COMMIT without waiting, and hears the reason again at COMMIT */
		ws = gm_xcalloc(1, sizeof(*ws));
		ws->id = m->id;
		ws->next = s->writes;
		s->writes = ws;
		if (!s->writable)
			gm_err_set(&e, GM_ERR_PERMISSION,
			           "the server was started read-only (without --write)");
		else if (patch && !ops->open_patch)
			gm_err_set(&e, GM_ERR_USAGE, "this server cannot apply deltas");
		else if (patch)
			ops->open_patch(s->ep, gm_buf_cstr(&m->a), &m->meta, &m->basis,
			                (unsigned)m->num, &w, &e);
		else
			ops->open_write(s->ep, gm_buf_cstr(&m->a), &m->meta, (unsigned)m->num, &w,
			                &resume_at, &e);
		if (!w) {
			wrecord(ws, &e);
			send_err(sd, m->id, &e);
			break;
		}
		ws->w = w;
		if (patch)
			break; /* no reply: the client does not wait */
		struct gm_proto_msg r;
		gm_proto_msg_init(&r);
		r.type = GM_PROTO_OPEN_WRITE_R;
		r.id = m->id;
		r.num = resume_at;
		send_msg(sd, &r);
		gm_proto_msg_release(&r);
		break;
	}
	case GM_PROTO_DATA:
	case GM_PROTO_HOLE:
	case GM_PROTO_CHUNK:
	case GM_PROTO_PATCH: {
		enum gm_rc rc;
		ws = *wfind(s, m->id);
		if (!ws || !ws->w)
			break; /* its open failed (the client hears at commit) or it failed */
		if (m->type == GM_PROTO_PATCH)
			rc = ops->patch ? ops->patch(ws->w, m->data, m->data_len,
			                             (m->flags & GM_PROTO_F_EOF) != 0, &e)
			                : gm_err_set(&e, GM_ERR_USAGE, "no deltas here");
		else if (m->type == GM_PROTO_DATA)
			rc = ops->write(ws->w, m->data, m->data_len, &e);
		else if (m->type == GM_PROTO_HOLE)
			rc = ops->hole(ws->w, m->num, &e);
		else
			rc = ops->chunk(ws->w, &m->hash, &e);
		if (rc) {
			wfail(s, ws, &e);
			send_err(sd, m->id, &e); /* lets the client stop sending early */
		}
		break;
	}
	case GM_PROTO_COMMIT: {
		pp = wfind(s, (uint32_t)m->num);
		ws = *pp;
		if (!ws) {
			send_error(sd, m->id, GM_ERR_PROTOCOL,
			           "protocol error: no such write stream");
			break;
		}
		if (!ws->w) {
			send_error(sd, m->id, ws->rc, gm_buf_cstr(&ws->msg));
		} else {
			struct gm_proto_msg r;
			gm_proto_msg_init(&r);
			r.type = GM_PROTO_COMMIT_R;
			r.id = m->id;
			enum gm_rc rc = ops->commit(ws->w, m->has_hash ? &m->hash : NULL, &m->meta,
			                            m->has_b ? &m->b : NULL, &r.hash, &e);
			ws->w = NULL;
			if (rc)
				send_err(sd, m->id, &e);
			else
				send_msg(sd, &r);
			gm_proto_msg_release(&r);
		}
		wdrop(pp);
		break;
	}
	case GM_PROTO_ABORT:
		pp = wfind(s, m->id);
		if (!*pp)
			break;
		ws = *pp;
		if (ws->w)
			ops->abort(ws->w, (m->flags & GM_PROTO_F_KEEP) != 0);
		wdrop(pp);
		break;
	}
	gm_err_release(&e);
	return ok;
}

/* ---- the connection ---- */

static enum gm_rc hello(struct server *s, struct sender *sd, const char *root, bool writable,
                        struct gm_err *err)
{
	struct gm_proto_hdr h;
	struct gm_buf payload = GM_BUF_INIT;
	struct gm_proto_msg m, r;
	struct stat st;
	char token[33] = "";
	enum gm_rc rc;

	gm_proto_msg_init(&m);
	gm_proto_msg_init(&r);
	rc = gm_proto_in_frame(&s->in, &h, &payload, err);
	if (rc)
		goto out;
	if (h.type != GM_PROTO_HELLO) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "protocol error: expected HELLO, got %s",
		                gm_proto_type_name(h.type));
		send_error(sd, h.id, rc, gm_err_msg(err));
		goto out;
	}
	rc = gm_proto_decode(&h, (const uint8_t *)payload.data, &m, err);
	r.type = GM_PROTO_HELLO;
	r.num = GM_PROTO_VERSION;
	gm_buf_adds(&r.a, GM_VERSION);
	if (!rc && m.num != GM_PROTO_VERSION)
		rc = gm_err_set(
		        err, GM_ERR_PROTOCOL,
		        "gpumigrate %s here speaks sync protocol %u; the client (gpumigrate "
		        "%s) speaks %llu: install the same version on both hosts",
		        GM_VERSION, GM_PROTO_VERSION, gm_buf_cstr(&m.a), (unsigned long long)m.num);
	if (!rc) {
		struct gm_sync_open_opts opts = {0};
		bool secondary = (m.features & GM_PROTO_FEAT_SECONDARY) != 0;
		if (secondary && m.has_hash) {
			/* another connection of this client holds the lock: join it */
			gm_sync_hash_hex(&m.hash, token);
			opts.join_token = token;
		} else if (secondary) {
			writable = false; /* a reader beside the first connection */
		}
		s->writable = writable;
		opts.writable = writable;
		opts.create = writable && !secondary && (m.features & GM_PROTO_FEAT_CREATE);
		s->zstd = (m.features & GM_PROTO_FEAT_ZSTD) != 0;
		rc = gm_sync_local_open(root, &opts, &s->ep, err);
	}
	if (!stat(root, &st))
		r.kind = S_ISDIR(st.st_mode)   ? GM_SYNC_DIR
		         : S_ISREG(st.st_mode) ? GM_SYNC_FILE
		                               : GM_SYNC_SPECIAL;
	r.rc = rc;
	if (rc)
		gm_buf_adds(&r.b, gm_err_msg(err));
	else {
		const char *tok = gm_sync_local_token(s->ep);
		r.caps = s->ep->caps;
		r.features = s->zstd ? GM_PROTO_FEAT_ZSTD : 0;
		r.has_hash = tok && gm_sync_hash_from_hex(tok, strlen(tok), &r.hash);
		/* this server applies deltas: worth it for a client across a network */
		if (s->writable && s->ep->ops->open_patch)
			r.caps |= GM_SYNC_CAP_DELTA;
	}
	if (!send_msg(sd, &r) && !rc)
		rc = gm_err_set(err, GM_ERR_UNREACHABLE, "the client went away");
out:
	gm_buf_release(&payload);
	gm_proto_msg_release(&m);
	gm_proto_msg_release(&r);
	return rc;
}

static bool is_request(uint8_t type)
{
	switch (type) {
	case GM_PROTO_STAT:
	case GM_PROTO_LIST:
	case GM_PROTO_HASH:
	case GM_PROTO_XATTRS:
	case GM_PROTO_SPACE:
	case GM_PROTO_SIGNATURE:
	case GM_PROTO_OPEN_READ:
	case GM_PROTO_MKDIR:
	case GM_PROTO_SYMLINK:
	case GM_PROTO_HARDLINK:
	case GM_PROTO_REMOVE:
	case GM_PROTO_SET_META:
	case GM_PROTO_SET_XATTRS: return true;
	}
	return false;
}

static bool is_mutation(uint8_t type)
{
	return type == GM_PROTO_MKDIR || type == GM_PROTO_SYMLINK || type == GM_PROTO_HARDLINK ||
	       type == GM_PROTO_REMOVE || type == GM_PROTO_SET_META || type == GM_PROTO_SET_XATTRS;
}

enum gm_rc gm_sync_server_run(int in_fd, int out_fd, const char *root, bool writable,
                              struct gm_err *err)
{
	struct server s;
	struct sender sd;
	struct gm_proto_hdr h;
	struct gm_buf payload = GM_BUF_INIT, plain = GM_BUF_INIT;
	struct gm_proto_msg m;
	struct gm_err e = GM_ERR_INIT;
	pthread_t workers[WORKERS];
	size_t nworkers = 0;
	ZSTD_DCtx *dctx = NULL;
	enum gm_rc rc;

	memset(&s, 0, sizeof(s));
	gm_proto_in_init(&s.in, in_fd);
	/* Bigger pipes from and to sshd mean fewer wakeups per MiB (best effort: sockets and
	 * capped kernels refuse it, which is fine). */
	(void)fcntl(in_fd, F_SETPIPE_SZ, 1 << 20);
	(void)fcntl(out_fd, F_SETPIPE_SZ, 1 << 20);
	s.out = out_fd;
	s.writable = writable;
	pthread_mutex_init(&s.out_lock, NULL);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.job_cv, NULL);
	pthread_cond_init(&s.space_cv, NULL);
	gm_proto_msg_init(&m);
	sender_init(&sd, &s);

	rc = hello(&s, &sd, root, writable, err);
	if (rc)
		goto out;
	sender_release(&sd);
	sender_init(&sd, &s); /* now with zstd if it was agreed */
	sd.batch = true;
	dctx = ZSTD_createDCtx();
	if (!dctx)
		gm_xalloc_fail();
	for (; nworkers < WORKERS; nworkers++)
		if (pthread_create(&workers[nworkers], NULL, worker_main, &s)) {
			rc = gm_err_set(err, GM_ERR_INTERNAL, "cannot start a server thread");
			goto out;
		}

	for (;;) {
		const uint8_t *p;
		gm_err_clear(&e);
		if (!gm_proto_in_ready(&s.in))
			flush(&sd); /* the answers so far, before waiting for more input */
		rc = gm_proto_in_frame(&s.in, &h, &payload, &e);
		if (rc == GM_ERR_UNREACHABLE) {
			rc = GM_OK; /* the client closed the connection */
			break;
		}
		p = (const uint8_t *)payload.data;
		if (!rc && (h.type == GM_PROTO_DATA || h.type == GM_PROTO_PATCH) &&
		    (h.flags & GM_PROTO_F_ZSTD)) {
			rc = gm_proto_unzstd(dctx, p, h.len, &plain, &e);
			h.flags &= (uint8_t)~GM_PROTO_F_ZSTD;
			h.len = (uint32_t)plain.len;
			p = (const uint8_t *)plain.data;
		}
		if (!rc)
			rc = gm_proto_decode(&h, p, &m, &e);
		if (!rc && h.type == GM_PROTO_CANCEL) {
			pthread_mutex_lock(&s.lock);
			for (struct rstream *r = s.reads; r; r = r->next)
				if (r->id == h.id)
					r->cancel = true;
			pthread_mutex_unlock(&s.lock);
			continue;
		}
		if (!rc && is_request(h.type)) {
			if (is_mutation(h.type) && !s.writable)
				send_error(&sd, h.id, GM_ERR_PERMISSION,
				           "the server was started read-only (without --write)");
			else
				enqueue(&s, &sd, &m);
			continue;
		}
		if (!rc && (h.type == GM_PROTO_OPEN_WRITE || h.type == GM_PROTO_DATA ||
		            h.type == GM_PROTO_HOLE || h.type == GM_PROTO_CHUNK ||
		            h.type == GM_PROTO_COMMIT || h.type == GM_PROTO_ABORT ||
		            h.type == GM_PROTO_OPEN_PATCH || h.type == GM_PROTO_PATCH)) {
			if (handle_write(&s, &sd, &m, &e))
				continue;
			rc = e.rc;
		}
		if (!rc)
			rc = gm_err_set(&e, GM_ERR_PROTOCOL, "protocol error: unexpected %s frame",
			                gm_proto_type_name(h.type));
		send_error(&sd, 0, rc, gm_err_msg(&e));
		gm_err_set(err, rc, "%s", gm_err_msg(&e));
		break;
	}
	flush(&sd);

out:
	pthread_mutex_lock(&s.lock);
	s.stopping = true;
	for (struct rstream *r = s.reads; r; r = r->next)
		r->cancel = true;
	pthread_cond_broadcast(&s.job_cv);
	pthread_mutex_unlock(&s.lock);
	for (size_t i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	while (s.writes) {
		if (s.writes->w)
			s.ep->ops->abort(s.writes->w, true); /* a lost client: keep for a resume */
		wdrop(&s.writes);
	}
	while (s.head) {
		struct job *j = s.head;
		s.head = j->next;
		gm_proto_msg_release(&j->m);
		free(j);
	}
	while (s.reads) {
		struct rstream *r = s.reads;
		s.reads = r->next;
		free(r);
	}
	gm_sync_endpoint_close(s.ep);
	gm_proto_in_release(&s.in);
	ZSTD_freeDCtx(dctx);
	sender_release(&sd);
	gm_proto_msg_release(&m);
	gm_buf_release(&payload);
	gm_buf_release(&plain);
	gm_err_release(&e);
	pthread_mutex_destroy(&s.out_lock);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.job_cv);
	pthread_cond_destroy(&s.space_cv);
	return rc;
}

/* The sync engine's run: opens both endpoints, walks them directory by directory on worker
 * threads (directory jobs first, so totals are known early; a bounded queue of file jobs
 * behind them), decides per entry with gm_sync_decide, copies through the transports'
 * verified readers and writers, and at the end links hard links, deletes extras (only after
 * a clean transfer) and sets directory metadata deepest first. Memory holds the directories
 * in flight, the bounded queue, the hard-link map (files with nlink > 1 only), the extras to
 * delete and the directories whose metadata changes — never the whole tree. */
#include "sync/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sync/deltasend.h"
#include "sync/filter.h"
#include "sync/manifest.h"
#include "sync/remote.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* File jobs waiting at most; a walker that finds the queue full runs the job itself. */
#define QUEUE_MAX  8192
#define COPY_TRIES 3

enum job_type { JOB_DIR, JOB_COPY, JOB_HASH, JOB_MHASH, JOB_VHASH, JOB_VMAN, JOB_ATTRS };
/* J_NEW_XATTRS: a JOB_ATTRS for a directory just created, which gets the source's xattrs */
enum { J_DST_MISSING = 1, J_FINAL = 2, J_REMOVE_FIRST = 4, J_NEW_XATTRS = 8 };

struct job {
	struct job *next;
	uint8_t type, flags;
	unsigned why;
	struct gm_sync_meta s, d;
	struct gm_sync_hash hash;
	uint32_t plen, dplen;
	bool dsame; /* the destination path is path itself */
	char path[];
};

struct hl_leader {
	struct hl_leader *next;
	uint64_t dev, ino;   /* at the source */
	uint64_t ddev, dino; /* the leader's destination file before the run (0: none) */
	bool changed;        /* the leader gets new content: every other name is re-linked */
	char *path;
};

struct hl_follower {
	char *path;
	size_t len;
	struct gm_sync_meta s;
	struct hl_leader *leader;
	enum gm_sync_kind dkind;
	bool need;
};

struct fin {
	char *path;
	unsigned depth;
	struct gm_sync_meta m;
};

#define HL_BUCKETS 65536

struct counters {
	_Atomic uint64_t files, files_done, bytes_total, bytes_done, copied, unchanged,
	        meta_updated, dirs_created, symlinks, hardlinks, deleted, failed, skipped,
	        bytes_sent, resumed_bytes, differences;
};

struct engine {
	const struct gm_sync_opts *o;
	struct gm_sync_endpoint *src, *dst;
	unsigned wflags, dflags, setflags;
	bool hardlinks, xattrs, dry;
	/* -X where the destination can be told a whole set: the xattrs of entries that need no
	 * copy are compared and updated (JOB_ATTRS) */
	bool xsync;

	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct job *dirs, *fhead, *ftail;
	size_t nfiles, ndirs, dirs_running;
	unsigned active;
	bool walking;

	pthread_mutex_t rmu; /* results, callbacks, manifest, lists below */
	struct gm_sync_result *res;
	struct counters c;
	FILE *mf;
	struct gm_buf mline;
	char **del;
	size_t n_del, cap_del;
	struct fin *fin;
	size_t n_fin, cap_fin;
	struct hl_leader **hl;
	struct hl_follower *fol;
	size_t n_fol, cap_fol;
	char **dfail; /* files whose deferred commit failed (drain): not in the manifest */
	size_t n_dfail, cap_dfail;

	pthread_mutex_t bwmu;
	struct gm_sync_bw bw;

	atomic_bool no_space;
	_Atomic uint64_t space_needed;

	pthread_mutex_t pmu;
	pthread_cond_t pcv;
	bool pdone;
	int64_t t0;
};

struct worker {
	struct engine *e;
	pthread_t th;
	struct gm_sync_list sl, dl;
	struct gm_buf mpath, xattrs, dxattrs, link;
	struct gm_err err, jerr;
	const char *dir;
	unsigned changes;
};

#define ADD(e, f, n) atomic_fetch_add_explicit(&(e)->c.f, (uint64_t)(n), memory_order_relaxed)
#define SUB(e, f, n) atomic_fetch_sub_explicit(&(e)->c.f, (uint64_t)(n), memory_order_relaxed)
#define GET(e, f)    atomic_load_explicit(&(e)->c.f, memory_order_relaxed)

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool stopped(const struct engine *e)
{
	return e->o->stop && *e->o->stop;
}

/* ---- reports ---- */

static void note_problem(struct engine *e, const char *kind, const char *path, size_t len,
                         const char *msg)
{
	pthread_mutex_lock(&e->rmu);
	struct gm_sync_result *r = e->res;
	if (r->n_problems < GM_SYNC_PROBLEMS_KEPT) {
		r->problems =
		        gm_xreallocarray(r->problems, r->n_problems + 1, sizeof(*r->problems));
		struct gm_sync_problem *p = &r->problems[r->n_problems++];
		p->kind = kind;
		p->path = gm_xstrndup(path, len);
		p->path_len = len;
		p->msg = gm_xstrdup(msg);
	}
	if (e->o->problem)
		e->o->problem(e->o->ctx, kind, path, len, msg);
	pthread_mutex_unlock(&e->rmu);
}

static void fail(struct engine *e, const char *path, size_t len, const struct gm_err *err)
{
	ADD(e, failed, 1);
	note_problem(e, e->o->verify ? "error" : "failed", path, len, gm_err_msg(err));
}

static void differ(struct engine *e, const char *kind, const char *path, size_t len,
                   const char *msg)
{
	ADD(e, differences, 1);
	note_problem(e, kind, path, len, msg);
}

/* An rsync -i style code: YXcstpogu.x */
static void item(struct engine *e, char y, char x, unsigned why, const char *path, size_t len)
{
	if (!e->o->item)
		return;
	char code[12];
	code[0] = y, code[1] = x;
	if (why & (GM_SYNC_WHY_NEW | GM_SYNC_WHY_KIND)) {
		memset(code + 2, '+', 9);
	} else {
		code[2] = why & GM_SYNC_WHY_SUM ? 'c' : '.';
		code[3] = why & GM_SYNC_WHY_SIZE ? 's' : '.';
		code[4] = why & GM_SYNC_WHY_TIME ? 't' : '.';
		code[5] = why & GM_SYNC_WHY_MODE ? 'p' : '.';
		code[6] = why & GM_SYNC_WHY_OWNER ? 'o' : '.';
		code[7] = why & GM_SYNC_WHY_OWNER ? 'g' : '.';
		code[8] = '.', code[9] = '.';
		code[10] = why & GM_SYNC_WHY_XATTRS ? 'x' : '.';
		if (why & GM_SYNC_WHY_TARGET)
			code[2] = 'c';
	}
	code[11] = '\0';
	struct gm_buf p = GM_BUF_INIT;
	gm_buf_add(&p, len ? path : ".", len ? len : 1);
	if (x == 'd')
		gm_buf_addch(&p, '/');
	pthread_mutex_lock(&e->rmu);
	e->o->item(e->o->ctx, code, gm_buf_cstr(&p), p.len);
	pthread_mutex_unlock(&e->rmu);
	gm_buf_release(&p);
}

static void manifest_add(struct engine *e, const char *path, size_t len,
                         const struct gm_sync_meta *m, const struct gm_sync_hash *h, bool copied)
{
	if (!e->mf)
		return;
	pthread_mutex_lock(&e->rmu);
	gm_buf_reset(&e->mline);
	gm_sync_manifest_line(&e->mline, path, len, m, h, copied);
	fwrite(e->mline.data, 1, e->mline.len, e->mf);
	pthread_mutex_unlock(&e->rmu);
}

static void finalize_add(struct engine *e, const char *path, const struct gm_sync_meta *m)
{
	unsigned depth = path[0] ? 1 : 0;
	for (const char *p = path; *p; p++)
		depth += *p == '/';
	pthread_mutex_lock(&e->rmu);
	if (e->n_fin == e->cap_fin) {
		e->cap_fin = e->cap_fin ? 2 * e->cap_fin : 64;
		e->fin = gm_xreallocarray(e->fin, e->cap_fin, sizeof(*e->fin));
	}
	e->fin[e->n_fin++] = (struct fin){gm_xstrdup(path), depth, *m};
	pthread_mutex_unlock(&e->rmu);
}

/* ---- the queues ---- */

static struct job *job_new(enum job_type type, const char *path, size_t plen, const char *dpath,
                           size_t dplen)
{
	bool same = !dpath || (dplen == plen && memcmp(dpath, path, plen) == 0);
	size_t extra = plen + 1 + (same ? 0 : dplen + 1);
	struct job *j = gm_xmalloc(sizeof(*j) + extra);
	memset(j, 0, sizeof(*j));
	j->type = (uint8_t)type;
	j->plen = (uint32_t)plen;
	j->dsame = same;
	if (plen)
		memcpy(j->path, path, plen);
	j->path[plen] = '\0';
	if (!same) {
		memcpy(j->path + plen + 1, dpath, dplen);
		j->path[plen + 1 + dplen] = '\0';
		j->dplen = (uint32_t)dplen;
	} else {
		j->dplen = (uint32_t)plen;
	}
	return j;
}

static const char *job_dpath(const struct job *j)
{
	return j->dsame ? j->path : j->path + j->plen + 1;
}

static void push_dir(struct engine *e, struct job *j)
{
	pthread_mutex_lock(&e->qmu);
	j->next = e->dirs;
	e->dirs = j;
	e->ndirs++;
	pthread_cond_signal(&e->qcv);
	pthread_mutex_unlock(&e->qmu);
}

static void run_job(struct worker *w, struct job *j);

/* Queues a file job; when the queue is full the caller runs it (bounded memory without a
 * deadlock: the walkers are the workers). */
static void push_file(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	pthread_mutex_lock(&e->qmu);
	if (e->nfiles >= QUEUE_MAX) {
		pthread_mutex_unlock(&e->qmu);
		run_job(w, j);
		free(j);
		return;
	}
	j->next = NULL;
	if (e->ftail)
		e->ftail->next = j;
	else
		e->fhead = j;
	e->ftail = j;
	e->nfiles++;
	pthread_cond_signal(&e->qcv);
	pthread_mutex_unlock(&e->qmu);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *e = w->e;
	pthread_mutex_lock(&e->qmu);
	for (;;) {
		struct job *j = NULL;
		if (stopped(e)) {
			pthread_cond_broadcast(&e->qcv);
			break;
		}
		if (e->dirs) {
			j = e->dirs;
			e->dirs = j->next;
			e->ndirs--;
			e->dirs_running++;
		} else if (e->fhead) {
			j = e->fhead;
			e->fhead = j->next;
			if (!e->fhead)
				e->ftail = NULL;
			e->nfiles--;
		}
		if (!j) {
			if (e->active == 0) {
				pthread_cond_broadcast(&e->qcv);
				break;
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100000000;
			if (ts.tv_nsec >= 1000000000)
				ts.tv_sec++, ts.tv_nsec -= 1000000000;
			pthread_cond_timedwait(&e->qcv, &e->qmu, &ts);
			continue;
		}
		e->active++;
		pthread_mutex_unlock(&e->qmu);
		bool was_dir = j->type == JOB_DIR;
		run_job(w, j);
		free(j);
		pthread_mutex_lock(&e->qmu);
		e->active--;
		if (was_dir)
			e->dirs_running--;
		if (e->active == 0 && !e->dirs && !e->fhead)
			pthread_cond_broadcast(&e->qcv);
	}
	pthread_mutex_unlock(&e->qmu);
	return NULL;
}

/* ---- copying ---- */

static void throttle(struct engine *e, size_t n)
{
	if (!e->o->bwlimit)
		return;
	pthread_mutex_lock(&e->bwmu);
	int64_t wait = gm_sync_bw_take(&e->bw, now_ns(), n);
	pthread_mutex_unlock(&e->bwmu);
	while (wait > 0 && !stopped(e)) {
		int64_t step = wait < 100000000 ? wait : 100000000;
		struct timespec ts = {0, (long)step};
		nanosleep(&ts, NULL);
		wait -= step;
	}
}

/* The end of a copy whose reader reached END: retry when the source changed, else xattrs
 * and commit (the destination checks the whole-file hash). done: bytes counted as done by
 * this attempt, taken back when it fails. */
static enum gm_rc finish_copy(struct worker *w, const char *sp, struct gm_sync_writer *wr,
                              const struct gm_sync_piece *pc, struct gm_sync_meta *m,
                              struct gm_sync_hash *h, bool *changed, uint64_t done)
{
	struct engine *e = w->e;
	const struct gm_sync_ops *dops = e->dst->ops;
	struct gm_err *err = &w->jerr;
	enum gm_rc rc;
	if (pc->changed) {
		dops->abort(wr, false);
		SUB(e, bytes_done, done);
		*m = pc->meta;
		*changed = true;
		return GM_OK;
	}
	if (e->xattrs) {
		gm_buf_reset(&w->xattrs);
		rc = e->src->ops->xattrs(e->src, sp, &w->xattrs, err);
		if (rc != GM_OK) {
			dops->abort(wr, false);
			SUB(e, bytes_done, done);
			return rc;
		}
	}
	struct gm_sync_hash written;
	rc = dops->commit(wr, pc->whole_valid ? &pc->hash : NULL, &pc->meta,
	                  e->xattrs ? &w->xattrs : NULL, &written, err);
	if (rc != GM_OK) {
		SUB(e, bytes_done, done);
		return rc;
	}
	*m = pc->meta;
	*h = pc->whole_valid ? pc->hash : written;
	return GM_OK;
}

/* One attempt. *changed: the source moved while read (m then holds its new metadata). */
static enum gm_rc copy_once(struct worker *w, const char *sp, const char *dp,
                            struct gm_sync_meta *m, struct gm_sync_hash *h, bool *changed)
{
	struct engine *e = w->e;
	const struct gm_sync_ops *so = e->src->ops, *dops = e->dst->ops;
	struct gm_err *err = &w->jerr;
	struct gm_sync_writer *wr = NULL;
	struct gm_sync_reader *r = NULL;
	struct gm_sync_piece pc = {0};
	uint64_t at = 0, done = 0;
	enum gm_rc rc;
	*changed = false;
	rc = dops->open_write(e->dst, dp, m, e->wflags, &wr, &at, err);
	if (rc != GM_OK)
		return rc;
	rc = so->open_read(e->src, sp, at, &r, err);
	if (rc != GM_OK) {
		dops->abort(wr, false);
		return rc;
	}
	if (at) {
		ADD(e, resumed_bytes, at);
		ADD(e, bytes_done, at);
		done += at;
	}
	for (;;) {
		if (stopped(e)) {
			rc = gm_err_set(err, GM_ERR_INTERRUPTED, "interrupted");
			break;
		}
		rc = so->read(r, &pc, err);
		if (rc != GM_OK)
			break;
		if (pc.kind == GM_SYNC_PIECE_END)
			break;
		switch (pc.kind) {
		case GM_SYNC_PIECE_DATA:
			throttle(e, pc.len);
			rc = dops->write(wr, pc.data, pc.len, err);
			ADD(e, bytes_sent, pc.len);
			ADD(e, bytes_done, pc.len);
			done += pc.len;
			break;
		case GM_SYNC_PIECE_HOLE:
			rc = dops->hole(wr, pc.len, err);
			ADD(e, bytes_done, pc.len);
			done += pc.len;
			break;
		case GM_SYNC_PIECE_CHUNK: rc = dops->chunk(wr, &pc.hash, err); break;
		case GM_SYNC_PIECE_END: break;
		}
		if (rc != GM_OK)
			break;
	}
	if (rc != GM_OK) {
		bool keep = rc == GM_ERR_INTERRUPTED || rc == GM_ERR_UNREACHABLE ||
		            rc == GM_ERR_PROTOCOL;
		if (stopped(e))
			keep = true;
		dops->abort(wr, keep);
		so->close_read(r);
		SUB(e, bytes_done, done);
		return rc;
	}
	so->close_read(r);
	return finish_copy(w, sp, wr, &pc, m, h, changed, done);
}

/* Delta progress: what was read counts as done, what went on the wire as sent. */
struct delta_progress {
	struct engine *e;
	uint64_t done;
};

static void delta_progress(void *ctx, uint64_t logical, uint64_t wire)
{
	struct delta_progress *dp = ctx;
	throttle(dp->e, wire);
	ADD(dp->e, bytes_sent, wire);
	ADD(dp->e, bytes_done, logical);
	dp->done += logical;
}

/* One attempt by delta against the destination's current copy (deltasend.h). */
static enum gm_rc delta_once(struct worker *w, const char *sp, const char *dp,
                             struct gm_sync_meta *m, struct gm_sync_hash *h, bool *changed)
{
	struct engine *e = w->e;
	struct delta_progress prog = {e, 0};
	struct gm_sync_writer *wr = NULL;
	struct gm_sync_piece pc = {0};
	*changed = false;
	enum gm_rc rc = gm_sync_delta_send(e->src, sp, e->dst, dp, m, e->wflags, e->o->stop,
	                                   delta_progress, &prog, &wr, &pc, &w->jerr);
	if (rc != GM_OK) {
		SUB(e, bytes_done, prog.done);
		return rc;
	}
	return finish_copy(w, sp, wr, &pc, m, h, changed, prog.done);
}

static void run_copy(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	const char *dp = job_dpath(j);
	struct gm_sync_meta m = j->s;
	struct gm_sync_hash h;
	bool changed = false;
	enum gm_rc rc = GM_OK;
	if (stopped(e))
		return;
	if (atomic_load(&e->no_space)) {
		atomic_fetch_add(&e->space_needed, j->s.size);
		ADD(e, failed, 1);
		ADD(e, files_done, 1);
		return;
	}
	gm_err_clear(&w->jerr);
	bool delta = j->d.kind == GM_SYNC_FILE && !(j->flags & J_REMOVE_FIRST) &&
	             gm_sync_delta_worth(e->dst, j->s.size, j->d.size);
	if (j->flags & J_REMOVE_FIRST)
		rc = e->dst->ops->remove(e->dst, dp, &w->jerr);
	for (int t = 0; rc == GM_OK && t < COPY_TRIES; t++) {
		gm_err_clear(&w->jerr);
		if (delta)
			rc = delta_once(w, j->path, dp, &m, &h, &changed);
		if (!delta || (rc != GM_OK && rc != GM_ERR_INTERRUPTED && !stopped(e))) {
			/* No delta, or it failed (the old copy changed, a delta error): whole file.
			 */
			delta = false;
			gm_err_clear(&w->jerr);
			rc = copy_once(w, j->path, dp, &m, &h, &changed);
		}
		if (!changed)
			break;
	}
	if (rc == GM_OK && changed)
		rc = gm_err_set(&w->jerr, GM_ERR_CHANGED,
		                "changed while being read, %d times in a row: not copied",
		                COPY_TRIES);
	if (rc == GM_OK) {
		ADD(e, copied, 1);
		ADD(e, files_done, 1);
		manifest_add(e, dp, j->dplen, &m, &h, true);
		return;
	}
	if (rc == GM_ERR_INTERRUPTED && stopped(e))
		return;
	ADD(e, files_done, 1);
	if (rc == GM_ERR_NO_SPACE) {
		atomic_fetch_add(&e->space_needed, m.size);
		if (atomic_exchange(&e->no_space, true)) {
			ADD(e, failed, 1);
			return;
		}
	}
	fail(e, dp, j->dplen, &w->jerr);
}

static bool meta_differs(unsigned why)
{
	return why & (GM_SYNC_WHY_TIME | GM_SYNC_WHY_MODE | GM_SYNC_WHY_OWNER);
}

/* The attributes of an entry both sides hold whose content needs no copy: with xsync, both
 * sides' xattrs are read and compared as sets (w->xattrs keeps the source's); then the entry
 * is itemised once for what differs, and, unless a dry run, set_meta (when set_meta and why
 * say so: files; directories get theirs at the end) and set_xattrs bring the destination in
 * line. false after reporting a failure. */
static bool update_attrs(struct worker *w, const char *sp, const char *dp, size_t dplen,
                         const struct gm_sync_meta *s, unsigned why, char x, bool set_meta)
{
	struct engine *e = w->e;
	const struct gm_sync_ops *dops = e->dst->ops;
	if (e->xsync) {
		if (e->src->ops->xattrs(e->src, sp, &w->xattrs, &w->jerr) != GM_OK ||
		    dops->xattrs(e->dst, dp, &w->dxattrs, &w->jerr) != GM_OK) {
			fail(e, dp, dplen, &w->jerr);
			return false;
		}
		if (!gm_sync_xattrs_same(w->xattrs.data, w->xattrs.len, w->dxattrs.data,
		                         w->dxattrs.len))
			why |= GM_SYNC_WHY_XATTRS;
	}
	set_meta = set_meta && meta_differs(why);
	if (why)
		item(e, '.', x, why, dp, dplen);
	if (!set_meta && !(why & GM_SYNC_WHY_XATTRS))
		return true; /* a directory's own time and mode: finalize_dirs */
	if (!e->dry &&
	    ((set_meta && dops->set_meta(e->dst, dp, s, e->setflags, &w->jerr) != GM_OK) ||
	     ((why & GM_SYNC_WHY_XATTRS) &&
	      dops->set_xattrs(e->dst, dp, &w->xattrs, &w->jerr) != GM_OK))) {
		fail(e, dp, dplen, &w->jerr);
		return false;
	}
	ADD(e, meta_updated, 1);
	return true;
}

static void run_hash(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	const char *dp = job_dpath(j);
	struct gm_sync_hash hs, hd;
	gm_err_clear(&w->jerr);
	if (e->src->ops->hash(e->src, j->path, &hs, NULL, &w->jerr) != GM_OK ||
	    e->dst->ops->hash(e->dst, dp, &hd, NULL, &w->jerr) != GM_OK) {
		ADD(e, files_done, 1);
		fail(e, dp, j->dplen, &w->jerr);
		return;
	}
	if (gm_sync_hash_equal(&hs, &hd)) {
		if (!update_attrs(w, j->path, dp, j->dplen, &j->s, j->why, 'f', true)) {
			ADD(e, files_done, 1);
			return;
		}
		ADD(e, unchanged, 1);
		ADD(e, files_done, 1);
		manifest_add(e, dp, j->dplen, &j->s, &hs, false);
		return;
	}
	j->why |= GM_SYNC_WHY_SUM;
	item(e, '>', 'f', j->why, dp, j->dplen);
	ADD(e, bytes_total, j->s.size);
	if (e->dry) {
		ADD(e, copied, 1);
		ADD(e, files_done, 1);
		return;
	}
	run_copy(w, j);
}

static void run_mhash(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	struct gm_sync_hash h;
	gm_err_clear(&w->jerr);
	if (e->src->ops->hash(e->src, j->path, &h, NULL, &w->jerr) != GM_OK) {
		fail(e, job_dpath(j), j->dplen, &w->jerr);
		return;
	}
	manifest_add(e, job_dpath(j), j->dplen, &j->s, &h, false);
}

/* An entry found up to date by the walk, with xsync (update_attrs): a file is then counted
 * as unchanged (and hashed for the manifest), a directory was itemised by nobody yet. */
static void run_attrs(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	bool file = j->s.kind == GM_SYNC_FILE;
	gm_err_clear(&w->jerr);
	if (j->flags & J_NEW_XATTRS) { /* itemised as created: only the copy of its set */
		if (e->src->ops->xattrs(e->src, j->path, &w->xattrs, &w->jerr) != GM_OK ||
		    (w->xattrs.len &&
		     e->dst->ops->set_xattrs(e->dst, job_dpath(j), &w->xattrs, &w->jerr) != GM_OK))
			fail(e, job_dpath(j), j->dplen, &w->jerr);
		return;
	}
	bool ok = update_attrs(w, j->path, job_dpath(j), j->dplen, &j->s, j->why, file ? 'f' : 'd',
	                       file);
	if (!file)
		return;
	if (ok)
		ADD(e, unchanged, 1);
	ADD(e, files_done, 1);
	if (ok && e->mf)
		run_mhash(w, j);
}

/* verify: both sides' hashes of a file whose sizes agree. */
static void run_vhash(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	const char *dp = job_dpath(j);
	struct gm_sync_hash hs, hd;
	char a[33], b[33], msg[128];
	gm_err_clear(&w->jerr);
	if (e->src->ops->hash(e->src, j->path, &hs, NULL, &w->jerr) != GM_OK ||
	    e->dst->ops->hash(e->dst, dp, &hd, NULL, &w->jerr) != GM_OK) {
		ADD(e, files_done, 1);
		fail(e, dp, j->dplen, &w->jerr);
		return;
	}
	ADD(e, files_done, 1);
	ADD(e, bytes_done, j->s.size);
	if (!gm_sync_hash_equal(&hs, &hd)) {
		gm_sync_hash_hex(&hs, a);
		gm_sync_hash_hex(&hd, b);
		snprintf(msg, sizeof(msg),
		         "content: xxh128 %s at the source, %s at the destination", a, b);
		differ(e, GM_SYNC_DIFF_DIFFERS, dp, j->dplen, msg);
	}
}

/* verify --manifest: one listed file. */
static void run_vman(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	struct gm_sync_hash h;
	struct gm_sync_meta m;
	char a[33], b[33], msg[160];
	gm_err_clear(&w->jerr);
	enum gm_rc rc = e->dst->ops->hash(e->dst, j->path, &h, &m, &w->jerr);
	ADD(e, files_done, 1);
	ADD(e, bytes_done, j->s.size);
	if (rc == GM_ERR_NOT_FOUND) {
		differ(e, GM_SYNC_DIFF_MISSING, j->path, j->plen, "listed in the manifest, absent");
		return;
	}
	if (rc != GM_OK) {
		fail(e, j->path, j->plen, &w->jerr);
		return;
	}
	if (m.size != j->s.size) {
		snprintf(msg, sizeof(msg), "size: %" PRIu64 " in the manifest, %" PRIu64 " here",
		         j->s.size, m.size);
		differ(e, GM_SYNC_DIFF_DIFFERS, j->path, j->plen, msg);
	} else if (!gm_sync_hash_equal(&h, &j->hash)) {
		gm_sync_hash_hex(&j->hash, a);
		gm_sync_hash_hex(&h, b);
		snprintf(msg, sizeof(msg), "content: xxh128 %s in the manifest, %s here", a, b);
		differ(e, GM_SYNC_DIFF_DIFFERS, j->path, j->plen, msg);
	}
}

/* ---- the walk ---- */

static bool shard_skips(const struct engine *e, const char *path, size_t len)
{
	return e->o->shard_count > 1 &&
	       gm_sync_shard_of(path, len, e->o->shard_count) != e->o->shard_index;
}

/* The same for a file: one with several names goes by its inode, so the shard that copies
 * it also links its other names. */
static bool shard_skips_file(const struct engine *e, const char *path, size_t len,
                             const struct gm_sync_meta *m)
{
	if (e->o->shard_count > 1 && e->hardlinks && m->nlink > 1)
		return gm_sync_shard_of_inode(m->ino, e->o->shard_count) != e->o->shard_index;
	return shard_skips(e, path, len);
}

/* A file with other names: true when this name is linked to an earlier one at the end. */
static bool hl_register(struct worker *w, const char *path, size_t len,
                        const struct gm_sync_entry *s, const struct gm_sync_entry *d,
                        struct gm_sync_decision dec)
{
	struct engine *e = w->e;
	uint64_t key = (s->meta.dev * 0x9E3779B97F4A7C15ull) ^ s->meta.ino;
	size_t b = (size_t)((key ^ (key >> 29)) % HL_BUCKETS);
	bool dfile = d && d->meta.kind == GM_SYNC_FILE;
	bool follower = false;
	pthread_mutex_lock(&e->rmu);
	struct hl_leader *l = e->hl[b];
	while (l && !(l->dev == s->meta.dev && l->ino == s->meta.ino))
		l = l->next;
	if (!l) {
		l = gm_xcalloc(1, sizeof(*l));
		l->dev = s->meta.dev, l->ino = s->meta.ino;
		l->ddev = dfile ? d->meta.dev : 0;
		l->dino = dfile ? d->meta.ino : 0;
		l->changed = dec.action == GM_SYNC_ACT_COPY || dec.action == GM_SYNC_ACT_HASH;
		l->path = gm_xstrndup(path, len);
		l->next = e->hl[b];
		e->hl[b] = l;
	} else {
		if (e->n_fol == e->cap_fol) {
			e->cap_fol = e->cap_fol ? 2 * e->cap_fol : 64;
			e->fol = gm_xreallocarray(e->fol, e->cap_fol, sizeof(*e->fol));
		}
		struct hl_follower *f = &e->fol[e->n_fol++];
		f->path = gm_xstrndup(path, len);
		f->len = len;
		f->s = s->meta;
		f->leader = l;
		f->dkind = d ? d->meta.kind : GM_SYNC_NONE;
		f->need = l->changed || !dfile || !l->dino || d->meta.dev != l->ddev ||
		          d->meta.ino != l->dino;
		if (f->need)
			w->changes++;
		follower = true;
	}
	pthread_mutex_unlock(&e->rmu);
	return follower;
}

static void queue_file(struct worker *w, enum job_type type, const char *path, size_t plen,
                       const char *dpath, size_t dplen, const struct gm_sync_meta *s,
                       const struct gm_sync_meta *d, unsigned why, uint8_t flags)
{
	struct job *j = job_new(type, path, plen, dpath, dplen);
	j->s = *s;
	if (d)
		j->d = *d;
	j->why = why;
	j->flags = flags;
	push_file(w, j);
}

static void file_entry(struct worker *w, const char *path, size_t plen, const char *dpath,
                       size_t dplen, const struct gm_sync_entry *s, const struct gm_sync_entry *d,
                       struct gm_sync_decision dec)
{
	struct engine *e = w->e;
	ADD(e, files, 1);
	if (e->hardlinks && s->meta.nlink > 1 && hl_register(w, dpath, dplen, s, d, dec))
		return;
	switch (dec.action) {
	case GM_SYNC_ACT_META:
	case GM_SYNC_ACT_NONE:
		if (!e->xsync)
			break;
		queue_file(w, JOB_ATTRS, path, plen, dpath, dplen, &s->meta, &d->meta, dec.why, 0);
		return;
	default: break;
	}
	switch (dec.action) {
	case GM_SYNC_ACT_META:
		item(e, '.', 'f', dec.why, dpath, dplen);
		if (!e->dry &&
		    e->dst->ops->set_meta(e->dst, dpath, &s->meta, e->setflags, &w->err) != GM_OK) {
			ADD(e, files_done, 1);
			fail(e, dpath, dplen, &w->err);
			return;
		}
		ADD(e, meta_updated, 1);
		/* fall through */
	case GM_SYNC_ACT_NONE:
		ADD(e, unchanged, 1);
		ADD(e, files_done, 1);
		if (e->mf)
			queue_file(w, JOB_MHASH, path, plen, dpath, dplen, &s->meta, NULL, 0, 0);
		return;
	case GM_SYNC_ACT_HASH:
		w->changes++;
		queue_file(w, JOB_HASH, path, plen, dpath, dplen, &s->meta, &d->meta, dec.why, 0);
		return;
	default:
		w->changes++;
		ADD(e, bytes_total, s->meta.size);
		item(e, '>', 'f', dec.why, dpath, dplen);
		if (e->dry) {
			ADD(e, copied, 1);
			ADD(e, files_done, 1);
			return;
		}
		queue_file(w, JOB_COPY, path, plen, dpath, dplen, &s->meta, d ? &d->meta : NULL,
		           dec.why, d && d->meta.kind == GM_SYNC_DIR ? J_REMOVE_FIRST : 0);
		return;
	}
}

static void push_dir_job(struct engine *e, const char *path, size_t len,
                         const struct gm_sync_meta *m, uint8_t flags)
{
	struct job *j = job_new(JOB_DIR, path, len, NULL, 0);
	j->s = *m;
	j->flags = flags;
	push_dir(e, j);
}

static void dir_entry(struct worker *w, const char *path, size_t len, const struct gm_sync_entry *s,
                      struct gm_sync_decision dec)
{
	struct engine *e = w->e;
	if (dec.action == GM_SYNC_ACT_DESCEND) {
		uint8_t flags = 0;
		if (e->xsync) /* itemised there, with its xattrs */
			queue_file(w, JOB_ATTRS, path, len, NULL, 0, &s->meta, NULL, dec.why, 0);
		else if (dec.why)
			item(e, '.', 'd', dec.why, path, len);
		if (dec.why) {
			finalize_add(e, path, &s->meta);
			flags |= J_FINAL;
		}
		if (!e->o->shallow)
			push_dir_job(e, path, len, &s->meta, flags);
		return;
	}
	item(e, 'c', 'd', dec.why, path, len);
	if (!e->dry) {
		struct gm_sync_meta m = s->meta;
		m.mode |= 0700; /* we write inside; the real mode comes at the end */
		if (((dec.why & GM_SYNC_WHY_KIND) &&
		     e->dst->ops->remove(e->dst, path, &w->err) != GM_OK) ||
		    e->dst->ops->mkdir(e->dst, path, &m, &w->err) != GM_OK) {
			fail(e, path, len, &w->err);
			return;
		}
	}
	if (e->xsync && !e->dry)
		queue_file(w, JOB_ATTRS, path, len, NULL, 0, &s->meta, NULL, 0, J_NEW_XATTRS);
	ADD(e, dirs_created, 1);
	w->changes++;
	finalize_add(e, path, &s->meta);
	push_dir_job(e, path, len, &s->meta, J_DST_MISSING | J_FINAL);
}

static void link_entry(struct worker *w, const char *path, size_t len,
                       const struct gm_sync_entry *s, const struct gm_sync_entry *d,
                       struct gm_sync_decision dec)
{
	struct engine *e = w->e;
	if (dec.action == GM_SYNC_ACT_NONE)
		return;
	if (dec.action == GM_SYNC_ACT_META) {
		item(e, '.', 'L', dec.why, path, len);
		if (!e->dry &&
		    e->dst->ops->set_meta(e->dst, path, &s->meta, e->setflags, &w->err) != GM_OK) {
			fail(e, path, len, &w->err);
			return;
		}
		ADD(e, meta_updated, 1);
		return;
	}
	item(e, 'c', 'L', dec.why, path, len);
	w->changes++;
	if (!e->dry) {
		if ((d && d->meta.kind == GM_SYNC_DIR &&
		     e->dst->ops->remove(e->dst, path, &w->err) != GM_OK) ||
		    e->dst->ops->symlink(e->dst, path, s->link ? s->link : "", &s->meta, &w->err) !=
		            GM_OK) {
			fail(e, path, len, &w->err);
			return;
		}
	}
	ADD(e, symlinks, 1);
}

/* The entry with its real metadata: a listing that left it partial (an S3 listing: mode and
 * mtime unknown) is completed by a stat. false after reporting a failed stat. */
static bool exact_entry(struct worker *w, struct gm_sync_endpoint *ep, const char *path, size_t len,
                        const struct gm_sync_entry *in, struct gm_sync_entry *out)
{
	*out = *in;
	if (!in->meta.partial)
		return true;
	if (ep->ops->stat(ep, path, &out->meta, NULL, &w->err) != GM_OK) {
		fail(w->e, path, len, &w->err);
		return false;
	}
	if (out->meta.kind != in->meta.kind) /* replaced since the listing: decide on the list */
		out->meta = in->meta;
	out->meta.partial = false;
	return true;
}

static void handle_entry(struct worker *w, const char *path, size_t plen, const char *dpath,
                         size_t dplen, const struct gm_sync_entry *s, const struct gm_sync_entry *d)
{
	struct engine *e = w->e;
	struct gm_sync_entry sx, dx;
	if (d && (s->meta.partial || d->meta.partial)) { /* a decision needs the real times */
		if (!exact_entry(w, e->src, path, plen, s, &sx) ||
		    !exact_entry(w, e->dst, dpath, dplen, d, &dx))
			return;
		s = &sx, d = &dx;
	}
	struct gm_sync_decision dec = gm_sync_decide(s, d, e->dflags);
	switch (s->meta.kind) {
	case GM_SYNC_FILE:
		if (!shard_skips_file(e, dpath, dplen, &s->meta))
			file_entry(w, path, plen, dpath, dplen, s, d, dec);
		return;
	case GM_SYNC_DIR: dir_entry(w, dpath, dplen, s, dec); return;
	case GM_SYNC_SYMLINK:
		if (!shard_skips(e, dpath, dplen))
			link_entry(w, dpath, dplen, s, d, dec);
		return;
	default:
		ADD(e, skipped, 1);
		if (e->o->warn) {
			pthread_mutex_lock(&e->rmu);
			e->o->warn(e->o->ctx, dpath, dplen,
			           "not a regular file, directory or symlink: skipped");
			pthread_mutex_unlock(&e->rmu);
		}
		return;
	}
}

static void extra_entry(struct worker *w, const char *path, size_t len)
{
	struct engine *e = w->e;
	if (!e->o->delete_extra || shard_skips(e, path, len))
		return;
	pthread_mutex_lock(&e->rmu);
	if (e->n_del == e->cap_del) {
		e->cap_del = e->cap_del ? 2 * e->cap_del : 64;
		e->del = gm_xreallocarray(e->del, e->cap_del, sizeof(*e->del));
	}
	e->del[e->n_del++] = gm_xstrndup(path, len);
	pthread_mutex_unlock(&e->rmu);
	w->changes++;
}

static const char *kind_name(enum gm_sync_kind k)
{
	switch (k) {
	case GM_SYNC_FILE: return "a file";
	case GM_SYNC_DIR: return "a directory";
	case GM_SYNC_SYMLINK: return "a symlink";
	case GM_SYNC_SPECIAL: return "a special file";
	default: return "nothing";
	}
}

static void verify_entry(struct worker *w, const char *path, size_t plen, const char *dpath,
                         size_t dplen, const struct gm_sync_entry *s, const struct gm_sync_entry *d)
{
	struct engine *e = w->e;
	struct gm_buf msg = GM_BUF_INIT;
	if (!s) {
		gm_buf_addf(&msg, "%s only at the destination", kind_name(d->meta.kind));
		differ(e, GM_SYNC_DIFF_EXTRA, dpath, dplen, gm_buf_cstr(&msg));
		goto out;
	}
	if (s->meta.kind == GM_SYNC_FILE)
		ADD(e, files, 1);
	if (!d) {
		gm_buf_addf(&msg, "%s at the source, absent at the destination",
		            kind_name(s->meta.kind));
		differ(e, GM_SYNC_DIFF_MISSING, dpath, dplen, gm_buf_cstr(&msg));
		goto out;
	}
	if (s->meta.kind != d->meta.kind) {
		gm_buf_addf(&msg, "%s at the source, %s at the destination",
		            kind_name(s->meta.kind), kind_name(d->meta.kind));
		differ(e, GM_SYNC_DIFF_KIND, dpath, dplen, gm_buf_cstr(&msg));
		goto out;
	}
	switch (s->meta.kind) {
	case GM_SYNC_FILE:
		if (s->meta.size != d->meta.size) {
			ADD(e, files_done, 1);
			gm_buf_addf(&msg,
			            "size: %" PRIu64 " at the source, %" PRIu64
			            " at the destination",
			            s->meta.size, d->meta.size);
			differ(e, GM_SYNC_DIFF_DIFFERS, dpath, dplen, gm_buf_cstr(&msg));
		} else {
			ADD(e, bytes_total, s->meta.size);
			queue_file(w, JOB_VHASH, path, plen, dpath, dplen, &s->meta, &d->meta, 0,
			           0);
		}
		break;
	case GM_SYNC_DIR: push_dir_job(e, path, plen, &s->meta, 0); break;
	case GM_SYNC_SYMLINK:
		if (strcmp(s->link ? s->link : "", d->link ? d->link : "") != 0) {
			gm_buf_addf(&msg,
			            "symlink target: '%s' at the source, '%s' at the destination",
			            s->link ? s->link : "", d->link ? d->link : "");
			differ(e, GM_SYNC_DIFF_DIFFERS, dpath, dplen, gm_buf_cstr(&msg));
		}
		break;
	default: break;
	}
out:
	gm_buf_release(&msg);
}

static bool name_ok(const struct gm_sync_entry *x)
{
	return x->name_len > 0 && x->name_len <= GM_SYNC_NAME_MAX &&
	       !memchr(x->name, '/', x->name_len) && !memchr(x->name, '\0', x->name_len) &&
	       !(x->name_len == 1 && x->name[0] == '.') &&
	       !(x->name_len == 2 && x->name[0] == '.' && x->name[1] == '.');
}

static bool merge_cb(void *ctx, const struct gm_sync_entry *s, const struct gm_sync_entry *d)
{
	struct worker *w = ctx;
	struct engine *e = w->e;
	const struct gm_sync_entry *any = s ? s : d;
	if (!name_ok(any)) {
		gm_err_set(&w->err, GM_ERR_PROTOCOL, "an endpoint listed an invalid name");
		fail(e, w->dir, strlen(w->dir), &w->err);
		return !stopped(e);
	}
	gm_sync_path_join(&w->mpath, w->dir, any->name, any->name_len);
	const char *p = w->mpath.data;
	size_t n = w->mpath.len;
	if (n > GM_SYNC_PATH_MAX) {
		gm_err_set(&w->err, GM_ERR_LIMIT, "path longer than %d bytes: skipped",
		           GM_SYNC_PATH_MAX);
		fail(e, p, n, &w->err);
		return !stopped(e);
	}
	if (e->o->filter &&
	    gm_sync_filter_excluded(e->o->filter, p, n, any->meta.kind == GM_SYNC_DIR))
		return true;
	if (e->o->verify)
		verify_entry(w, p, n, p, n, s, d);
	else if (!s)
		extra_entry(w, p, n);
	else
		handle_entry(w, p, n, p, n, s, d);
	return !stopped(e);
}

static void run_dir(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	enum gm_rc rc;
	gm_err_clear(&w->err);
	rc = e->src->ops->list(e->src, j->path, &w->sl, &w->err);
	if (rc != GM_OK) {
		fail(e, j->path, j->plen, &w->err);
		return;
	}
	gm_sync_list_reset(&w->dl);
	if (e->dst && !(j->flags & J_DST_MISSING)) {
		rc = e->dst->ops->list(e->dst, j->path, &w->dl, &w->err);
		if (rc == GM_ERR_NOT_FOUND) {
			gm_sync_list_reset(&w->dl);
		} else if (rc != GM_OK) {
			fail(e, j->path, j->plen, &w->err);
			return;
		}
	}
	w->dir = j->path;
	w->changes = 0;
	gm_sync_merge(&w->sl, &w->dl, merge_cb, w);
	if (w->changes && !(j->flags & J_FINAL) && !e->o->verify)
		finalize_add(e, j->path, &j->s);
}

static void run_job(struct worker *w, struct job *j)
{
	if (stopped(w->e))
		return;
	switch ((enum job_type)j->type) {
	case JOB_DIR: run_dir(w, j); break;
	case JOB_COPY: run_copy(w, j); break;
	case JOB_HASH: run_hash(w, j); break;
	case JOB_MHASH: run_mhash(w, j); break;
	case JOB_VHASH: run_vhash(w, j); break;
	case JOB_VMAN: run_vman(w, j); break;
	case JOB_ATTRS: run_attrs(w, j); break;
	}
}

/* ---- progress ---- */

static void snapshot(struct engine *e, struct gm_sync_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->files = GET(e, files);
	st->files_done = GET(e, files_done);
	st->bytes_total = GET(e, bytes_total);
	st->bytes_done = GET(e, bytes_done);
	st->copied = GET(e, copied);
	st->unchanged = GET(e, unchanged);
	st->meta_updated = GET(e, meta_updated);
	st->dirs_created = GET(e, dirs_created);
	st->symlinks = GET(e, symlinks);
	st->hardlinks = GET(e, hardlinks);
	st->deleted = GET(e, deleted);
	st->failed = GET(e, failed);
	st->skipped = GET(e, skipped);
	st->bytes_sent = GET(e, bytes_sent);
	st->resumed_bytes = GET(e, resumed_bytes);
	st->differences = GET(e, differences);
	st->wire_bytes = (e->src ? gm_sync_remote_wire_bytes(e->src) : 0) +
	                 (e->dst ? gm_sync_remote_wire_bytes(e->dst) : 0);
	pthread_mutex_lock(&e->qmu);
	st->scanning = e->walking || e->ndirs || e->dirs_running;
	pthread_mutex_unlock(&e->qmu);
	st->seconds = (double)(now_ns() - e->t0) / 1e9;
}

static void *progress_main(void *arg)
{
	struct engine *e = arg;
	struct gm_sync_stats st;
	pthread_mutex_lock(&e->pmu);
	while (!e->pdone) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200000000;
		if (ts.tv_nsec >= 1000000000)
			ts.tv_sec++, ts.tv_nsec -= 1000000000;
		pthread_cond_timedwait(&e->pcv, &e->pmu, &ts);
		if (e->pdone)
			break;
		pthread_mutex_unlock(&e->pmu);
		snapshot(e, &st);
		pthread_mutex_lock(&e->rmu);
		e->o->progress(e->o->ctx, &st, false);
		pthread_mutex_unlock(&e->rmu);
		pthread_mutex_lock(&e->pmu);
	}
	pthread_mutex_unlock(&e->pmu);
	return NULL;
}

/* ---- setup and the end of a run ---- */

static void engine_init(struct engine *e, const struct gm_sync_opts *o, struct gm_sync_result *r)
{
	memset(e, 0, sizeof(*e));
	e->o = o;
	e->res = r;
	e->dry = o->dry_run;
	pthread_mutex_init(&e->qmu, NULL);
	pthread_cond_init(&e->qcv, NULL);
	pthread_mutex_init(&e->rmu, NULL);
	pthread_mutex_init(&e->bwmu, NULL);
	pthread_mutex_init(&e->pmu, NULL);
	pthread_cond_init(&e->pcv, NULL);
	gm_sync_bw_init(&e->bw, o->bwlimit);
	gm_buf_init(&e->mline);
	e->t0 = now_ns();
}

static void free_jobs(struct job *j)
{
	while (j) {
		struct job *n = j->next;
		free(j);
		j = n;
	}
}

static void engine_release(struct engine *e)
{
	free_jobs(e->dirs);
	free_jobs(e->fhead);
	for (size_t i = 0; i < e->n_del; i++)
		free(e->del[i]);
	free(e->del);
	for (size_t i = 0; i < e->n_fin; i++)
		free(e->fin[i].path);
	free(e->fin);
	for (size_t i = 0; e->hl && i < HL_BUCKETS; i++) {
		struct hl_leader *l = e->hl[i];
		while (l) {
			struct hl_leader *n = l->next;
			free(l->path);
			free(l);
			l = n;
		}
	}
	free(e->hl);
	for (size_t i = 0; i < e->n_fol; i++)
		free(e->fol[i].path);
	free(e->fol);
	for (size_t i = 0; i < e->n_dfail; i++)
		free(e->dfail[i]);
	free(e->dfail);
	gm_buf_release(&e->mline);
	gm_sync_endpoint_close(e->src);
	gm_sync_endpoint_close(e->dst);
	pthread_mutex_destroy(&e->qmu);
	pthread_cond_destroy(&e->qcv);
	pthread_mutex_destroy(&e->rmu);
	pthread_mutex_destroy(&e->bwmu);
	pthread_mutex_destroy(&e->pmu);
	pthread_cond_destroy(&e->pcv);
}

static void worker_init(struct worker *w, struct engine *e)
{
	memset(w, 0, sizeof(*w));
	w->e = e;
	gm_sync_list_init(&w->sl);
	gm_sync_list_init(&w->dl);
	gm_buf_init(&w->mpath);
	gm_buf_init(&w->xattrs);
	gm_buf_init(&w->dxattrs);
	gm_buf_init(&w->link);
	gm_err_init(&w->err);
	gm_err_init(&w->jerr);
}

static void worker_release(struct worker *w)
{
	gm_sync_list_release(&w->sl);
	gm_sync_list_release(&w->dl);
	gm_buf_release(&w->mpath);
	gm_buf_release(&w->xattrs);
	gm_buf_release(&w->dxattrs);
	gm_buf_release(&w->link);
	gm_err_release(&w->err);
	gm_err_release(&w->jerr);
}

static bool is_remote(const char *text)
{
	struct gm_sync_selection s;
	gm_sync_selection_init(&s);
	bool remote = false;
	if (strncmp(text, "ssh://", 6) == 0) {
		remote = true;
	} else if (gm_sync_select(text, &s, NULL) == GM_OK) {
		const char *colon = strchr(text, ':'), *slash = strchr(text, '/');
		remote = colon && (!slash || colon < slash) && text[0] != '.' && text[0] != '/';
	}
	gm_sync_selection_release(&s);
	return remote;
}

static unsigned pick_jobs(const struct gm_sync_opts *o, bool remote)
{
	if (o->jobs)
		return o->jobs;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned cpus = n > 0 ? (unsigned)n : 2;
	if (cpus < 2)
		cpus = 2;
	/* Over ssh a worker mostly waits for its commit's reply: more of them keep the
	 * connections full (16 measured best on 2 CPUs for 4 KiB files). */
	if (remote)
		return cpus * 8 < 16 ? 16 : (cpus * 8 > 64 ? 64 : cpus * 8);
	return cpus > 64 ? 64 : cpus;
}

/* Runs the workers until the queues are empty (and the walk is done). produce, when given,
 * runs on this thread while they work (verify --manifest feeds its jobs this way). */
static void run_workers(struct engine *e, unsigned n, void (*produce)(struct worker *w, void *ctx),
                        void *ctx)
{
	struct worker *ws = gm_xcalloc(n + 1, sizeof(*ws));
	pthread_t pt;
	bool progress = e->o->progress != NULL;
	for (unsigned i = 0; i <= n; i++)
		worker_init(&ws[i], e);
	if (progress)
		pthread_create(&pt, NULL, progress_main, e);
	if (produce) {
		pthread_mutex_lock(&e->qmu);
		e->active++;
		pthread_mutex_unlock(&e->qmu);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
	if (produce) {
		produce(&ws[n], ctx);
		pthread_mutex_lock(&e->qmu);
		e->walking = false;
		e->active--;
		pthread_cond_broadcast(&e->qcv);
		pthread_mutex_unlock(&e->qmu);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(ws[i].th, NULL);
	pthread_mutex_lock(&e->qmu);
	e->walking = false;
	pthread_mutex_unlock(&e->qmu);
	if (progress) {
		pthread_mutex_lock(&e->pmu);
		e->pdone = true;
		pthread_cond_signal(&e->pcv);
		pthread_mutex_unlock(&e->pmu);
		pthread_join(pt, NULL);
	}
	for (unsigned i = 0; i <= n; i++)
		worker_release(&ws[i]);
	free(ws);
}

static void link_followers(struct engine *e, struct worker *w)
{
	for (size_t i = 0; i < e->n_fol && !stopped(e); i++) {
		struct hl_follower *f = &e->fol[i];
		gm_err_clear(&w->err);
		if (!f->need) {
			ADD(e, unchanged, 1);
			ADD(e, files_done, 1);
		} else {
			item(e, 'h', 'f', GM_SYNC_WHY_NEW, f->path, f->len);
			if (!e->dry && ((f->dkind == GM_SYNC_DIR &&
			                 e->dst->ops->remove(e->dst, f->path, &w->err) != GM_OK) ||
			                e->dst->ops->hardlink(e->dst, f->leader->path, f->path,
			                                      &w->err) != GM_OK)) {
				ADD(e, files_done, 1);
				fail(e, f->path, f->len, &w->err);
				continue;
			}
			ADD(e, hardlinks, 1);
			ADD(e, files_done, 1);
		}
		if (e->mf) {
			struct gm_sync_hash h;
			if (e->src->ops->hash(e->src, f->path, &h, NULL, &w->err) != GM_OK)
				fail(e, f->path, f->len, &w->err);
			else
				manifest_add(e, f->path, f->len, &f->s, &h, false);
		}
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file whose commit the destination answered only at drain, with a failure: it was
 * counted as copied and is now a failed one. */
static void drain_failed(void *ctx, const char *path, enum gm_rc rc, const char *msg)
{
	struct engine *e = ctx;
	struct gm_err err = GM_ERR_INIT;
	gm_err_set(&err, rc, "%s", msg);
	SUB(e, copied, 1);
	if (rc == GM_ERR_NO_SPACE)
		atomic_store(&e->no_space, true);
	pthread_mutex_lock(&e->rmu);
	if (e->n_dfail == e->cap_dfail) {
		e->cap_dfail = e->cap_dfail ? 2 * e->cap_dfail : 16;
		e->dfail = gm_xreallocarray(e->dfail, e->cap_dfail, sizeof(*e->dfail));
	}
	e->dfail[e->n_dfail++] = gm_xstrdup(path);
	pthread_mutex_unlock(&e->rmu);
	fail(e, path, strlen(path), &err);
	gm_err_release(&err);
}

/* Waits for the destination's answers to commits it took without waiting (endpoint.h:
 * drain), before anything that needs the files in place. */
static void drain_commits(struct engine *e, struct worker *w)
{
	if (!e->dst || e->dry || e->o->verify || !e->dst->ops->drain)
		return;
	gm_err_clear(&w->err);
	e->dst->ops->drain(e->dst, drain_failed, e, &w->err);
}

static void delete_extras(struct engine *e, struct worker *w)
{
	struct gm_sync_result *r = e->res;
	if (!e->o->delete_extra || e->n_del == 0)
		return;
	uint64_t failed = GET(e, failed);
	if (stopped(e)) {
		gm_buf_adds(&r->delete_skipped, "the run was interrupted");
		return;
	}
	if (atomic_load(&e->no_space)) {
		gm_buf_adds(&r->delete_skipped, "the destination filled up");
		return;
	}
	if (failed) {
		gm_buf_addf(&r->delete_skipped, "%" PRIu64 " entr%s failed during the transfer",
		            failed, failed == 1 ? "y" : "ies");
		return;
	}
	qsort(e->del, e->n_del, sizeof(*e->del), cmp_str);
	for (size_t i = 0; i < e->n_del && !stopped(e); i++) {
		size_t len = strlen(e->del[i]);
		if (e->o->item) {
			pthread_mutex_lock(&e->rmu);
			e->o->item(e->o->ctx, "*deleting", e->del[i], len);
			pthread_mutex_unlock(&e->rmu);
		}
		gm_err_clear(&w->err);
		if (!e->dry && e->dst->ops->remove(e->dst, e->del[i], &w->err) != GM_OK) {
			fail(e, e->del[i], len, &w->err);
			continue;
		}
		ADD(e, deleted, 1);
	}
	r->delete_done = true;
}

static int cmp_fin(const void *a, const void *b)
{
	const struct fin *x = a, *y = b;
	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void finalize_dirs(struct engine *e, struct worker *w)
{
	if (e->dry || !e->dst || e->n_fin == 0)
		return;
	qsort(e->fin, e->n_fin, sizeof(*e->fin), cmp_fin);
	for (size_t i = 0; i < e->n_fin && !stopped(e); i++) {
		/* the same directory may be listed twice (its own change and a child's) */
		if (i && strcmp(e->fin[i].path, e->fin[i - 1].path) == 0)
			continue;
		gm_err_clear(&w->err);
		if (e->dst->ops->set_meta(e->dst, e->fin[i].path, &e->fin[i].m, e->setflags,
		                          &w->err) != GM_OK)
			fail(e, e->fin[i].path, strlen(e->fin[i].path), &w->err);
	}
}

static enum gm_rc open_src(const char *text, const struct gm_sync_open_opts *base,
                           struct gm_sync_endpoint **out, struct gm_err *err)
{
	struct gm_sync_open_opts so = *base;
	so.writable = false;
	so.create = false;
	enum gm_rc rc = gm_sync_endpoint_open(text, &so, out, err);
	return rc;
}

/* Opens the destination and says where the top entry goes in it. */
static enum gm_rc open_dst(struct engine *e, const char *dst_text, bool dir_mode, const char *top,
                           struct gm_buf *dpath, struct gm_err *err)
{
	const struct gm_sync_opts *o = e->o;
	struct gm_sync_open_opts d = o->open;
	bool write = !o->dry_run && !o->verify;
	d.writable = write;
	d.create = write;
	gm_buf_reset(dpath);
	gm_buf_adds(dpath, top);
	if (dir_mode || gm_sync_spec_is_dir(dst_text))
		return gm_sync_endpoint_open(dst_text, &d, &e->dst, err);
	/* a single file: into DST when it is a directory, else as DST */
	struct gm_sync_meta m;
	d.create = false;
	if (gm_sync_endpoint_open(dst_text, &d, &e->dst, NULL) == GM_OK) {
		if (e->dst->ops->stat(e->dst, "", &m, NULL, NULL) == GM_OK && m.kind == GM_SYNC_DIR)
			return GM_OK;
		gm_sync_endpoint_close(e->dst);
		e->dst = NULL;
	}
	struct gm_sync_selection sel;
	gm_sync_selection_init(&sel);
	enum gm_rc rc = gm_sync_select(dst_text, &sel, err);
	if (rc == GM_OK && sel.contents)
		rc = gm_sync_endpoint_open(dst_text, &d, &e->dst, err);
	else if (rc == GM_OK) {
		rc = gm_sync_endpoint_open(gm_buf_cstr(&sel.parent), &d, &e->dst, err);
		gm_buf_reset(dpath);
		gm_buf_add(dpath, sel.name.data, sel.name.len);
	}
	gm_sync_selection_release(&sel);
	return rc;
}

/* Takes the lines of files whose deferred commit failed out of the manifest written so far
 * (tmp, open as e->mf). On failure the manifest is given up (closed and removed). */
static enum gm_rc manifest_drop_failed(struct engine *e, const char *tmp, struct gm_err *err)
{
	struct gm_buf tmp2 = GM_BUF_INIT;
	struct gm_sync_manifest_entry ent;
	FILE *in = NULL, *out = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	enum gm_rc rc = GM_OK;
	if (e->n_dfail == 0)
		return GM_OK;
	qsort(e->dfail, e->n_dfail, sizeof(*e->dfail), cmp_str);
	gm_sync_manifest_entry_init(&ent);
	gm_buf_addf(&tmp2, "%s.f", tmp);
	if (fflush(e->mf) != 0 || !(in = fopen(tmp, "re")) ||
	    !(out = fopen(gm_buf_cstr(&tmp2), "we"))) {
		rc = gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot write '%s'", tmp);
		goto out;
	}
	while ((n = getline(&line, &cap, in)) > 0) {
		size_t len = (size_t)n - (line[n - 1] == '\n');
		if (gm_sync_manifest_parse(line, len, &ent, NULL) == GM_OK && ent.copied &&
		    ent.path.len == strlen(gm_buf_cstr(&ent.path))) {
			const char *key = gm_buf_cstr(&ent.path);
			if (bsearch(&key, e->dfail, e->n_dfail, sizeof(*e->dfail), cmp_str))
				continue;
		}
		fwrite(line, 1, (size_t)n, out);
	}
	if (ferror(in) || fflush(out) != 0 || ferror(out)) {
		rc = gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot write '%s'", tmp);
		goto out;
	}
	if (rename(gm_buf_cstr(&tmp2), tmp) != 0) {
		rc = gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot rename '%s'",
		                  gm_buf_cstr(&tmp2));
		goto out;
	}
	fclose(e->mf);
	e->mf = out; /* now the file called tmp */
	out = NULL;
out:
	if (in)
		fclose(in);
	if (out) {
		fclose(out);
		unlink(gm_buf_cstr(&tmp2));
	}
	if (rc != GM_OK) {
		fclose(e->mf);
		e->mf = NULL;
		unlink(tmp);
	}
	free(line);
	gm_sync_manifest_entry_release(&ent);
	gm_buf_release(&tmp2);
	return rc;
}

static enum gm_rc commit_manifest(struct engine *e, const char *tmp, struct gm_err *err)
{
	FILE *f = e->mf;
	e->mf = NULL;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		int saved = errno;
		fclose(f);
		unlink(tmp);
		return gm_err_errno(err, gm_rc_from_errno(saved), saved, "cannot write '%s'", tmp);
	}
	fclose(f);
	if (rename(tmp, e->o->manifest) != 0) {
		int saved = errno;
		unlink(tmp);
		return gm_err_errno(err, gm_rc_from_errno(saved), saved, "cannot rename '%s'", tmp);
	}
	return GM_OK;
}

void gm_sync_result_init(struct gm_sync_result *r)
{
	memset(r, 0, sizeof(*r));
	gm_buf_init(&r->delete_skipped);
}

void gm_sync_result_release(struct gm_sync_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_problems; i++) {
		free(r->problems[i].path);
		free(r->problems[i].msg);
	}
	free(r->problems);
	r->problems = NULL;
	r->n_problems = 0;
	gm_buf_release(&r->delete_skipped);
}

static enum gm_rc not_found(struct gm_err *err, const char *text)
{
	return gm_err_set(err, GM_ERR_NOT_FOUND, "no such file or directory: '%s'", text);
}

enum gm_rc gm_sync_run(const char *src_text, const char *dst_text, const struct gm_sync_opts *o,
                       struct gm_sync_result *res, struct gm_err *err)
{
	struct engine e;
	struct gm_sync_selection sel;
	struct gm_buf slink = GM_BUF_INIT, dlink = GM_BUF_INIT, dpath = GM_BUF_INIT,
	              tmp = GM_BUF_INIT;
	struct gm_sync_meta sm, dm;
	struct worker w0;
	enum gm_rc rc;
	engine_init(&e, o, res);
	gm_sync_selection_init(&sel);
	worker_init(&w0, &e);

	rc = gm_sync_select(src_text, &sel, err);
	if (rc != GM_OK)
		goto out;
	const char *top = sel.contents ? "" : gm_buf_cstr(&sel.name);
	rc = open_src(sel.contents ? src_text : gm_buf_cstr(&sel.parent), &o->open, &e.src, err);
	if (rc == GM_ERR_NOT_FOUND) {
		rc = not_found(err, src_text);
		goto out;
	}
	if (rc != GM_OK)
		goto out;
	rc = e.src->ops->stat(e.src, top, &sm, &slink, err);
	if (rc == GM_ERR_NOT_FOUND) {
		rc = not_found(err, src_text);
		goto out;
	}
	if (rc != GM_OK)
		goto out;
	if (sel.contents && sm.kind != GM_SYNC_DIR) {
		rc = gm_err_set(err, GM_ERR_NOT_FOUND, "not a directory: '%s'", src_text);
		goto out;
	}
	bool dir_mode = sel.contents || sm.kind == GM_SYNC_DIR;
	rc = open_dst(&e, dst_text, dir_mode, top, &dpath, err);
	if (rc == GM_ERR_NOT_FOUND && o->dry_run && !o->verify) {
		e.dst = NULL; /* nothing there yet: everything is new */
		gm_err_clear(err);
	} else if (rc == GM_ERR_NOT_FOUND) {
		rc = not_found(err, dst_text);
		goto out;
	} else if (rc != GM_OK) {
		goto out;
	}
	rc = GM_OK;

	unsigned scaps = e.src->caps, dcaps = e.dst ? e.dst->caps : scaps;
	bool owner = geteuid() == 0 && (scaps & GM_SYNC_CAP_OWNER) && (dcaps & GM_SYNC_CAP_OWNER);
	e.dflags = (o->checksum ? GM_SYNC_DECIDE_CHECKSUM : 0) |
	           ((dcaps & GM_SYNC_CAP_MODE) ? GM_SYNC_DECIDE_MODE : 0) |
	           (owner ? GM_SYNC_DECIDE_OWNER : 0);
	e.xattrs = o->xattrs && (scaps & GM_SYNC_CAP_XATTRS) && (dcaps & GM_SYNC_CAP_XATTRS) &&
	           e.src->ops->xattrs;
	e.wflags = (owner ? GM_SYNC_W_OWNER : 0) | (e.xattrs ? GM_SYNC_W_XATTRS : 0);
	e.xsync = e.xattrs && !o->verify && e.dst && e.dst->ops->xattrs && e.dst->ops->set_xattrs;
	e.setflags = owner ? GM_SYNC_W_OWNER : 0;
	e.hardlinks =
	        !o->verify && (scaps & GM_SYNC_CAP_HARDLINKS) && (dcaps & GM_SYNC_CAP_HARDLINKS);
	if (e.hardlinks)
		e.hl = gm_xcalloc(HL_BUCKETS, sizeof(struct hl_leader *));

	if (o->manifest && !o->dry_run && !o->verify) {
		gm_buf_addf(&tmp, "%s.tmp.%ld", o->manifest, (long)getpid());
		e.mf = fopen(gm_buf_cstr(&tmp), "we");
		if (!e.mf) {
			rc = gm_err_errno(err, gm_rc_from_errno(errno), errno,
			                  "cannot write the manifest '%s'", o->manifest);
			goto out;
		}
	}

	/* The top entry, then the workers walk from it. */
	e.walking = true;
	if (sel.contents) {
		const char *start = o->start ? o->start : "";
		size_t slen = strlen(start);
		struct gm_sync_entry s = {start, slen, NULL, sm}, d = {start, slen, NULL, {0}};
		bool have_d = false;
		if (slen) {
			rc = e.src->ops->stat(e.src, start, &sm, NULL, err);
			if (rc == GM_OK && sm.kind != GM_SYNC_DIR)
				rc = gm_err_set(err, GM_ERR_NOT_FOUND,
				                "'%s' is no longer a directory", start);
			if (rc != GM_OK)
				goto out;
			s.meta = sm;
		}
		if (e.dst) {
			rc = e.dst->ops->stat(e.dst, start, &dm, NULL, err);
			if (rc == GM_ERR_NOT_FOUND && slen && !o->verify) {
				gm_err_clear(err);
				rc = GM_OK;
			} else if (rc != GM_OK) {
				goto out;
			} else {
				d.meta = dm;
				have_d = true;
			}
		}
		uint8_t flags = have_d ? 0 : J_DST_MISSING;
		if (!have_d && slen && !o->dry_run) {
			struct gm_sync_meta mk = sm;
			mk.mode |= 0700;
			rc = e.dst->ops->mkdir(e.dst, start, &mk, err);
			if (rc != GM_OK)
				goto out;
			item(&e, 'c', 'd', GM_SYNC_WHY_NEW, start, slen);
			if (e.xsync)
				queue_file(&w0, JOB_ATTRS, start, slen, NULL, 0, &sm, NULL, 0,
				           J_NEW_XATTRS);
			finalize_add(&e, start, &sm);
			flags |= J_FINAL;
		}
		if (!o->verify && have_d) {
			struct gm_sync_decision dec = gm_sync_decide(&s, &d, e.dflags);
			if (e.xsync) /* itemised there, with its xattrs */
				queue_file(&w0, JOB_ATTRS, start, slen, NULL, 0, &sm, NULL, dec.why,
				           0);
			else if (dec.why)
				item(&e, '.', 'd', dec.why, start, slen);
			if (dec.why) {
				finalize_add(&e, start, &sm);
				flags |= J_FINAL;
			}
		}
		push_dir_job(&e, start, slen, &sm, flags);
	} else {
		struct gm_sync_entry s = {top, strlen(top), slink.len ? slink.data : NULL, sm};
		struct gm_sync_entry d = {dpath.data, dpath.len, NULL, {0}};
		bool have_d = false;
		if (e.dst) {
			gm_err_clear(err);
			enum gm_rc r2 =
			        e.dst->ops->stat(e.dst, gm_buf_cstr(&dpath), &dm, &dlink, err);
			if (r2 == GM_OK) {
				d.meta = dm;
				d.link = dlink.len ? dlink.data : NULL;
				have_d = true;
			} else if (r2 != GM_ERR_NOT_FOUND) {
				rc = r2;
				goto out;
			}
			gm_err_clear(err);
		}
		if (!(o->filter && gm_sync_filter_excluded(o->filter, top, strlen(top),
		                                           sm.kind == GM_SYNC_DIR))) {
			if (o->verify)
				verify_entry(&w0, top, strlen(top), gm_buf_cstr(&dpath), dpath.len,
				             &s, have_d ? &d : NULL);
			else
				handle_entry(&w0, top, strlen(top), gm_buf_cstr(&dpath), dpath.len,
				             &s, have_d ? &d : NULL);
		}
	}

	pthread_mutex_lock(&e.qmu);
	e.walking = false;
	pthread_mutex_unlock(&e.qmu);
	run_workers(&e, pick_jobs(o, is_remote(src_text) || is_remote(dst_text)), NULL, NULL);
	drain_commits(&e, &w0);

	if (!o->verify && !stopped(&e)) {
		if (e.hardlinks)
			link_followers(&e, &w0);
		delete_extras(&e, &w0);
		finalize_dirs(&e, &w0);
	} else if (o->delete_extra && e.n_del) {
		gm_buf_adds(&res->delete_skipped, "the run was interrupted");
	}
	if (e.mf) {
		if (stopped(&e)) {
			fclose(e.mf);
			e.mf = NULL;
			unlink(gm_buf_cstr(&tmp));
		} else if (manifest_drop_failed(&e, gm_buf_cstr(&tmp), err) != GM_OK ||
		           commit_manifest(&e, gm_buf_cstr(&tmp), err) != GM_OK) {
			/* A manifest that cannot be written is one failed entry, not a failed run. */
			ADD(&e, failed, 1);
			note_problem(&e, "failed", "", 0, gm_err_msg(err));
			gm_err_clear(err);
			rc = GM_OK;
		}
	}
	if (atomic_load(&e.no_space)) {
		res->no_space = true;
		res->space_needed = atomic_load(&e.space_needed);
		uint64_t avail = 0;
		if (e.dst && e.dst->ops->space && e.dst->ops->space(e.dst, &avail, NULL) == GM_OK) {
			res->space_avail = avail;
			res->space_avail_known = true;
		}
	}
	if (stopped(&e)) {
		res->interrupted = true;
		rc = gm_err_set(err, GM_ERR_INTERRUPTED, "interrupted");
	} else if (res->no_space) {
		rc = gm_err_set(err, GM_ERR_NO_SPACE, "the destination '%s' is full", dst_text);
	}
out:
	if (e.mf) {
		fclose(e.mf);
		e.mf = NULL;
		unlink(gm_buf_cstr(&tmp));
	}
	snapshot(&e, &res->stats);
	res->stats.scanning = false;
	if (o->progress && rc != GM_ERR_USAGE)
		o->progress(o->ctx, &res->stats, true);
	worker_release(&w0);
	engine_release(&e);
	gm_sync_selection_release(&sel);
	gm_buf_release(&slink);
	gm_buf_release(&dlink);
	gm_buf_release(&dpath);
	gm_buf_release(&tmp);
	return rc;
}

/* verify --manifest: reads the manifest line by line and feeds the workers. */
struct man_feed {
	FILE *f;
	const char *name;
	enum gm_rc rc;
	struct gm_err *err;
};

static void feed_manifest(struct worker *w, void *ctx)
{
	struct man_feed *mf = ctx;
	struct engine *e = w->e;
	struct gm_sync_manifest_entry ent;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	gm_sync_manifest_entry_init(&ent);
	while (!stopped(e) && (n = getline(&line, &cap, mf->f)) >= 0) {
		lineno++;
		size_t len = (size_t)n;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0)
			continue;
		gm_err_clear(&w->err);
		if (gm_sync_manifest_parse(line, len, &ent, &w->err) != GM_OK) {
			mf->rc = gm_err_set(mf->err, GM_ERR_PARSE, "%s:%lu: %s", mf->name, lineno,
			                    gm_err_msg(&w->err));
			break;
		}
		if (e->o->filter &&
		    gm_sync_filter_excluded(e->o->filter, ent.path.data, ent.path.len, false))
			continue;
		ADD(e, files, 1);
		ADD(e, bytes_total, ent.size);
		struct job *j = job_new(JOB_VMAN, ent.path.data, ent.path.len, NULL, 0);
		j->s.size = ent.size;
		j->hash = ent.hash;
		push_file(w, j);
	}
	free(line);
	gm_sync_manifest_entry_release(&ent);
}

enum gm_rc gm_sync_verify_manifest(const char *manifest, const char *dst,
                                   const struct gm_sync_opts *o, struct gm_sync_result *res,
                                   struct gm_err *err)
{
	struct engine e;
	struct man_feed mf = {NULL, manifest, GM_OK, err};
	enum gm_rc rc;
	engine_init(&e, o, res);
	mf.f = fopen(manifest, "re");
	if (!mf.f) {
		rc = errno == ENOENT ? not_found(err, manifest)
		                     : gm_err_errno(err, gm_rc_from_errno(errno), errno,
		                                    "cannot read '%s'", manifest);
		goto out;
	}
	rc = open_src(dst, &o->open, &e.dst, err);
	if (rc == GM_ERR_NOT_FOUND) {
		rc = not_found(err, dst);
		goto out;
	}
	if (rc != GM_OK)
		goto out;
	e.walking = true;
	run_workers(&e, pick_jobs(o, is_remote(dst)), feed_manifest, &mf);
	rc = mf.rc;
	if (rc == GM_OK && stopped(&e)) {
		res->interrupted = true;
		rc = gm_err_set(err, GM_ERR_INTERRUPTED, "interrupted");
	}
out:
	if (mf.f)
		fclose(mf.f);
	snapshot(&e, &res->stats);
	res->stats.scanning = false;
	if (o->progress && rc == GM_OK)
		o->progress(o->ctx, &res->stats, true);
	engine_release(&e);
	return rc;
}

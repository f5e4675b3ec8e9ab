/* Unit tests for librsync deltas: 1 MiB changed inside a 40 MiB file travels as about 1 MiB
 * and rebuilds byte for byte; a delta that is cut short, corrupted, builds too much or reads
 * beyond its basis is refused instead of producing a wrong file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/delta.h"

enum { SIZE = 40 << 20, CHANGE_AT = 17 << 20, CHANGE = 1 << 20, PIECE = 1 << 20 };

struct fixture {
	uint8_t *old, *new;
	int basis_fd;
	char path[64];
};

static uint64_t rng_state = 88172645463325252ull;
static uint8_t next_byte(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)rng_state;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->old = malloc(SIZE);
	f->new = malloc(SIZE);
	for (size_t i = 0; i < SIZE; i++)
		f->old[i] = next_byte();
	memcpy(f->new, f->old, SIZE);
	for (size_t i = CHANGE_AT; i < CHANGE_AT + CHANGE; i++)
		f->new[i] = next_byte();
	snprintf(f->path, sizeof(f->path), "/tmp/gm-delta-XXXXXX");
	f->basis_fd = mkstemp(f->path);
	assert_true(f->basis_fd >= 0);
	assert_int_equal(write(f->basis_fd, f->old, SIZE), SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	close(f->basis_fd);
	unlink(f->path);
	free(f->old);
	free(f->new);
	free(f);
	return 0;
}

struct collect {
	struct gm_buf out;
};

static enum gm_rc collect(void *ctx, const void *data, size_t len, struct gm_err *err)
{
	(void)err;
	gm_buf_add(&((struct collect *)ctx)->out, data, len);
	return GM_OK;
}

/* The delta of f->new against the signature of the basis, fed in PIECE-sized parts. */
static void make_delta(struct fixture *f, struct gm_buf *sig, struct gm_buf *delta)
{
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_sync_delta_signature(f->basis_fd, SIZE, sig, &err), GM_OK);
	struct gm_sync_delta *g = NULL;
	assert_int_equal(gm_sync_delta_gen_begin(sig->data, sig->len, &g, &err), GM_OK);
	for (size_t off = 0; off < SIZE; off += PIECE)
		assert_int_equal(gm_sync_delta_gen_feed(g, f->new + off, PIECE, off + PIECE >= SIZE,
		                                        delta, &err),
		                 GM_OK);
	gm_sync_delta_free(g);
	gm_err_release(&err);
}

static enum gm_rc patch(struct fixture *f, uint64_t basis_size, uint64_t max_out,
                        const struct gm_buf *delta, size_t feed_len, struct collect *c,
                        struct gm_err *err)
{
	struct gm_sync_delta *p = NULL;
	enum gm_rc rc =
	        gm_sync_delta_patch_begin(f->basis_fd, basis_size, max_out, collect, c, &p, err);
	for (size_t off = 0; rc == GM_OK && off < feed_len; off += 4096) {
		size_t n = feed_len - off < 4096 ? feed_len - off : 4096;
		rc = gm_sync_delta_patch_feed(p, delta->data + off, n, off + n >= feed_len, err);
	}
	gm_sync_delta_free(p);
	return rc;
}

static void small_change_small_delta(void **state)
{
	struct fixture *f = *state;
	struct gm_buf sig = GM_BUF_INIT, delta = GM_BUF_INIT;
	make_delta(f, &sig, &delta);
	/* A signature is a small fraction of the file; the delta is the change plus a little. */
	assert_true(sig.len < SIZE / 100);
	assert_true(delta.len > CHANGE / 2);
	assert_true(delta.len < CHANGE + CHANGE / 4);

	struct collect c = {GM_BUF_INIT};
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(patch(f, SIZE, SIZE, &delta, delta.len, &c, &err), GM_OK);
	assert_int_equal(c.out.len, SIZE);
	assert_memory_equal(c.out.data, f->new, SIZE);
	gm_buf_release(&c.out);
	gm_buf_release(&sig);
	gm_buf_release(&delta);
	gm_err_release(&err);
}

static void bad_deltas_refused(void **state)
{
	struct fixture *f = *state;
	struct gm_buf sig = GM_BUF_INIT, delta = GM_BUF_INIT;
	make_delta(f, &sig, &delta);
	struct collect c = {GM_BUF_INIT};
	struct gm_err err = GM_ERR_INIT;

	/* cut short */
	assert_int_equal(patch(f, SIZE, SIZE, &delta, delta.len / 2, &c, &err), GM_ERR_PROTOCOL);
	assert_non_null(strstr(gm_err_msg(&err), "end"));
	/* builds more than expected */
	gm_buf_reset(&c.out);
	assert_int_equal(patch(f, SIZE, SIZE - 1, &delta, delta.len, &c, &err), GM_ERR_PROTOCOL);
	assert_non_null(strstr(gm_err_msg(&err), "more than the expected"));
	/* copies from beyond a basis that is shorter than the one the signature described */
	gm_buf_reset(&c.out);
	assert_int_not_equal(patch(f, SIZE / 2, SIZE, &delta, delta.len, &c, &err), GM_OK);
	/* a corrupt command byte after the header */
	gm_buf_reset(&c.out);
	delta.data[4] = (char)0xff;
	assert_int_not_equal(patch(f, SIZE, SIZE, &delta, delta.len, &c, &err), GM_OK);
	/* garbage instead of a signature */
	struct gm_sync_delta *g = NULL;
	assert_int_not_equal(gm_sync_delta_gen_begin("not a signature", 15, &g, &err), GM_OK);
	assert_null(g);
	assert_int_equal(gm_sync_delta_gen_begin(sig.data, GM_SYNC_DELTA_SIG_MAX + 1, &g, &err),
	                 GM_ERR_PROTOCOL);

	gm_buf_release(&c.out);
	gm_buf_release(&sig);
	gm_buf_release(&delta);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(small_change_small_delta, setup, teardown),
	        cmocka_unit_test_setup_teardown(bad_deltas_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the protobuf wire decoder (monitor/protobuf.h) and the pod-resources answer
 * decoder built on it (monitor/podres.h): varints at their limits, every wire type, unknown
 * fields skipped, truncated and oversized input refused, the gRPC message frame, and which
 * GPU a device id names. Messages are built here byte by byte from the encoding spec. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "monitor/podres.h"
#include "monitor/protobuf.h"
#include "util/buf.h"

/* ---- a tiny encoder for the tests ---- */

static void put_varint(struct gm_buf *b, uint64_t v)
{
	do {
		uint8_t byte = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			byte |= 0x80;
		gm_buf_addch(b, (char)byte);
	} while (v);
}

static void put_tag(struct gm_buf *b, uint32_t num, unsigned wire)
{
	put_varint(b, (uint64_t)num << 3 | wire);
}

static void put_bytes(struct gm_buf *b, uint32_t num, const void *data, size_t len)
{
	put_tag(b, num, GM_PB_LEN);
	put_varint(b, len);
	gm_buf_add(b, data, len);
}

static void put_str(struct gm_buf *b, uint32_t num, const char *s)
{
	put_bytes(b, num, s, strlen(s));
}

static void put_msg(struct gm_buf *b, uint32_t num, struct gm_buf *m)
{
	put_bytes(b, num, m->data ? m->data : "", m->len);
	gm_buf_release(m);
}

/* ContainerDevices */
static void devices(struct gm_buf *out, const char *resource, const char *id1, const char *id2)
{
	struct gm_buf d = GM_BUF_INIT, topo = GM_BUF_INIT, node = GM_BUF_INIT;
	put_str(&d, 2, id1); /* ids before the resource name: any order is valid */
	if (id2)
		put_str(&d, 2, id2);
	put_str(&d, 1, resource);
	put_tag(&node, 1, GM_PB_VARINT);
	put_varint(&node, 1);
	put_msg(&topo, 1, &node);
	put_msg(&d, 3, &topo);
	put_msg(out, 2, &d);
}

/* PodResources with one container holding the given ContainerDevices bytes */
static void pod(struct gm_buf *out, const char *name, const char *ns, const char *container,
                struct gm_buf *devs)
{
	struct gm_buf p = GM_BUF_INIT, c = GM_BUF_INIT;
	gm_buf_add(&c, devs->data ? devs->data : "", devs->len);
	gm_buf_release(devs);
	put_str(&c, 1, container);    /* name after the devices */
	put_tag(&c, 3, GM_PB_VARINT); /* cpu_ids */
	put_varint(&c, 12);
	put_msg(&p, 3, &c);
	put_str(&p, 2, ns);
	put_str(&p, 1, name);
	put_msg(out, 1, &p);
}

#define U0 "GPU-a0f5d042-bd17-03a0-7458-90c9d1d070d0"
#define U1 "GPU-0dc6d3d4-cfb5-401e-f5e9-7b64612e410c"
#define U2 "GPU-bba79b5b-90bc-6a96-92f9-97ef7736d805"

/* ---- the wire decoder ---- */

static void varints(void **state)
{
	(void)state;
	static const struct {
		const char *bytes;
		size_t len;
		uint64_t v;
	} ok[] = {
	        {"\x00", 1, 0},
	        {"\x01", 1, 1},
	        {"\x7f", 1, 127},
	        {"\x96\x01", 2, 150}, /* the spec's example */
	        {"\xac\x02", 2, 300},
	        {"\x80\x80\x80\x80\x10", 5, 1ULL << 32},
	        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, UINT64_MAX},
	        {"\x80\x80\x00", 3, 0}, /* redundant zero bytes are allowed */
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t pos = 0;
		uint64_t v = 42;
		assert_int_equal(gm_pb_varint((const uint8_t *)ok[i].bytes, ok[i].len, &pos, &v),
		                 GM_OK);
		assert_true(v == ok[i].v);
		assert_int_equal(pos, ok[i].len);
	}
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
	        {"", 0},
	        {"\x80", 1},
	        {"\xff\xff", 2},
	        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10}, /* 65 bits */
	        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", 11},
	        {"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11}, /* 11 bytes */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t pos = 0;
		uint64_t v = 42;
		assert_int_equal(gm_pb_varint((const uint8_t *)bad[i].bytes, bad[i].len, &pos, &v),
		                 GM_ERR_PARSE);
		assert_int_equal(pos, 0);
		assert_true(v == 42);
	}
}

static void every_wire_type(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	put_tag(&b, 1, GM_PB_VARINT);
	put_varint(&b, 300);
	put_tag(&b, 2, GM_PB_I64);
	gm_buf_add(&b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	put_str(&b, 3, "hello");
	put_tag(&b, 4, GM_PB_SGROUP); /* a group holding a nested group and a string */
	put_tag(&b, 5, GM_PB_SGROUP);
	put_tag(&b, 6, GM_PB_VARINT);
	put_varint(&b, 1);
	put_tag(&b, 5, GM_PB_EGROUP);
	put_str(&b, 7, "inside");
	put_tag(&b, 4, GM_PB_EGROUP);
	put_tag(&b, 536870911, GM_PB_I32); /* the largest field number */
	gm_buf_add(&b, "\xff\xff\xff\xff", 4);

	struct gm_pb_reader r;
	struct gm_pb_field f;
	gm_pb_reader_init(&r, b.data, b.len);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_OK);
	assert_int_equal(f.num, 1);
	assert_int_equal(f.wire, GM_PB_VARINT);
	assert_true(f.u64 == 300);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_OK);
	assert_int_equal(f.num, 2);
	assert_int_equal(f.wire, GM_PB_I64);
	assert_true(f.u64 == 0x0807060504030201ULL); /* little-endian */
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_OK);
	assert_int_equal(f.num, 3);
	assert_int_equal(f.wire, GM_PB_LEN);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.data, "hello", 5);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_OK);
	assert_int_equal(f.num, 4);
	assert_int_equal(f.wire, GM_PB_SGROUP);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_OK);
	assert_int_equal(f.num, 536870911);
	assert_int_equal(f.wire, GM_PB_I32);
	assert_true(f.u64 == 0xffffffffULL);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_ERR_NOT_FOUND);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_ERR_NOT_FOUND);
	gm_buf_release(&b);
	gm_err_release(&err);
}

/* Every prefix of a valid message but the empty one and the whole is refused, or ends at a
 * field boundary; a malformed field never reads out of bounds (ASan watches). */
static void truncated_and_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *bytes;
		size_t len;
		const char *msg;
	} bad[] = {
	        {"\x08", 1, "truncated or overlong varint"},
	        {"\x08\x80", 2, "truncated or overlong varint"},
	        {"\x09\x01\x02", 3, "truncated fixed-size value"},
	        {"\x0d\x01", 2, "truncated fixed-size value"},
	        {"\x0a\x05hell", 6, "length past the end"},
	        {"\x0a\xff\xff\xff\xff\x0f", 6, "length past the end"},
	        {"\x0a", 1, "truncated length"},
	        {"\x00\x01", 2, "bad field number"},                     /* field 0 */
	        {"\x0e", 1, "unknown wire type"},                        /* wire type 6 */
	        {"\x0f", 1, "unknown wire type"},                        /* wire type 7 */
	        {"\x0c", 1, "end of a group"},                           /* end-group first */
	        {"\x0b\x08\x01", 3, "truncated group"},                  /* group never ends */
	        {"\x0b\x14", 2, "group ends with another"},              /* 1 starts, 2 ends */
	        {"\x80\x80\x80\x80\x80\x02\x00", 7, "bad field number"}, /* 2^32 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gm_pb_reader r;
		struct gm_pb_field f;
		struct gm_err err = GM_ERR_INIT;
		gm_pb_reader_init(&r, bad[i].bytes, bad[i].len);
		assert_int_equal(gm_pb_next(&r, &f, &err), GM_ERR_PARSE);
		if (!strstr(gm_err_msg(&err), bad[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, gm_err_msg(&err), bad[i].msg);
		gm_err_release(&err);
	}

	/* groups nested deeper than the cap */
	struct gm_buf b = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	for (int i = 0; i < GM_PB_MAX_GROUP_DEPTH + 1; i++)
		put_tag(&b, 1, GM_PB_SGROUP);
	for (int i = 0; i < GM_PB_MAX_GROUP_DEPTH + 1; i++)
		put_tag(&b, 1, GM_PB_EGROUP);
	struct gm_pb_reader r;
	struct gm_pb_field f;
	gm_pb_reader_init(&r, b.data, b.len);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "too deep"));
	/* … and exactly at the cap they are fine */
	gm_buf_reset(&b);
	for (int i = 0; i < GM_PB_MAX_GROUP_DEPTH; i++)
		put_tag(&b, 1, GM_PB_SGROUP);
	for (int i = 0; i < GM_PB_MAX_GROUP_DEPTH; i++)
		put_tag(&b, 1, GM_PB_EGROUP);
	gm_pb_reader_init(&r, b.data, b.len);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_OK);
	assert_int_equal(gm_pb_next(&r, &f, &err), GM_ERR_NOT_FOUND);
	gm_buf_release(&b);
	gm_err_release(&err);

	/* an empty message has no fields */
	gm_pb_reader_init(&r, NULL, 0);
	assert_int_equal(gm_pb_next(&r, &f, NULL), GM_ERR_NOT_FOUND);
}

/* ---- the pod-resources answer ---- */

static void build_answer(struct gm_buf *msg)
{
	struct gm_buf d = GM_BUF_INIT;
	devices(&d, "nvidia.com/gpu", U1, U2);
	devices(&d, "example.com/fpga", "fpga-0", NULL); /* not ours: left out */
	pod(msg, "trainer-0", "ml", "main", &d);
	devices(&d, "nvidia.com/mig-1g.5gb", "MIG-" U0 "/1/0", NULL);
	pod(msg, "notebook", "team-a", "jupyter", &d);
	devices(&d, "cpu", "x", NULL);
	pod(msg, "web", "default", "nginx", &d);
	/* unknown fields of every wire type at the top level */
	put_tag(msg, 9, GM_PB_VARINT);
	put_varint(msg, 1);
	put_tag(msg, 10, GM_PB_I64);
	gm_buf_add(msg, "12345678", 8);
	put_tag(msg, 11, GM_PB_I32);
	gm_buf_add(msg, "1234", 4);
	put_str(msg, 12, "newer kubelet");
	put_tag(msg, 13, GM_PB_SGROUP);
	put_tag(msg, 13, GM_PB_EGROUP);
}

static void decode_good(void **state)
{
	(void)state;
	struct gm_buf msg = GM_BUF_INIT;
	struct gm_podres pr = {NULL, 0, 0};
	struct gm_err err = GM_ERR_INIT;
	build_answer(&msg);
	assert_int_equal(gm_podres_decode(&pr, (const uint8_t *)msg.data, msg.len, &err), GM_OK);
	assert_int_equal(pr.n, 3);
	assert_string_equal(pr.devs[0].device_id, U1);
	assert_string_equal(pr.devs[0].resource, "nvidia.com/gpu");
	assert_string_equal(pr.devs[0].pod, "trainer-0");
	assert_string_equal(pr.devs[0].ns, "ml");
	assert_string_equal(pr.devs[0].container, "main");
	assert_string_equal(pr.devs[1].device_id, U2);
	assert_string_equal(pr.devs[1].pod, "trainer-0");
	assert_string_equal(pr.devs[2].device_id, "MIG-" U0 "/1/0");
	assert_string_equal(pr.devs[2].resource, "nvidia.com/mig-1g.5gb");
	assert_string_equal(pr.devs[2].pod, "notebook");
	assert_string_equal(pr.devs[2].ns, "team-a");
	assert_string_equal(pr.devs[2].container, "jupyter");

	/* which GPU each names */
	const struct gm_podres_device *d = gm_podres_find(&pr, U2);
	assert_non_null(d);
	assert_string_equal(d->device_id, U2);
	d = gm_podres_find(&pr, U0); /* through its MIG instance */
	assert_non_null(d);
	assert_string_equal(d->pod, "notebook");
	assert_null(gm_podres_find(&pr, "GPU-a0f5d042"));      /* a prefix is not the GPU */
	assert_null(gm_podres_find(&pr, "GPU-00000000-0000")); /* not assigned */
	assert_null(gm_podres_find(&pr, ""));
	assert_null(gm_podres_find(&pr, NULL));
	assert_null(gm_podres_find(NULL, U1));

	/* the same message in its gRPC frame */
	struct gm_podres pr2 = {NULL, 0, 0};
	struct gm_buf framed = GM_BUF_INIT;
	uint8_t hdr[5] = {0, (uint8_t)(msg.len >> 24), (uint8_t)(msg.len >> 16),
	                  (uint8_t)(msg.len >> 8), (uint8_t)msg.len};
	gm_buf_add(&framed, hdr, 5);
	gm_buf_add(&framed, msg.data, msg.len);
	assert_int_equal(
	        gm_podres_decode_grpc(&pr2, (const uint8_t *)framed.data, framed.len, &err), GM_OK);
	assert_int_equal(pr2.n, 3);
	assert_string_equal(pr2.devs[1].device_id, U2);
	gm_podres_release(&pr2);

	/* an empty answer: no pods anywhere */
	assert_int_equal(gm_podres_decode_grpc(&pr2, (const uint8_t *)"\0\0\0\0\0", 5, &err),
	                 GM_OK);
	assert_int_equal(pr2.n, 0);

	gm_podres_release(&pr);
	assert_int_equal(pr.n, 0);
	assert_null(pr.devs);
	gm_podres_release(NULL);
	gm_buf_release(&framed);
	gm_buf_release(&msg);
	gm_err_release(&err);
}

static void decode_truncated(void **state)
{
	(void)state;
	struct gm_buf msg = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	build_answer(&msg);
	/* the first pod ends inside its bytes for every cut but at field boundaries of the top
	 * level: each cut either fails cleanly or decodes what is whole */
	size_t failed = 0;
	for (size_t cut = 0; cut < msg.len; cut++) {
		struct gm_podres pr = {NULL, 0, 0};
		enum gm_rc rc = gm_podres_decode(&pr, (const uint8_t *)msg.data, cut, &err);
		if (rc != GM_OK) {
			assert_int_equal(rc, GM_ERR_PARSE);
			assert_int_equal(pr.n, 0);
			assert_null(pr.devs);
			failed++;
		}
		gm_podres_release(&pr);
	}
	assert_true(failed > msg.len * 9 / 10);

	/* the gRPC frame: too short, compressed, length past the end, bytes after it */
	struct gm_podres pr = {NULL, 0, 0};
	assert_int_equal(gm_podres_decode_grpc(&pr, (const uint8_t *)"\0\0\0", 3, &err),
	                 GM_ERR_PROTOCOL);
	assert_int_equal(gm_podres_decode_grpc(&pr, (const uint8_t *)"\1\0\0\0\0", 5, &err),
	                 GM_ERR_PROTOCOL);
	assert_non_null(strstr(gm_err_msg(&err), "compressed"));
	assert_int_equal(gm_podres_decode_grpc(&pr, (const uint8_t *)"\0\0\0\0\2\x08", 6, &err),
	                 GM_ERR_PROTOCOL);
	assert_int_equal(
	        gm_podres_decode_grpc(&pr, (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0", 10, &err),
	        GM_ERR_PROTOCOL);
	assert_non_null(strstr(gm_err_msg(&err), "after the gRPC message"));
	assert_int_equal(pr.n, 0);
	gm_buf_release(&msg);
	gm_err_release(&err);
}

static void decode_refused(void **state)
{
	(void)state;
	struct gm_err err = GM_ERR_INIT;
	struct gm_podres pr = {NULL, 0, 0};
	struct gm_buf msg = GM_BUF_INIT, d = GM_BUF_INIT;

	/* a string over the cap */
	char *longname = malloc(GM_PODRES_MAX_STRING + 2);
	memset(longname, 'a', GM_PODRES_MAX_STRING + 1);
	longname[GM_PODRES_MAX_STRING + 1] = '\0';
	devices(&d, "nvidia.com/gpu", U1, NULL);
	pod(&msg, longname, "ml", "main", &d);
	assert_int_equal(gm_podres_decode(&pr, (const uint8_t *)msg.data, msg.len, &err),
	                 GM_ERR_LIMIT);
	assert_non_null(strstr(gm_err_msg(&err), "pod name is longer than 1024 bytes"));
	/* exactly at the cap is fine */
	longname[GM_PODRES_MAX_STRING] = '\0';
	gm_buf_reset(&msg);
	devices(&d, "nvidia.com/gpu", U1, NULL);
	pod(&msg, longname, "ml", "main", &d);
	assert_int_equal(gm_podres_decode(&pr, (const uint8_t *)msg.data, msg.len, &err), GM_OK);
	assert_int_equal(pr.n, 1);
	assert_int_equal(strlen(pr.devs[0].pod), GM_PODRES_MAX_STRING);
	gm_podres_release(&pr);
	free(longname);

	/* a label value with a newline, invalid UTF-8, a known field of the wrong type */
	static const char *const bad_names[] = {"a\nb", "\xc3\x28", "nul\x7f"};
	for (size_t i = 0; i < 3; i++) {
		gm_buf_reset(&msg);
		devices(&d, "nvidia.com/gpu", U1, NULL);
		pod(&msg, "p", bad_names[i], "main", &d);
		assert_int_equal(gm_podres_decode(&pr, (const uint8_t *)msg.data, msg.len, &err),
		                 GM_ERR_PARSE);
		assert_int_equal(pr.n, 0);
	}
	gm_buf_reset(&msg);
	put_tag(&msg, 1, GM_PB_VARINT); /* pod_resources as a number */
	put_varint(&msg, 5);
	assert_int_equal(gm_podres_decode(&pr, (const uint8_t *)msg.data, msg.len, &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "pod_resources is not a message"));

	/* a second pod after a valid one that is broken: nothing is kept */
	gm_buf_reset(&msg);
	devices(&d, "nvidia.com/gpu", U1, NULL);
	pod(&msg, "good", "ml", "main", &d);
	gm_buf_add(&msg, "\x0a\x03\x0a\x05x", 5);
	assert_int_equal(gm_podres_decode(&pr, (const uint8_t *)msg.data, msg.len, &err),
	                 GM_ERR_PARSE);
	assert_int_equal(pr.n, 0);
	assert_null(pr.devs);

	/* more devices than the cap */
	gm_buf_reset(&msg);
	struct gm_buf cd = GM_BUF_INIT, c = GM_BUF_INIT, p = GM_BUF_INIT;
	put_str(&cd, 1, "nvidia.com/gpu");
	for (unsigned i = 0; i <= GM_PODRES_MAX_DEVICES; i++)
		put_str(&cd, 2, "GPU-x");
	put_msg(&c, 2, &cd);
	put_msg(&p, 3, &c);
	put_msg(&msg, 1, &p);
	assert_int_equal(gm_podres_decode(&pr, (const uint8_t *)msg.data, msg.len, &err),
	                 GM_ERR_LIMIT);
	assert_int_equal(pr.n, 0);

	gm_buf_release(&msg);
	gm_err_release(&err);
}

/* No socket: GM_ERR_NOT_FOUND at once, not a hang. */
static void list_without_socket(void **state)
{
	(void)state;
	struct gm_err err = GM_ERR_INIT;
	struct gm_podres pr = {NULL, 0, 0};
	assert_int_equal(gm_podres_list("/nonexistent/kubelet.sock", 1000, -1, &pr, &err),
	                 GM_ERR_NOT_FOUND);
	assert_string_equal(gm_err_msg(&err),
	                    "no pod-resources socket at '/nonexistent/kubelet.sock'");
	assert_int_equal(pr.n, 0);

	/* the watcher keeps serving an empty cache and stops at once */
	struct gm_podres_watch *w = NULL;
	assert_int_equal(gm_podres_watch_start(&w, "/nonexistent/kubelet.sock", 100, &err), GM_OK);
	char *a, *b, *c;
	assert_false(gm_podres_watch_lookup(w, U1, &a, &b, &c));
	assert_null(a);
	assert_null(b);
	assert_null(c);
	gm_podres_watch_stop(w);
	gm_podres_watch_stop(NULL);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(varints),
	        cmocka_unit_test(every_wire_type),
	        cmocka_unit_test(truncated_and_malformed),
	        cmocka_unit_test(decode_good),
	        cmocka_unit_test(decode_truncated),
	        cmocka_unit_test(decode_refused),
	        cmocka_unit_test(list_without_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

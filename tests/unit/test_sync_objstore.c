/* Unit tests for the object endpoint's mapping of POSIX metadata onto user metadata (what
 * makes an object-store round trip exact), the percent coding of keys and symlink targets,
 * and the HTTP layer's header lookup. The transfers themselves are tested end to end against
 * s3rver and the strict fakes (tests/e2e/test_sync_objstore.py). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "objstore/http.h"
#include "objstore/store.h"
#include "sync/objstore_impl.h"

/* An object as a store would hand it back after we stored kvs. */
static void stored(const struct gm_obj_kvs *k, uint64_t size, struct gm_os_object *o)
{
	gm_os_object_init(o);
	o->size = size;
	o->mtime_ns = 42;
	for (size_t i = 0; i < k->n; i++)
		gm_os_object_meta_add(o, k->kv[i].name, strlen(k->kv[i].name), k->kv[i].value,
		                      strlen(k->kv[i].value));
	o->meta_known = true;
}

static void meta_round_trip(void **state)
{
	(void)state;
	struct gm_sync_meta m = {.kind = GM_SYNC_FILE,
	                         .mode = 04750,
	                         .uid = 1001,
	                         .gid = 2002,
	                         .mtime_ns = -1500000000123456789LL,
	                         .size = 5};
	struct gm_sync_hash h;
	gm_sync_hash_buf("hello", 5, &h);
	struct gm_obj_kvs k;
	gm_obj_kvs_build(&k, GM_SYNC_FILE, &m, &h, NULL);
	struct gm_os_object o;
	stored(&k, 5, &o);
	assert_string_equal(gm_os_object_meta(&o, "gm-mode"), "4750");
	/* rclone's form: decimal seconds */
	assert_string_equal(gm_os_object_meta(&o, "mtime"), "-1500000000.123456789");
	struct gm_sync_meta back;
	gm_obj_meta_decode(&o, &back, NULL);
	assert_int_equal(back.kind, GM_SYNC_FILE);
	assert_int_equal(back.mode, 04750);
	assert_int_equal(back.uid, 1001);
	assert_int_equal(back.gid, 2002);
	assert_true(back.mtime_ns == m.mtime_ns);
	assert_int_equal(back.size, 5);
	assert_true(back.ctime_ns == 42); /* the store's time: changes when rewritten */
	struct gm_sync_hash got;
	assert_true(gm_obj_meta_hash(&o, &got));
	assert_true(gm_sync_hash_equal(&got, &h));
	gm_os_object_release(&o);
	gm_obj_kvs_release(&k);
}

static void symlink_target_survives(void **state)
{
	(void)state;
	const char *target = "../a b/%41 ünï\n+x";
	struct gm_sync_meta m = {.kind = GM_SYNC_SYMLINK, .mode = 0777, .mtime_ns = 1};
	struct gm_obj_kvs k;
	gm_obj_kvs_build(&k, GM_SYNC_SYMLINK, &m, NULL, target);
	struct gm_os_object o;
	stored(&k, 0, &o);
	const char *enc = gm_os_object_meta(&o, "gm-link");
	for (const char *p = enc; *p; p++) /* printable ASCII only: any store keeps it */
		assert_true(*p > 0x20 && *p < 0x7f);
	struct gm_sync_meta back;
	struct gm_buf link = GM_BUF_INIT;
	gm_obj_meta_decode(&o, &back, &link);
	assert_int_equal(back.kind, GM_SYNC_SYMLINK);
	assert_string_equal(gm_buf_cstr(&link), target);
	assert_int_equal(back.size, strlen(target));
	gm_buf_release(&link);
	gm_os_object_release(&o);
	gm_obj_kvs_release(&k);
}

static void foreign_objects(void **state)
{
	(void)state;
	struct gm_os_object o;
	gm_os_object_init(&o);
	o.size = 9;
	o.mtime_ns = 1700000000000000000LL;
	struct gm_sync_meta back;
	gm_obj_meta_decode(&o, &back, NULL); /* no metadata at all: a plain file */
	assert_int_equal(back.kind, GM_SYNC_FILE);
	assert_int_equal(back.mode, 0644);
	assert_true(back.mtime_ns == o.mtime_ns);
	assert_int_equal(back.uid, geteuid());
	gm_os_object_meta_add(&o, "Mtime", 5, "1600000000.5", 12); /* written by rclone */
	gm_os_object_meta_add(&o, "gm-mode", 7, "99999", 5);       /* out of range: ignored */
	gm_obj_meta_decode(&o, &back, NULL);
	assert_true(back.mtime_ns == 1600000000500000000LL);
	gm_os_object_reset(&o);
	gm_os_object_meta_add(&o, "mtime", 5, "-1.25", 5);
	gm_obj_meta_decode(&o, &back, NULL);
	assert_true(back.mtime_ns == -1250000000LL);
	assert_int_equal(back.mode, 0644);
	struct gm_sync_hash h;
	assert_false(gm_obj_meta_hash(&o, &h));
	gm_os_object_release(&o);
}

static void uri_coding(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT, d = GM_BUF_INIT;
	const char raw[] = "a b/c~d+e%f\xc3\xbc";
	gm_os_uri_encode(&b, raw, strlen(raw), true);
	assert_string_equal(gm_buf_cstr(&b), "a%20b/c~d%2Be%25f%C3%BC");
	gm_buf_reset(&b);
	gm_os_uri_encode(&b, raw, strlen(raw), false);
	assert_string_equal(gm_buf_cstr(&b), "a%20b%2Fc~d%2Be%25f%C3%BC");
	gm_os_uri_decode(&d, b.data, b.len, false);
	assert_string_equal(gm_buf_cstr(&d), raw);
	gm_buf_reset(&d);
	gm_os_uri_decode(&d, "a+b%2", 5,
	                 true); /* S3 listings: '+' is a space; a cut escape stays */
	assert_string_equal(gm_buf_cstr(&d), "a b%2");
	gm_buf_release(&b);
	gm_buf_release(&d);
}

static void response_headers(void **state)
{
	(void)state;
	struct gm_os_http_resp r;
	gm_os_http_resp_init(&r);
	gm_buf_adds(&r.headers, "etag: \"abc\"\nx-amz-meta-gm-mode: 644\ncontent-length: 12\n");
	struct gm_buf v = GM_BUF_INIT;
	assert_true(gm_os_http_header(&r, "etag", &v));
	assert_string_equal(gm_buf_cstr(&v), "\"abc\"");
	assert_true(gm_os_http_header(&r, "content-length", &v));
	assert_string_equal(gm_buf_cstr(&v), "12");
	assert_false(gm_os_http_header(&r, "content", &v));
	assert_false(gm_os_http_header(&r, "x-amz-meta-gm", &v));
	gm_buf_release(&v);
	gm_os_http_resp_release(&r);
}

static void store_times(void **state)
{
	(void)state;
	int64_t t = 0;
	assert_true(gm_os_time_rfc3339("2009-10-12T17:50:30.000Z", &t));
	assert_true(t == 1255369830000000000LL);
	assert_true(gm_os_time_rfc3339("2024-02-29T23:59:59.123456789+02:00", &t));
	assert_true(t == 1709251199123456789LL - 7200000000000LL);
	assert_false(gm_os_time_rfc3339("2009-10-12 17:50:30Z", &t));
	assert_false(gm_os_time_rfc3339("2009-13-12T17:50:30Z", &t));
	/* nanoseconds end in 2262; seconds go on */
	assert_false(gm_os_time_rfc3339("2999-01-01T00:00:00Z", &t));
	assert_true(gm_os_time_rfc3339_sec("2999-01-01T00:00:00.5Z", &t));
	assert_true(t == 32472144000LL);
	assert_true(gm_os_time_rfc3339_sec("2009-10-12T19:50:30+02:00", &t));
	assert_true(t == 1255369830LL);
	assert_true(gm_os_time_http("Mon, 12 Oct 2009 17:50:30 GMT", &t));
	assert_true(t == 1255369830000000000LL);
	assert_false(gm_os_time_http("Mon, 12 Foo 2009 17:50:30 GMT", &t));
	assert_false(gm_os_time_http("Mon, 12 Oct 2009 17:50:30 UTC", &t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(meta_round_trip),  cmocka_unit_test(symlink_target_survives),
	        cmocka_unit_test(foreign_objects),  cmocka_unit_test(uri_coding),
	        cmocka_unit_test(response_headers), cmocka_unit_test(store_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for what every sync transport shares: endpoint names (local, scp style, ssh://,
 * IPv6, option injection), the relative-path rules that keep peers inside a root, listings
 * (sorting, lookup, stable names while growing) and the XXH3-128 hasher (holes hashed as
 * zeros give the same hash as the bytes). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sync/endpoint.h"
#include "sync/spec.h"

static void parse_ok(const char *text, enum gm_sync_scheme scheme, const char *user,
                     const char *host, unsigned port, const char *path, bool slash)
{
	struct gm_sync_spec s;
	struct gm_err err = GM_ERR_INIT;
	gm_sync_spec_init(&s);
	if (gm_sync_spec_parse(text, &s, &err) != GM_OK)
		fail_msg("'%s': %s", text, gm_err_msg(&err));
	assert_int_equal(s.scheme, scheme);
	assert_string_equal(gm_buf_cstr(&s.user), user);
	assert_string_equal(gm_buf_cstr(&s.host), host);
	assert_int_equal(s.port, port);
	assert_string_equal(gm_buf_cstr(&s.path), path);
	assert_int_equal(s.trailing_slash, slash);
	gm_sync_spec_release(&s);
	gm_err_release(&err);
}

static void parse_bad(const char *text, const char *needle)
{
	struct gm_sync_spec s;
	struct gm_err err = GM_ERR_INIT;
	gm_sync_spec_init(&s);
	assert_int_equal(gm_sync_spec_parse(text, &s, &err), GM_ERR_USAGE);
	if (!strstr(gm_err_msg(&err), needle))
		fail_msg("'%s': message '%s' lacks '%s'", text, gm_err_msg(&err), needle);
	gm_sync_spec_release(&s);
	gm_err_release(&err);
}

static void spec_forms(void **state)
{
	(void)state;
	const enum gm_sync_scheme L = GM_SYNC_SCHEME_LOCAL, S = GM_SYNC_SCHEME_SSH;
	parse_ok("data", L, "", "", 0, "data", false);
	parse_ok("data/", L, "", "", 0, "data/", true);
	parse_ok("/mnt/a:b", L, "", "", 0, "/mnt/a:b", false);
	parse_ok("./a:b", L, "", "", 0, "./a:b", false);
	parse_ok("dir/x:y", L, "", "", 0, "dir/x:y", false);
	parse_ok("gpu1:/data/", S, "", "gpu1", 0, "/data/", true);
	parse_ok("gpu1:", S, "", "gpu1", 0, "", false);
	parse_ok("ops@gpu1:ckpt", S, "ops", "gpu1", 0, "ckpt", false);
	parse_ok("[::1]:/srv", S, "", "::1", 0, "/srv", false);
	parse_ok("me@[fe80::1]:x", S, "me", "fe80::1", 0, "x", false);
	parse_ok("ssh://gpu1/data", S, "", "gpu1", 0, "/data", false);
	parse_ok("ssh://ops@gpu1:2222/data/", S, "ops", "gpu1", 2222, "/data/", true);
	parse_ok("ssh://[::1]:22/x", S, "", "::1", 22, "/x", false);
	parse_ok("ssh://gpu1", S, "", "gpu1", 0, "", false);
}

static void spec_errors(void **state)
{
	(void)state;
	parse_bad("", "empty path");
	parse_bad(":path", "names no host");
	parse_bad("@host:x", "empty user");
	parse_bad("-oProxyCommand=x:y", "cannot start with '-'");
	parse_bad("-l@host:y", "cannot start with '-'");
	parse_bad("ssh://h:0/x", "bad port");
	parse_bad("ssh://h:70000/x", "bad port");
	parse_bad("ssh://h:2x/x", "bad port");
	parse_bad("ssh:///x", "names no host");
}

static void spec_buckets(void **state)
{
	(void)state;
	parse_ok("s3://bkt/data/ckpt/", GM_SYNC_SCHEME_S3, "", "bkt", 0, "data/ckpt/", true);
	parse_ok("s3://my.bucket-1", GM_SYNC_SCHEME_S3, "", "my.bucket-1", 0, "", false);
	parse_ok("gs://b_x//deep", GM_SYNC_SCHEME_GS, "", "b_x", 0, "deep", false);
	parse_bad("s3://ab/x", "3 to 222");
	parse_bad("gs:///x", "3 to 222");
	parse_bad("s3://Upper/x", "a-z, 0-9");
	parse_bad("gs://bad bucket/x", "a-z, 0-9");
}

static void path_rules(void **state)
{
	(void)state;
	static const char *good[] = {"", "a", "a/b", "a b/c\nd", "\xff\xfe/x", "..a", "a..", ".x"};
	static const char *bad[] = {"/a", "a/",   "a//b", "./a",    "a/./b",
	                            "..", "a/..", "../a", "a/../b", "."};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!gm_sync_path_check(good[i], strlen(good[i])))
			fail_msg("'%s' refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gm_sync_path_check(bad[i], strlen(bad[i])))
			fail_msg("'%s' accepted", bad[i]);
	assert_false(gm_sync_path_check("a\0b", 3));
	char name[GM_SYNC_NAME_MAX + 2];
	memset(name, 'n', sizeof(name));
	assert_true(gm_sync_path_check(name, GM_SYNC_NAME_MAX));
	assert_false(gm_sync_path_check(name, GM_SYNC_NAME_MAX + 1));

	struct gm_buf p = GM_BUF_INIT;
	gm_sync_path_join(&p, "", "x", 1);
	assert_string_equal(gm_buf_cstr(&p), "x");
	gm_sync_path_join(&p, "a/b", "xyz", 2);
	assert_string_equal(gm_buf_cstr(&p), "a/b/xy");
	gm_buf_release(&p);
}

static void listing(void **state)
{
	(void)state;
	struct gm_sync_list l;
	struct gm_sync_meta m = {.kind = GM_SYNC_FILE, .size = 1};
	gm_sync_list_init(&l);
	/* Enough entries with long names to need several name blocks and array growth. */
	char name[200];
	for (int i = 999; i >= 0; i--) {
		memset(name, 'a' + i % 26, sizeof(name));
		int n = snprintf(name, sizeof(name), "%04d", i);
		name[n] = 'z';
		m.size = (uint64_t)i;
		gm_sync_list_add(&l, name, 150, i == 5 ? "t" : NULL, i == 5, &m);
	}
	const char *keep = l.v[0].name; /* names never move while the list grows */
	char copy[151];
	memcpy(copy, keep, 151);
	gm_sync_list_sort(&l);
	assert_int_equal(l.n, 1000);
	assert_memory_equal(keep, copy, 151);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.v[i].meta.size, i);
	const struct gm_sync_entry *e = gm_sync_list_find(&l, l.v[5].name, 150);
	assert_non_null(e);
	assert_int_equal(e->meta.size, 5);
	assert_string_equal(e->link, "t");
	assert_null(gm_sync_list_find(&l, l.v[5].name, 149));
	assert_null(gm_sync_list_find(&l, "zzz", 3));
	gm_sync_list_reset(&l);
	assert_int_equal(l.n, 0);
	assert_null(gm_sync_list_find(&l, "0001", 4));
	gm_sync_list_add(&l, "b", 1, NULL, 0, &m);
	gm_sync_list_add(&l, "a", 1, NULL, 0, &m);
	gm_sync_list_sort(&l);
	assert_string_equal(l.v[0].name, "a");
	gm_sync_list_release(&l);
}

static void hashing(void **state)
{
	(void)state;
	static uint8_t data[200000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	memset(data + 50000, 0, 100000); /* a "hole" in the middle */
	struct gm_sync_hash whole, streamed, holed;
	gm_sync_hash_buf(data, sizeof(data), &whole);

	struct gm_sync_hasher h;
	gm_sync_hasher_init(&h);
	gm_sync_hasher_update(&h, data, 12345);
	gm_sync_hasher_update(&h, data + 12345, sizeof(data) - 12345);
	gm_sync_hasher_digest(&h, &streamed);
	assert_true(gm_sync_hash_equal(&whole, &streamed));

	gm_sync_hasher_reset(&h);
	gm_sync_hasher_update(&h, data, 50000);
	gm_sync_hasher_zeros(&h, 100000);
	gm_sync_hasher_update(&h, data + 150000, 50000);
	gm_sync_hasher_digest(&h, &holed);
	assert_true(gm_sync_hash_equal(&whole, &holed));
	gm_sync_hasher_release(&h);
	gm_sync_hasher_release(&h); /* twice is fine */

	/* XXH3-128 of the empty input, canonical order (from the xxHash test vectors). */
	struct gm_sync_hash empty;
	char hex[33];
	gm_sync_hash_buf("", 0, &empty);
	gm_sync_hash_hex(&empty, hex);
	assert_string_equal(hex, "99aa06d3014798d86001c324468d497f");
	struct gm_sync_hash back;
	assert_true(gm_sync_hash_from_hex(hex, 32, &back));
	assert_true(gm_sync_hash_equal(&back, &empty));
	assert_true(gm_sync_hash_from_hex("99AA06D3014798D86001C324468D497F", 32, &back));
	assert_true(gm_sync_hash_equal(&back, &empty));
	assert_false(gm_sync_hash_from_hex(hex, 31, &back));
	assert_false(gm_sync_hash_from_hex("99aa06d3014798d86001c324468d497g", 32, &back));
	data[0] ^= 1;
	gm_sync_hash_buf(data, sizeof(data), &streamed);
	assert_false(gm_sync_hash_equal(&whole, &streamed));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(spec_forms),   cmocka_unit_test(spec_errors),
	        cmocka_unit_test(spec_buckets), cmocka_unit_test(path_rules),
	        cmocka_unit_test(listing),      cmocka_unit_test(hashing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

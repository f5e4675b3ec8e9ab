/* Unit tests for CRC32C over ISA-L (known vectors, chaining, every length 0..100 and every
 * alignment against a bitwise reference) and the base64 / x-goog-hash forms GCS uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "objstore/crc32c.h"
#include "util/banned.h"

/* The definition: reflected, polynomial 0x1EDC6F41 (0x82F63B78 reversed), init and final xor
 * 0xFFFFFFFF, one bit at a time. */
static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void test_known_vectors(void **state)
{
	(void)state;
	assert_int_equal(gm_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(gm_crc32c(0, NULL, 0), 0u);
	assert_int_equal(gm_crc32c(0x12345678u, NULL, 0), 0x12345678u);
	/* RFC 3720 B.4: 32 bytes of zeros, of 0xff, ascending, descending */
	uint8_t buf[32];
	memset(buf, 0, sizeof(buf));
	assert_int_equal(gm_crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(gm_crc32c(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(gm_crc32c(0, buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(gm_crc32c(0, buf, 32), 0x113FDB5Cu);
	/* GCS documents "hello world" as crc32c "yZRlqg==" */
	assert_int_equal(gm_crc32c(0, "hello world", 11), 0xC99465AAu);
}

static void test_lengths_and_alignment(void **state)
{
	(void)state;
	uint8_t data[100 + 16];
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof(data); i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		data[i] = (uint8_t)x;
	}
	for (size_t off = 0; off < 16; off++)
		for (size_t n = 0; n <= 100; n++)
			assert_int_equal(gm_crc32c(0, data + off, n), crc_ref(0, data + off, n));
}

static void test_chaining(void **state)
{
	(void)state;
	uint8_t data[5000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 8));
	uint32_t whole = gm_crc32c(0, data, sizeof(data));
	assert_int_equal(whole, crc_ref(0, data, sizeof(data)));
	size_t cuts[] = {0, 1, 3, 8, 63, 64, 65, 255, 256, 1000, 4096, 4999, 5000};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		uint32_t c = gm_crc32c(0, data, cuts[i]);
		assert_int_equal(gm_crc32c(c, data + cuts[i], sizeof(data) - cuts[i]), whole);
	}
	/* three pieces */
	uint32_t c = gm_crc32c(0, data, 10);
	c = gm_crc32c(c, data + 10, 2000);
	c = gm_crc32c(c, data + 2010, sizeof(data) - 2010);
	assert_int_equal(c, whole);
	/* byte by byte */
	c = 0;
	for (size_t i = 0; i < 300; i++)
		c = gm_crc32c(c, data + i, 1);
	assert_int_equal(c, crc_ref(0, data, 300));
}

static void test_b64_forms(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	gm_crc32c_to_b64(0xC99465AAu, &b);
	assert_string_equal(gm_buf_cstr(&b), "yZRlqg==");
	gm_buf_reset(&b);
	gm_crc32c_to_b64(0, &b);
	assert_string_equal(gm_buf_cstr(&b), "AAAAAA==");
	gm_buf_reset(&b);
	gm_crc32c_to_b64(0xE3069283u, &b);
	assert_string_equal(gm_buf_cstr(&b), "4waSgw==");

	uint32_t v = 0;
	assert_true(gm_crc32c_from_b64("yZRlqg==", 8, &v));
	assert_int_equal(v, 0xC99465AAu);
	assert_true(gm_crc32c_from_b64("4waSgw==", 8, &v));
	assert_int_equal(v, 0xE3069283u);
	v = 7;
	assert_false(gm_crc32c_from_b64("yZRlqg=", 7, &v));   /* short */
	assert_false(gm_crc32c_from_b64("yZRlqgA=", 8, &v));  /* 5 bytes */
	assert_false(gm_crc32c_from_b64("yZRlqh==", 8, &v));  /* bits in the padding */
	assert_false(gm_crc32c_from_b64("yZ=lqg==", 8, &v));  /* padding inside */
	assert_false(gm_crc32c_from_b64("yZRl*g==", 8, &v));  /* not base64 */
	assert_false(gm_crc32c_from_b64("yZRlqg==x", 9, &v)); /* trailing */
	assert_false(gm_crc32c_from_b64("", 0, &v));
	assert_false(gm_crc32c_from_b64(NULL, 0, &v));
	assert_int_equal(v, 7);

	/* MD5 of "hello world" = 5eb63bbbe01eeed093cb22bb8f5acdc3 */
	static const uint8_t md5[16] = {0x5e, 0xb6, 0x3b, 0xbb, 0xe0, 0x1e, 0xee, 0xd0,
	                                0x93, 0xcb, 0x22, 0xbb, 0x8f, 0x5a, 0xcd, 0xc3};
	gm_buf_reset(&b);
	gm_crc32c_md5_to_b64(md5, &b);
	assert_string_equal(gm_buf_cstr(&b), "XrY7u+Ae7tCTyyK7j1rNww==");
	uint8_t got[16] = {0};
	assert_true(gm_crc32c_md5_from_b64("XrY7u+Ae7tCTyyK7j1rNww==", 24, got));
	assert_memory_equal(got, md5, 16);
	assert_false(gm_crc32c_md5_from_b64("XrY7u+Ae7tCTyyK7j1rNww=", 23, got));
	assert_false(gm_crc32c_md5_from_b64("yZRlqg==", 8, got));
	assert_false(
	        gm_crc32c_md5_from_b64("XrY7u-Ae7tCTyyK7j1rNww==", 24, got)); /* url alphabet */
	gm_buf_release(&b);
}

static void test_goog_hash(void **state)
{
	(void)state;
	struct gm_err err = GM_ERR_INIT;
	struct gm_goog_hash h;
	memset(&h, 0, sizeof(h));
	const char *one = "crc32c=yZRlqg==";
	assert_int_equal(gm_crc32c_goog_hash_parse(one, strlen(one), &h, &err), GM_OK);
	assert_true(h.has_crc32c);
	assert_int_equal(h.crc32c, 0xC99465AAu);
	assert_false(h.has_md5);
	/* the second header adds the md5, keeping the crc */
	const char *two = "md5=XrY7u+Ae7tCTyyK7j1rNww==";
	assert_int_equal(gm_crc32c_goog_hash_parse(two, strlen(two), &h, &err), GM_OK);
	assert_true(h.has_crc32c);
	assert_true(h.has_md5);
	assert_int_equal(h.md5[0], 0x5e);
	assert_int_equal(h.md5[15], 0xc3);

	/* both in one value, with spaces, an unknown name, in the other order */
	memset(&h, 0, sizeof(h));
	const char *both = " md5=XrY7u+Ae7tCTyyK7j1rNww== , sha1=whatever,crc32c=4waSgw== ";
	assert_int_equal(gm_crc32c_goog_hash_parse(both, strlen(both), &h, &err), GM_OK);
	assert_true(h.has_crc32c && h.has_md5);
	assert_int_equal(h.crc32c, 0xE3069283u);
	assert_int_equal(h.md5[1], 0xb6);

	/* composite objects: crc32c only */
	memset(&h, 0, sizeof(h));
	assert_int_equal(gm_crc32c_goog_hash_parse("", 0, &h, &err), GM_OK);
	assert_false(h.has_crc32c || h.has_md5);

	const char *bad[] = {"crc32c=yZRl", "md5=yZRlqg==", "crc32c", "=abc", "crc32c=yZRlqg==,x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&h, 0, sizeof(h));
		gm_err_clear(&err);
		assert_int_equal(gm_crc32c_goog_hash_parse(bad[i], strlen(bad[i]), &h, &err),
		                 GM_ERR_PARSE);
		assert_non_null(strstr(gm_err_msg(&err), "x-goog-hash"));
	}
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_known_vectors), cmocka_unit_test(test_lengths_and_alignment),
	        cmocka_unit_test(test_chaining),      cmocka_unit_test(test_b64_forms),
	        cmocka_unit_test(test_goog_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

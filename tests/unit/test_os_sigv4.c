/* Unit tests for the object stores' codecs (hex, base64, base64url, SHA-256, MD5 one-shot
 * and incremental, against RFC and well-known vectors) and for the SigV4 signer, byte for
 * byte against AWS's published vectors: the generic aws-sig-v4-test-suite (credentials
 * AKIDEXAMPLE, 20150830T123600Z, region us-east-1, service "service") and the S3 examples
 * of "Signature Calculations for the Authorization Header: Transferring Payload in a
 * Single Chunk" (bucket examplebucket, 20130524T000000Z). Each case checks the canonical
 * request, the string to sign and the Authorization value separately. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "objstore/codec.h"
#include "objstore/sigv4.h"
#include "util/banned.h"

/* ---- codecs ---------------------------------------------------------------------------- */

static void expect_b64(const char *in, const char *want)
{
	struct gm_buf b = GM_BUF_INIT, d = GM_BUF_INIT;
	gm_os_base64(&b, in, strlen(in));
	assert_string_equal(gm_buf_cstr(&b), want);
	assert_true(gm_os_base64_decode(b.data, b.len, &d));
	assert_int_equal(d.len, strlen(in));
	assert_memory_equal(gm_buf_cstr(&d), in, d.len);
	gm_buf_release(&b);
	gm_buf_release(&d);
}

static void expect_b64_bad(const char *in)
{
	struct gm_buf d = GM_BUF_INIT;
	gm_buf_adds(&d, "kept");
	assert_false(gm_os_base64_decode(in, strlen(in), &d));
	assert_string_equal(gm_buf_cstr(&d), "kept"); /* nothing half-appended */
	gm_buf_release(&d);
}

static void test_base64(void **state)
{
	(void)state;
	/* RFC 4648 section 10 */
	expect_b64("", "");
	expect_b64("f", "Zg==");
	expect_b64("fo", "Zm8=");
	expect_b64("foo", "Zm9v");
	expect_b64("foob", "Zm9vYg==");
	expect_b64("fooba", "Zm9vYmE=");
	expect_b64("foobar", "Zm9vYmFy");

	/* appends, does not replace */
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_adds(&b, "x:");
	const uint8_t bin[] = {0xfb, 0xff, 0xbf, 0x00};
	gm_os_base64(&b, bin, 3);
	assert_string_equal(gm_buf_cstr(&b), "x:+/+/");
	gm_buf_reset(&b);
	gm_os_base64url(&b, bin, 3);
	assert_string_equal(gm_buf_cstr(&b), "-_-_");
	gm_buf_reset(&b);
	gm_os_base64url(&b, bin, 4); /* no padding */
	assert_string_equal(gm_buf_cstr(&b), "-_-_AA");
	gm_buf_reset(&b);
	gm_os_base64url(&b, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", 27);
	assert_string_equal(gm_buf_cstr(&b), "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9");
	gm_buf_reset(&b);
	assert_true(gm_os_base64url_decode("-_-_AA", 6, &b));
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, bin, 4);
	gm_buf_reset(&b);
	assert_true(gm_os_base64url_decode("-_-_AA==", 8, &b)); /* padded is fine too */
	assert_int_equal(b.len, 4);
	gm_buf_reset(&b);
	assert_false(gm_os_base64url_decode("+/+/", 4, &b)); /* the other alphabet */
	assert_true(gm_os_base64_decode("Zm8", 3, &b));      /* unpadded accepted */
	assert_string_equal(gm_buf_cstr(&b), "fo");
	gm_buf_release(&b);

	expect_b64_bad("Zg=");    /* padding short of the group */
	expect_b64_bad("Zg=A");   /* data after padding */
	expect_b64_bad("Z");      /* a lone last character carries no byte */
	expect_b64_bad("Zm9v\n"); /* whitespace */
	expect_b64_bad("Zh==");   /* non-zero trailing bits */
	expect_b64_bad("-_-_");   /* URL alphabet */
	expect_b64_bad("====");
	expect_b64_bad("Zm9=v");
}

static void test_hex(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	const uint8_t bin[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
	gm_os_hex(&b, bin, sizeof bin);
	assert_string_equal(gm_buf_cstr(&b), "0001abff7f");
	gm_os_hex(&b, bin, 0);
	assert_string_equal(gm_buf_cstr(&b), "0001abff7f");
	uint8_t out[5] = {0};
	assert_true(gm_os_hex_decode("0001ABff7f", 10, out, 5));
	assert_memory_equal(out, bin, 5);
	memset(out, 0x55, sizeof out);
	assert_false(gm_os_hex_decode("0001abff7", 9, out, 5));
	assert_false(gm_os_hex_decode("0001abff7g", 10, out, 5));
	assert_false(gm_os_hex_decode("0001abff7f00", 12, out, 5));
	assert_int_equal(out[0], 0x55); /* untouched on failure */
	gm_buf_release(&b);
}

static void hexof(const uint8_t *p, size_t n, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_os_hex(out, p, n);
}

static void test_digests(void **state)
{
	(void)state;
	struct gm_buf h = GM_BUF_INIT;
	uint8_t d[32], m[16];

	gm_os_sha256("", 0, d);
	hexof(d, 32, &h);
	assert_string_equal(gm_buf_cstr(&h), GM_SIGV4_EMPTY_SHA256);
	gm_os_sha256("abc", 3, d);
	hexof(d, 32, &h);
	assert_string_equal(gm_buf_cstr(&h),
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	gm_os_sha256("Welcome to Amazon S3.", 21, d);
	hexof(d, 32, &h);
	assert_string_equal(gm_buf_cstr(&h),
	                    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");

	/* RFC 1321 appendix A.5 */
	assert_true(gm_os_md5("", 0, m));
	hexof(m, 16, &h);
	assert_string_equal(gm_buf_cstr(&h), "d41d8cd98f00b204e9800998ecf8427e");
	gm_buf_reset(&h);
	gm_os_base64(&h, m, 16); /* the Content-MD5 of an empty body */
	assert_string_equal(gm_buf_cstr(&h), "1B2M2Y8AsgTpgAmY7PhCfg==");
	assert_true(gm_os_md5("abc", 3, m));
	hexof(m, 16, &h);
	assert_string_equal(gm_buf_cstr(&h), "900150983cd24fb0d6963f7d28e17f72");
	const char *digits = "1234567890123456789012345678901234567890"
	                     "1234567890123456789012345678901234567890";
	assert_true(gm_os_md5(digits, 80, m));
	hexof(m, 16, &h);
	assert_string_equal(gm_buf_cstr(&h), "57edf4a22be3c955ac49da2e2107b67a");

	/* incremental, in uneven pieces, equals one-shot */
	struct gm_os_md5_ctx c = {0};
	assert_true(gm_os_md5_init(&c));
	gm_os_md5_update(&c, digits, 1);
	gm_os_md5_update(&c, digits + 1, 0);
	gm_os_md5_update(&c, digits + 1, 62);
	gm_os_md5_update(&c, digits + 63, 17);
	uint8_t m2[16];
	assert_true(gm_os_md5_final(&c, m2));
	assert_memory_equal(m, m2, 16);
	assert_null(c.h);
	assert_false(gm_os_md5_final(&c, m2)); /* spent */
	gm_os_md5_release(&c);                 /* harmless after final */
	/* abandoned without final: release frees it (ASan checks) */
	assert_true(gm_os_md5_init(&c));
	gm_os_md5_update(&c, "abc", 3);
	gm_os_md5_release(&c);
	assert_null(c.h);
	gm_os_md5_release(NULL);
	gm_buf_release(&h);
}

/* ---- SigV4: AWS's generic test suite ------------------------------------------------- */

#define SUITE_ID     "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_SCOPE  "20150830/us-east-1/service/aws4_request"
#define SUITE_HOST   "host:example.amazonaws.com\n"
#define SUITE_DATE   "x-amz-date:20150830T123600Z\n"
#define EMPTY        GM_SIGV4_EMPTY_SHA256
#define STS_PREFIX   "AWS4-HMAC-SHA256\n20150830T123600Z\n" SUITE_SCOPE "\n"
#define SUITE_TOKEN                                                                              \
	"AQoDYXdzEPT//////////"                                                                  \
	"wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8" \
	"YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5V"  \
	"SXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"          \
	"scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

struct vcase {
	const char *name;
	const char *method, *path, *query;
	struct gm_os_kv headers[4];
	size_t n_headers;
	const char *payload; /* hex; NULL: empty */
	const char *token;
	const char *creq;
	const char *sts_hash;
	const char *signed_headers;
	const char *signature;
};

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {0};
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return timegm(&tm);
}

static const struct vcase suite[] = {
        {"get-vanilla",
         "GET",
         "/",
         NULL,
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/\n\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
         "host;x-amz-date",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {"get-vanilla-query",
         "GET",
         "/",
         "",
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/\n\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
         "host;x-amz-date",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {"get-vanilla-query-order-key-case",
         "GET",
         "/",
         "Param2=value2&Param1=value1",
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/\nParam1=value1&Param2=value2\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
         "host;x-amz-date",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
        {"get-vanilla-query-order-key",
         "GET",
         "/",
         "Param1=value2&Param1=Value1",
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/\nParam1=Value1&Param1=value2\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
         "host;x-amz-date",
         "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
        {"get-vanilla-query-order-value",
         "GET",
         "/",
         "Param1=value2&Param1=value1",
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/\nParam1=value1&Param1=value2\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606",
         "host;x-amz-date",
         "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
        {"get-vanilla-query-unreserved",
         "GET",
         "/",
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n" SUITE_HOST SUITE_DATE
         "\nhost;x-amz-date\n" EMPTY,
         "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
         "host;x-amz-date",
         "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
        /* a raw UTF-8 query, encoded by the canonicalisation */
        {"get-vanilla-utf8-query",
         "GET",
         "/",
         "\xe1\x88\xb4=bar",
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/\n%E1%88%B4=bar\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
         "host;x-amz-date",
         "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
        {"get-unreserved",
         "GET",
         "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         NULL,
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\n" SUITE_HOST
                 SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
         "host;x-amz-date",
         "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
        /* the suite's raw space; the already-encoded form must sign the same */
        {"get-space",
         "GET",
         "/example space/",
         NULL,
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/example%20space/\n\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
         "host;x-amz-date",
         "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
        {"get-space (encoded)",
         "GET",
         "/example%20space/",
         NULL,
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/example%20space/\n\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
         "host;x-amz-date",
         "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
        {"get-header-value-trim",
         "GET",
         "/",
         NULL,
         {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
         2,
         NULL,
         NULL,
         "GET\n/\n\n" SUITE_HOST "my-header1:value1\nmy-header2:\"a b c\"\n" SUITE_DATE
         "\nhost;my-header1;my-header2;x-amz-date\n" EMPTY,
         "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
         "host;my-header1;my-header2;x-amz-date",
         "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
        {"get-header-key-duplicate",
         "GET",
         "/",
         NULL,
         {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
         3,
         NULL,
         NULL,
         "GET\n/\n\n" SUITE_HOST "my-header1:value2,value2,value1\n" SUITE_DATE
         "\nhost;my-header1;x-amz-date\n" EMPTY,
         "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
         "host;my-header1;x-amz-date",
         "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
        {"get-header-value-order",
         "GET",
         "/",
         NULL,
         {{"My-Header1", "value4"},
          {"My-Header1", "value1"},
          {"My-Header1", "value3"},
          {"My-Header1", "value2"}},
         4,
         NULL,
         NULL,
         "GET\n/\n\n" SUITE_HOST "my-header1:value4,value1,value3,value2\n" SUITE_DATE
         "\nhost;my-header1;x-amz-date\n" EMPTY,
         "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
         "host;my-header1;x-amz-date",
         "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
        {"post-vanilla",
         "POST",
         "/",
         NULL,
         {{0}},
         0,
         NULL,
         NULL,
         "POST\n/\n\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
         "host;x-amz-date",
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
        {"post-vanilla-query",
         "POST",
         "/",
         "Param1=value1",
         {{0}},
         0,
         NULL,
         NULL,
         "POST\n/\nParam1=value1\n" SUITE_HOST SUITE_DATE "\nhost;x-amz-date\n" EMPTY,
         "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
         "host;x-amz-date",
         "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
        {"post-header-key-sort",
         "POST",
         "/",
         NULL,
         {{"My-Header1", "value1"}},
         1,
         NULL,
         NULL,
         "POST\n/\n\n" SUITE_HOST "my-header1:value1\n" SUITE_DATE
         "\nhost;my-header1;x-amz-date\n" EMPTY,
         "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
         "host;my-header1;x-amz-date",
         "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
        {"post-header-value-case",
         "POST",
         "/",
         NULL,
         {{"My-Header1", "VALUE1"}},
         1,
         NULL,
         NULL,
         "POST\n/\n\n" SUITE_HOST "my-header1:VALUE1\n" SUITE_DATE
         "\nhost;my-header1;x-amz-date\n" EMPTY,
         "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
         "host;my-header1;x-amz-date",
         "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
        {"post-x-www-form-urlencoded",
         "POST",
         "/",
         NULL,
         {{"Content-Type", "application/x-www-form-urlencoded"}},
         1,
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
         NULL,
         "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n" SUITE_HOST SUITE_DATE
         "\ncontent-type;host;x-amz-date\n"
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
         "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
         "content-type;host;x-amz-date",
         "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
        {"post-sts-header-before",
         "POST",
         "/",
         NULL,
         {{0}},
         0,
         NULL,
         SUITE_TOKEN,
         "POST\n/\n\n" SUITE_HOST SUITE_DATE "x-amz-security-token:" SUITE_TOKEN
         "\n\nhost;x-amz-date;x-amz-security-token\n" EMPTY,
         "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
         "host;x-amz-date;x-amz-security-token",
         "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
};

static void check_case(const struct vcase *v, const struct gm_sigv4_input *in,
                       const struct gm_sigv4_creds *c, const char *sts_prefix,
                       const char *cred_scope)
{
	struct gm_buf creq = GM_BUF_INIT, names = GM_BUF_INIT, sts = GM_BUF_INIT,
	              auth = GM_BUF_INIT, want = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	char sig[65];

	print_message("case %s\n", v->name);
	gm_sigv4_canonical_request(in, c->session_token, &creq, &names);
	assert_string_equal(gm_buf_cstr(&creq), v->creq);
	assert_string_equal(gm_buf_cstr(&names), v->signed_headers);

	gm_sigv4_string_to_sign(in, creq.data, creq.len, &sts);
	gm_buf_adds(&want, sts_prefix);
	gm_buf_adds(&want, v->sts_hash);
	assert_string_equal(gm_buf_cstr(&sts), gm_buf_cstr(&want));

	gm_sigv4_signature(in, c->secret_key, sts.data, sts.len, sig);
	assert_string_equal(sig, v->signature);

	assert_int_equal(gm_sigv4_authorization(in, c, &auth, &err), GM_OK);
	gm_buf_reset(&want);
	gm_buf_addf(&want, "AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s",
	            cred_scope, v->signed_headers, v->signature);
	assert_string_equal(gm_buf_cstr(&auth), gm_buf_cstr(&want));

	gm_buf_release(&creq);
	gm_buf_release(&names);
	gm_buf_release(&sts);
	gm_buf_release(&auth);
	gm_buf_release(&want);
	gm_err_release(&err);
}

static void test_suite_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++) {
		const struct vcase *v = &suite[i];
		struct gm_sigv4_input in = {
		        .method = v->method,
		        .host = "example.amazonaws.com",
		        .path = v->path,
		        .query = v->query,
		        .headers = v->headers,
		        .n_headers = v->n_headers,
		        .payload_sha256 = v->payload,
		        .now = utc(2015, 8, 30, 12, 36, 0),
		        .region = "us-east-1",
		        .service = "service",
		        .omit_content_sha256 = true,
		};
		struct gm_sigv4_creds c = {SUITE_ID, SUITE_SECRET, v->token};
		check_case(v, &in, &c, STS_PREFIX, SUITE_ID "/" SUITE_SCOPE);
	}
}

/* ---- SigV4: the S3 documentation's examples ------------------------------------------ */

#define S3_ID     "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_SCOPE  "20130524/us-east-1/s3/aws4_request"
#define S3_HOST   "host:examplebucket.s3.amazonaws.com\n"
#define S3_DATE   "x-amz-date:20130524T000000Z\n"
#define S3_STS    "AWS4-HMAC-SHA256\n20130524T000000Z\n" S3_SCOPE "\n"
#define PUT_HASH  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"

static const struct vcase s3_examples[] = {
        {"GET Object",
         "GET",
         "/test.txt",
         NULL,
         {{"Range", "bytes=0-9"}},
         1,
         EMPTY,
         NULL,
         "GET\n/test.txt\n\n" S3_HOST "range:bytes=0-9\nx-amz-content-sha256:" EMPTY "\n" S3_DATE
         "\nhost;range;x-amz-content-sha256;x-amz-date\n" EMPTY,
         "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
         "host;range;x-amz-content-sha256;x-amz-date",
         "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
        /* the key "test$file.text", sent with its '$' raw: signed as %24 all the same */
        {"PUT Object",
         "PUT",
         "/test$file.text",
         NULL,
         {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
         2,
         PUT_HASH,
         NULL,
         "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n" S3_HOST
         "x-amz-content-sha256:" PUT_HASH "\n" S3_DATE "x-amz-storage-class:REDUCED_REDUNDANCY\n"
         "\ndate;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" PUT_HASH,
         "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
         "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
         "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
        {"PUT Object (encoded key)",
         "PUT",
         "/test%24file.text",
         NULL,
         {{"x-amz-storage-class", "REDUCED_REDUNDANCY"}, {"date", "Fri, 24 May 2013 00:00:00 GMT"}},
         2,
         PUT_HASH,
         NULL,
         "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n" S3_HOST
         "x-amz-content-sha256:" PUT_HASH "\n" S3_DATE "x-amz-storage-class:REDUCED_REDUNDANCY\n"
         "\ndate;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" PUT_HASH,
         "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
         "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
         "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
        {"GET Bucket Lifecycle",
         "GET",
         "/",
         "lifecycle",
         {{0}},
         0,
         EMPTY,
         NULL,
         "GET\n/\nlifecycle=\n" S3_HOST "x-amz-content-sha256:" EMPTY "\n" S3_DATE
         "\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY,
         "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
         "host;x-amz-content-sha256;x-amz-date",
         "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
        {"Get Bucket (List Objects)",
         "GET",
         "/",
         "prefix=J&max-keys=2",
         {{0}},
         0,
         NULL,
         NULL,
         "GET\n/\nmax-keys=2&prefix=J\n" S3_HOST "x-amz-content-sha256:" EMPTY "\n" S3_DATE
         "\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY,
         "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
         "host;x-amz-content-sha256;x-amz-date",
         "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
};

static void test_s3_examples(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof s3_examples / sizeof s3_examples[0]; i++) {
		const struct vcase *v = &s3_examples[i];
		struct gm_sigv4_input in = {
		        .method = v->method,
		        .host = "examplebucket.s3.amazonaws.com",
		        .path = v->path,
		        .query = v->query,
		        .headers = v->headers,
		        .n_headers = v->n_headers,
		        .payload_sha256 = v->payload,
		        .now = utc(2013, 5, 24, 0, 0, 0),
		        .region = "us-east-1",
		        .service = NULL, /* "s3" */
		};
		struct gm_sigv4_creds c = {S3_ID, S3_SECRET, NULL};
		check_case(v, &in, &c, S3_STS, S3_ID "/" S3_SCOPE);
	}
}

/* ---- SigV4: canonicalisation details, the header list, refusals ---------------------- */

static void expect_canon(const char *path, const char *query, const char *want_path,
                         const char *want_query)
{
	struct gm_sigv4_input in = {
	        .method = "GET", .host = "h", .path = path, .query = query, .now = 0, .region = "r"};
	struct gm_buf creq = GM_BUF_INIT, want = GM_BUF_INIT;
	gm_sigv4_canonical_request(&in, NULL, &creq, NULL);
	gm_buf_addf(&want, "GET\n%s\n%s\n", want_path, want_query);
	print_message("path '%s' query '%s' -> %s", path ? path : "(null)",
	              query ? query : "(null)", gm_buf_cstr(&creq));
	assert_memory_equal(gm_buf_cstr(&creq), gm_buf_cstr(&want), want.len);
	gm_buf_release(&creq);
	gm_buf_release(&want);
}

static void test_canonical_forms(void **state)
{
	(void)state;
	expect_canon(NULL, NULL, "/", "");
	expect_canon("", "", "/", "");
	/* S3 keys keep their slashes, dots and doubled slashes: no path normalisation */
	expect_canon("/b/a//./../k", NULL, "/b/a//./../k", "");
	/* escapes decoded and re-encoded once, uppercase: no double encoding */
	expect_canon("/a%7eb%2fc%2Fd", NULL, "/a~b/c/d", "");
	expect_canon("/100%25 ok+", NULL, "/100%25%20ok%2B", "");
	expect_canon("/bad%zz%4", NULL, "/bad%25zz%254", "");
	expect_canon("/\xc3\xa9t\xc3\xa9", NULL, "/%C3%A9t%C3%A9", "");
	/* query: '/' is encoded there, empty pieces dropped, valueless names get '=' */
	expect_canon("/", "prefix=a/b&list-type=2", "/", "list-type=2&prefix=a%2Fb");
	expect_canon("/", "prefix=a%2fb&&uploads", "/", "prefix=a%2Fb&uploads=");
	expect_canon("/", "b=2&a=&a", "/", "a=&a=&b=2");
	expect_canon("/", "k=a+b&k=a%20b", "/", "k=a%20b&k=a%2Bb");
	expect_canon("/", "x=1=2", "/", "x=1%3D2");
	/* sorted bytewise on the encoded forms: uppercase before lowercase */
	expect_canon("/", "b=1&B=1&a=1", "/", "B=1&a=1&b=1");

	char date[17];
	gm_sigv4_amz_date(utc(2024, 2, 29, 23, 59, 58), date);
	assert_string_equal(date, "20240229T235958Z");
}

static size_t slist_len(const struct curl_slist *l)
{
	size_t n = 0;
	for (; l; l = l->next)
		n++;
	return n;
}

static const char *slist_at(const struct curl_slist *l, size_t i)
{
	while (i-- && l)
		l = l->next;
	return l ? l->data : NULL;
}

static void test_sign_headers(void **state)
{
	(void)state;
	struct gm_os_kv h[] = {{"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
	                       {"x-amz-meta-gm-mtime", "1700000000.5"}};
	struct gm_sigv4_input in = {
	        .method = "PUT",
	        .host = "127.0.0.1:9000",
	        .path = "/bucket/dir/a%20b.bin",
	        .query = "partNumber=1&uploadId=xyz",
	        .headers = h,
	        .n_headers = 2,
	        .payload_sha256 = GM_SIGV4_UNSIGNED_PAYLOAD,
	        .now = utc(2013, 5, 24, 0, 0, 0),
	        .region = "us-east-1",
	        .service = "s3",
	};
	struct gm_sigv4_creds c = {S3_ID, S3_SECRET, "TOKEN/abc+="};
	struct gm_err err = GM_ERR_INIT;
	struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	if (!l) {
		print_message("libcurl is not loadable here: header list checks skipped\n");
		skip();
	}
	assert_int_equal(gm_sigv4_sign(&in, &c, &l, &err), GM_OK);
	assert_int_equal(slist_len(l), 5);
	assert_string_equal(slist_at(l, 0), "Content-Type: application/octet-stream");
	const char *auth = slist_at(l, 1);
	const char *prefix = "Authorization: AWS4-HMAC-SHA256 Credential=" S3_ID "/" S3_SCOPE
	                     ", SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date;"
	                     "x-amz-meta-gm-mtime;x-amz-security-token, Signature=";
	assert_int_equal(strncmp(auth, prefix, strlen(prefix)), 0);
	assert_int_equal(strlen(auth), strlen(prefix) + 64);
	assert_string_equal(slist_at(l, 2), "x-amz-date: 20130524T000000Z");
	assert_string_equal(slist_at(l, 3), "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	assert_string_equal(slist_at(l, 4), "x-amz-security-token: TOKEN/abc+=");

	/* the Authorization header is the one gm_sigv4_authorization computes */
	struct gm_buf a = GM_BUF_INIT;
	assert_int_equal(gm_sigv4_authorization(&in, &c, &a, &err), GM_OK);
	assert_string_equal(auth + strlen("Authorization: "), gm_buf_cstr(&a));
	/* and the canonical request carries the unsigned payload marker last */
	struct gm_buf creq = GM_BUF_INIT;
	gm_sigv4_canonical_request(&in, c.session_token, &creq, NULL);
	assert_non_null(strstr(gm_buf_cstr(&creq), "\nUNSIGNED-PAYLOAD"));
	assert_non_null(strstr(gm_buf_cstr(&creq), "\nhost:127.0.0.1:9000\n"));
	assert_non_null(strstr(gm_buf_cstr(&creq), "\npartNumber=1&uploadId=xyz\n"));
	/* a signature changes with the time, the key and the token */
	struct gm_buf b = GM_BUF_INIT;
	in.now += 1;
	assert_int_equal(gm_sigv4_authorization(&in, &c, &b, &err), GM_OK);
	assert_string_not_equal(gm_buf_cstr(&a), gm_buf_cstr(&b));
	in.now -= 1;
	c.session_token = NULL;
	assert_int_equal(gm_sigv4_authorization(&in, &c, &b, &err), GM_OK);
	assert_string_not_equal(gm_buf_cstr(&a), gm_buf_cstr(&b));
	assert_null(strstr(gm_buf_cstr(&b), "x-amz-security-token"));

	/* omit_content_sha256: no such header appended */
	struct curl_slist *l2 = NULL;
	in.omit_content_sha256 = true;
	assert_int_equal(gm_sigv4_sign(&in, &c, &l2, &err), GM_OK);
	assert_int_equal(slist_len(l2), 2);
	assert_non_null(strstr(slist_at(l2, 0), "SignedHeaders=content-md5;host;x-amz-date;"
	                                        "x-amz-meta-gm-mtime, "));
	curl_slist_free_all(l2);
	curl_slist_free_all(l);
	gm_buf_release(&a);
	gm_buf_release(&b);
	gm_buf_release(&creq);
	gm_err_release(&err);
}

static void expect_refused(struct gm_sigv4_input *in, struct gm_sigv4_creds *c, const char *part)
{
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	struct curl_slist *l = NULL;
	gm_buf_adds(&out, "untouched");
	assert_int_equal(gm_sigv4_authorization(in, c, &out, &err), GM_ERR_USAGE);
	assert_string_equal(gm_buf_cstr(&out), "untouched");
	print_message("refused: %s\n", gm_err_msg(&err));
	assert_non_null(strstr(gm_err_msg(&err), part));
	/* no secret in any message */
	assert_null(strstr(gm_err_msg(&err), S3_SECRET));
	assert_null(strstr(gm_err_msg(&err), "SECRET-TOKEN"));
	assert_int_equal(gm_sigv4_sign(in, c, &l, &err), GM_ERR_USAGE);
	assert_null(l);
	gm_buf_release(&out);
	gm_err_release(&err);
}

static void test_refusals(void **state)
{
	(void)state;
	struct gm_os_kv h[1] = {{"x-amz-meta-a", "ok"}};
	struct gm_sigv4_input in = {.method = "GET",
	                            .host = "examplebucket.s3.amazonaws.com",
	                            .path = "/k",
	                            .headers = h,
	                            .n_headers = 1,
	                            .now = 1,
	                            .region = "us-east-1"};
	struct gm_sigv4_creds c = {S3_ID, S3_SECRET, "SECRET-TOKEN"};

	struct gm_sigv4_creds none = {NULL, NULL, NULL};
	expect_refused(&in, &none, "without credentials");
	struct gm_sigv4_creds half = {S3_ID, "", NULL};
	expect_refused(&in, &half, "without credentials");
	struct gm_sigv4_creds badtok = {S3_ID, S3_SECRET, "SECRET-TOKEN\r\nX-Evil: 1"};
	expect_refused(&in, &badtok, "session token");

	h[0] = (struct gm_os_kv){"x-amz-meta-a", "line\r\nX-Injected: 1"};
	expect_refused(&in, &c, "'x-amz-meta-a'");
	h[0] = (struct gm_os_kv){"Bad Name", "v"};
	expect_refused(&in, &c, "no valid name");
	h[0] = (struct gm_os_kv){"X-Amz-Date", "20000101T000000Z"};
	expect_refused(&in, &c, "'X-Amz-Date' is the signer's own");
	h[0] = (struct gm_os_kv){"Host", "elsewhere"};
	expect_refused(&in, &c, "'Host' is the signer's own");
	h[0] = (struct gm_os_kv){"x-amz-meta-a", "ok"};

	in.region = "us-east-1/../x";
	expect_refused(&in, &c, "region");
	in.region = NULL;
	expect_refused(&in, &c, "region");
	in.region = "us-east-1";
	in.host = "";
	expect_refused(&in, &c, "host");
	in.host = "h\r\nx: y";
	expect_refused(&in, &c, "host");
	in.host = "h";
	in.method = NULL;
	expect_refused(&in, &c, "method");
	in.method = "GET";
	in.path = "/a\nb";
	expect_refused(&in, &c, "path");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_base64),       cmocka_unit_test(test_hex),
	        cmocka_unit_test(test_digests),      cmocka_unit_test(test_suite_vectors),
	        cmocka_unit_test(test_s3_examples),  cmocka_unit_test(test_canonical_forms),
	        cmocka_unit_test(test_sign_headers), cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for Xid handling: the compiled-in catalog (meanings of the common codes),
 * which codes are fatal, and scanning real-looking kernel log text in its formats (kern.log,
 * dmesg, CRLF, old drivers without "PCI:"), including lines that must not count. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "assess/xid.h"
#include "util/fs.h"

static void read_fixture(const char *name, struct gm_buf *out)
{
	const char *dir = getenv("GM_FIXTURES");
	struct gm_buf path = GM_BUF_INIT;
	gm_buf_addf(&path, "%s/kernlog/%s", dir ? dir : "tests/fixtures", name);
	assert_int_equal(gm_fs_read(gm_buf_cstr(&path), 1 << 20, out, NULL), GM_OK);
	gm_buf_release(&path);
}

static void catalog(void **state)
{
	(void)state;
	struct gm_xid_catalog c;
	struct gm_err err = GM_ERR_INIT;
	static const int common[] = {13, 31, 43, 45, 48, 61, 62,  63,
	                             64, 74, 79, 92, 94, 95, 119, 120};
	assert_int_equal(gm_xid_catalog_load_embedded(&c, &err), GM_OK);
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
		const struct gm_xid_info *x = gm_xid_lookup(&c, common[i]);
		assert_non_null(x);
		assert_int_equal(x->code, common[i]);
		assert_true(strlen(x->name) > 5);
		assert_true(strlen(x->action) > 5);
	}
	const struct gm_xid_info *x79 = gm_xid_lookup(&c, 79);
	assert_string_equal(x79->name,
	                    "GPU has fallen off the bus (no longer reachable over PCIe)");
	assert_string_equal(x79->immediate_action, "RESTART_BM");
	assert_true(gm_xid_is_fatal(x79));
	assert_true(gm_xid_is_fatal(gm_xid_lookup(&c, 48)));
	assert_true(gm_xid_is_fatal(gm_xid_lookup(&c, 95)));
	assert_false(gm_xid_is_fatal(gm_xid_lookup(&c, 13)));
	assert_false(gm_xid_is_fatal(gm_xid_lookup(&c, 31)));
	assert_false(gm_xid_is_fatal(gm_xid_lookup(&c, 43)));
	assert_false(gm_xid_is_fatal(gm_xid_lookup(&c, 45))); /* follows other Xids */
	assert_false(gm_xid_is_fatal(gm_xid_lookup(&c, 94)));
	assert_null(gm_xid_lookup(&c, 99999));
	assert_false(gm_xid_is_fatal(NULL));
	gm_xid_catalog_release(&c);
	gm_err_release(&err);
}

static void scan_kern_log(void **state)
{
	(void)state;
	struct gm_buf text = GM_BUF_INIT;
	struct gm_xid_scan s;
	read_fixture("kern.log", &text);
	gm_xid_scan_text(&s, text.data, text.len);
	assert_int_equal(s.lines, 4);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.hits[0].code, 13);
	assert_string_equal(s.hits[0].pci, "0000:17:00");
	assert_int_equal(s.hits[0].count, 2);
	assert_string_equal(s.hits[0].last, "pid=48211, name=python3, Graphics Exception: ESR "
	                                    "0x50e648=0x102000e 0x50e650=0x0 0x50e644=0xd3eff2 "
	                                    "0x50e64c=0x17f");
	assert_int_equal(s.hits[1].code, 79);
	assert_string_equal(s.hits[1].pci, "0000:65:00");
	assert_int_equal(s.hits[1].count, 1);
	assert_string_equal(s.hits[1].last,
	                    "pid=0, name=kworker/u449:1, GPU has fallen off the bus.");
	assert_int_equal(s.hits[2].code, 31);
	assert_string_equal(s.hits[2].pci, "0000:17:00");
	assert_int_equal(strlen(s.hits[2].last), 160); /* capped */
	gm_xid_scan_release(&s);
	gm_buf_release(&text);
}

static void scan_dmesg_and_crlf(void **state)
{
	(void)state;
	struct gm_buf text = GM_BUF_INIT;
	struct gm_xid_scan s;
	read_fixture("dmesg-app-only", &text);
	gm_xid_scan_text(&s, text.data, text.len);
	assert_int_equal(s.lines, 3); /* the two malformed lines do not count */
	assert_int_equal(s.n, 2);
	assert_int_equal(s.hits[0].code, 43);
	assert_int_equal(s.hits[0].count, 2);
	assert_string_equal(s.hits[0].pci, "0000:3b:00");
	assert_int_equal(s.hits[1].code, 31);
	assert_string_equal(s.hits[1].pci, "0000:00:1e");
	assert_string_equal(s.hits[1].last, "Ch 00000010, engmask 00000101, intr 10000000");
	gm_xid_scan_release(&s);

	read_fixture("messages-crlf", &text);
	gm_xid_scan_text(&s, text.data, text.len);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.hits[0].code, 94);
	assert_string_equal(s.hits[0].pci, "0000:b1:00"); /* lowercased */
	assert_string_equal(s.hits[0].last, "pid=77, name=train, Contained: SM (0x1). RST: No, "
	                                    "D-RST: No"); /* no \r */
	gm_xid_scan_release(&s);

	gm_xid_scan_text(&s, "", 0);
	assert_int_equal(s.n, 0);
	static const char cut[] = "NVRM: Xid (PCI:0000:17:00): 4"; /* no newline at the end */
	gm_xid_scan_text(&s, cut, strlen(cut));
	assert_int_equal(s.n, 1);
	assert_int_equal(s.hits[0].code, 4);
	assert_string_equal(s.hits[0].last, "");
	gm_xid_scan_release(&s);
	gm_buf_release(&text);
}

static void bad_catalog(void **state)
{
	(void)state;
	struct gm_xid_catalog c;
	struct gm_err err = GM_ERR_INIT;
	static const char no_code[] = "schema: gpumigrate.catalog.xid/v1\nxids:\n  - name: x\n";
	static const char wrong[] = "schema: gpumigrate.catalog.cuda-driver/v1\nxids: []\n";
	assert_int_equal(gm_xid_catalog_parse(&c, "x.yaml", no_code, strlen(no_code), &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "x.yaml:3:"));
	assert_non_null(strstr(gm_err_msg(&err), "positive 'code'"));
	assert_int_equal(gm_xid_catalog_parse(&c, "x.yaml", wrong, strlen(wrong), &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "not an Xid catalog"));
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(catalog),
	        cmocka_unit_test(scan_kern_log),
	        cmocka_unit_test(scan_dmesg_and_crlf),
	        cmocka_unit_test(bad_catalog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for util/: gm_buf, gm_err, gm_json, gm_doc, gm_fs, gm_table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/doc.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/http_line.h"
#include "util/json.h"
#include "util/table.h"

static void buf_grows_and_formats(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	assert_string_equal(gm_buf_cstr(&b), "");
	for (int i = 0; i < 1000; i++)
		gm_buf_addf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_memory_equal(b.data, "0,1,2,", 6);
	gm_buf_reset(&b);
	gm_buf_adds(&b, "abc  \n\t");
	gm_buf_rtrim(&b);
	assert_string_equal(gm_buf_cstr(&b), "abc");
	gm_buf_addpad(&b, '-', 3);
	assert_string_equal(b.data, "abc---");
	gm_buf_truncate(&b, 2);
	assert_string_equal(b.data, "ab");
	char *s = gm_buf_detach(&b);
	assert_string_equal(s, "ab");
	assert_null(b.data);
	free(s);
	s = gm_buf_detach(&b); /* empty buffer detaches to "" */
	assert_string_equal(s, "");
	free(s);
}

static void err_keeps_last_message(void **state)
{
	(void)state;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_err_set(&err, GM_ERR_IO, "cannot read '%s'", "x"), GM_ERR_IO);
	assert_string_equal(gm_err_msg(&err), "cannot read 'x'");
	gm_err_errno(&err, GM_ERR_NOT_FOUND, 2, "cannot open '%s'", "y");
	assert_int_equal(err.rc, GM_ERR_NOT_FOUND);
	assert_string_equal(gm_err_msg(&err), "cannot open 'y': No such file or directory");
	gm_err_clear(&err);
	assert_string_equal(gm_err_msg(&err), "success");
	assert_int_equal(gm_err_set(NULL, GM_ERR_PARSE, "ignored"), GM_ERR_PARSE);
	gm_err_release(&err);
}

static void json_writer_is_valid_and_ordered(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	struct gm_json j;
	gm_json_init(&j, &b, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "z", "a\"b\\c\n\x01");
	gm_json_int(&j, "a", -5);
	gm_json_uint(&j, "u", UINT64_MAX);
	gm_json_double(&j, "d", 1.5);
	gm_json_double(&j, "nan", NAN);
	gm_json_bool(&j, "t", true);
	gm_json_str(&j, "n", NULL);
	gm_json_begin_array(&j, "arr");
	gm_json_int(&j, NULL, 1);
	gm_json_begin_object(&j, NULL);
	gm_json_end_object(&j);
	gm_json_end_array(&j);
	gm_json_str(&j, "bad", "\xff\xc3\x28ok\xc3\xa9");
	gm_json_end_object(&j);
	assert_string_equal(b.data, "{\"z\":\"a\\\"b\\\\c\\n\\u0001\",\"a\":-5,"
	                            "\"u\":18446744073709551615,\"d\":1.5,\"nan\":null,\"t\":true,"
	                            "\"n\":null,\"arr\":[1,{}],"
	                            "\"bad\":\"\xef\xbf\xbd\xef\xbf\xbd(ok\xc3\xa9\"}");
	gm_buf_release(&b);

	gm_json_init(&j, &b, true);
	gm_json_begin_object(&j, NULL);
	gm_json_begin_array(&j, "e");
	gm_json_end_array(&j);
	gm_json_int(&j, "x", 1);
	gm_json_end_object(&j);
	assert_string_equal(b.data, "{\n  \"e\": [],\n  \"x\": 1\n}\n");
	gm_buf_release(&b);
}

static void doc_reads_yaml_and_reports_positions(void **state)
{
	(void)state;
	const char *text = "name: a100\ncount: 8\nratio: 0.5\nok: true\nbad: eight\n"
	                   "quoted: \"8\"\nlist: [1, 2]\nnothing: null\n";
	struct gm_doc doc;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_doc_load_string(&doc, "plan.yaml", text, strlen(text), &err), GM_OK);
	struct fy_node *root = gm_doc_root(&doc);
	const char *s = NULL;
	int64_t i = 0;
	double d = 0;
	bool b = false;
	assert_int_equal(gm_doc_get_str(&doc, root, "name", &s, &err), GM_OK);
	assert_string_equal(s, "a100");
	assert_int_equal(gm_doc_get_i64(&doc, root, "count", &i, &err), GM_OK);
	assert_int_equal(i, 8);
	assert_int_equal(gm_doc_get_double(&doc, root, "ratio", &d, &err), GM_OK);
	assert_true(d == 0.5);
	assert_int_equal(gm_doc_get_bool(&doc, root, "ok", &b, &err), GM_OK);
	assert_true(b);
	assert_int_equal(gm_doc_get_i64(&doc, root, "missing", &i, &err), GM_ERR_NOT_FOUND);
	assert_int_equal(gm_doc_get_i64(&doc, root, "nothing", &i, &err), GM_ERR_NOT_FOUND);
	assert_int_equal(gm_doc_get_i64(&doc, root, "bad", &i, &err), GM_ERR_PARSE);
	assert_string_equal(gm_err_msg(&err), "plan.yaml:5:1: 'bad' must be an integer");
	/* a quoted number is a string, not an integer */
	assert_int_equal(gm_doc_get_i64(&doc, root, "quoted", &i, &err), GM_ERR_PARSE);
	assert_int_equal(gm_doc_seq_len(gm_doc_get(root, "list")), 2);

	static const char *const allowed[] = {"name",   "count", "ratio",   "ok", "bad",
	                                      "quoted", "list",  "nothing", NULL};
	assert_int_equal(gm_doc_check_keys(&doc, root, allowed, &err), GM_OK);
	static const char *const fewer[] = {"name", "count", "ratio", "ok", "bad", "quotes", NULL};
	assert_int_equal(gm_doc_check_keys(&doc, root, fewer, &err), GM_ERR_PARSE);
	assert_string_equal(gm_err_msg(&err),
	                    "plan.yaml:6:1: unknown key 'quoted' (did you mean 'quotes'?)");
	gm_doc_release(&doc);

	const char *broken = "a: [1, 2\nb: 3\n";
	assert_int_equal(gm_doc_load_string(&doc, "broken.yaml", broken, strlen(broken), &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "broken.yaml:"));
	gm_doc_release(&doc);
	assert_int_equal(gm_doc_load_string(&doc, "empty.yaml", "", 0, &err), GM_ERR_PARSE);
	gm_doc_release(&doc);
	gm_err_release(&err);
}

/* libfyaml 0.7 loops forever on a directive followed by an invalid byte (found by
 * fuzz_inventory): the reader refuses invalid UTF-8 before libfyaml sees it. */
static void doc_refuses_invalid_utf8(void **state)
{
	(void)state;
	struct gm_doc doc;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_doc_load_string(&doc, "x.yaml", "%\xab", 2, &err), GM_ERR_PARSE);
	assert_string_equal(gm_err_msg(&err), "x.yaml:1:2: not valid UTF-8 (byte 0xab); YAML and "
	                                      "JSON files must be UTF-8 text");
	gm_doc_release(&doc);
	const char *text = "a: caf\xc3\xa9\nb: \xed\xa0\x80\n"; /* a surrogate on line 2 */
	assert_int_equal(gm_doc_load_string(&doc, "y.yaml", text, strlen(text), &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "y.yaml:2:4: not valid UTF-8 (byte 0xed)"));
	gm_doc_release(&doc);
	/* libfyaml 0.7 crashes on a NUL in an indented line (found by fuzz_plan) */
	const char nul[] = "target:\n  servers:\n  ?  - gpu:\t\0 4\n";
	assert_int_equal(gm_doc_load_string(&doc, "z.yaml", nul, sizeof(nul) - 1, &err),
	                 GM_ERR_PARSE);
	assert_string_equal(gm_err_msg(&err), "z.yaml:3:13: control character (byte 0x00); YAML "
	                                      "and JSON files must be UTF-8 text");
	gm_doc_release(&doc);
	gm_err_release(&err);
}

/* A document read from a file stays readable after the file's buffer is gone. */
static void doc_from_file_keeps_its_text(void **state)
{
	(void)state;
	char path[] = "/tmp/gm-doc-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "schema: gpumigrate.plan/v1\nname: demo\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct gm_doc doc;
	struct gm_err err = GM_ERR_INIT;
	const char *s = NULL;
	assert_int_equal(gm_doc_load_file(&doc, path, &err), GM_OK);
	assert_int_equal(gm_doc_get_str(&doc, gm_doc_root(&doc), "name", &s, &err), GM_OK);
	assert_string_equal(s, "demo");
	gm_doc_release(&doc);
	gm_err_release(&err);
	unlink(path);
}

static void json_pretty_and_raw(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT, pretty = GM_BUF_INIT;
	struct gm_json j;
	gm_json_init(&j, &b, false);
	gm_json_begin_object(&j, NULL);
	gm_json_raw(&j, "inner", "{\"x\":[1,2]}\n", 12);
	gm_json_double(&j, "big", 14843406974976.0);
	gm_json_double(&j, "tenth", 0.1);
	gm_json_end_object(&j);
	assert_string_equal(b.data,
	                    "{\"inner\":{\"x\":[1,2]},\"big\":14843406974976,\"tenth\":0.1}");
	assert_int_equal(gm_doc_json_pretty(b.data, b.len, &pretty, NULL), GM_OK);
	assert_string_equal(pretty.data,
	                    "{\n  \"inner\": {\n    \"x\": [\n      1,\n      2\n    ]\n"
	                    "  },\n  \"big\": 14843406974976,\n  \"tenth\": 0.1\n}\n");
	gm_buf_release(&b);
	gm_buf_release(&pretty);
}

static void doc_json_to_yaml(void **state)
{
	(void)state;
	struct gm_buf out = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	const char *json = "{\"b\": 1, \"a\": [\"x\", null]}";
	assert_int_equal(gm_doc_to_yaml(json, strlen(json), &out, &err), GM_OK);
	assert_non_null(strstr(out.data, "b: 1\na:\n"));
	assert_non_null(strstr(out.data, "- x\n"));
	gm_buf_release(&out);
	gm_err_release(&err);
}

static void levenshtein_distances(void **state)
{
	(void)state;
	assert_int_equal(gm_levenshtein("", ""), 0);
	assert_int_equal(gm_levenshtein("inventory", "inventroy"), 2);
	assert_int_equal(gm_levenshtein("abc", ""), 3);
	assert_int_equal(gm_levenshtein("kitten", "sitting"), 3);
}

static void fs_atomic_write_and_bounded_read(void **state)
{
	(void)state;
	char dir[] = "/tmp/gm-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct gm_buf path = GM_BUF_INIT, data = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_addf(&path, "%s/out.json", dir);
	assert_int_equal(gm_fs_write_atomic(path.data, "hello\n", 6, &err), GM_OK);
	assert_int_equal(gm_fs_read(path.data, 100, &data, &err), GM_OK);
	assert_string_equal(data.data, "hello\n");
	assert_int_equal(gm_fs_read(path.data, 3, &data, &err), GM_ERR_LIMIT);
	struct gm_buf missing = GM_BUF_INIT;
	gm_buf_addf(&missing, "%s/none", dir);
	assert_int_equal(gm_fs_read(missing.data, 3, &data, &err), GM_ERR_NOT_FOUND);
	/* a write into a missing directory fails and leaves nothing behind */
	gm_buf_addf(&missing, "/x.json");
	assert_int_equal(gm_fs_write_atomic(missing.data, "x", 1, &err), GM_ERR_IO);

	struct gm_root root = {dir};
	assert_true(gm_root_exists(&root, "/out.json"));
	assert_false(gm_root_exists(&root, "/nope"));
	assert_int_equal(gm_root_read(&root, "/out.json", &data, &err), GM_OK);
	assert_string_equal(data.data, "hello");
	gm_root_path(&root, "/proc/cmdline", &data);
	assert_non_null(strstr(data.data, "/proc/cmdline"));
	struct gm_root live = {"/"};
	gm_root_path(&live, "/proc/cmdline", &data);
	assert_string_equal(data.data, "/proc/cmdline");

	unlink(path.data);
	rmdir(dir);
	gm_buf_release(&path);
	gm_buf_release(&missing);
	gm_buf_release(&data);
	gm_err_release(&err);
}

static void parse_numbers_strictly(void **state)
{
	(void)state;
	int64_t i;
	uint64_t u;
	assert_int_equal(gm_parse_i64(" 42\n", 10, &i), GM_OK);
	assert_int_equal(i, 42);
	assert_int_equal(gm_parse_i64("-1", 10, &i), GM_OK);
	assert_int_equal(i, -1);
	assert_int_equal(gm_parse_i64("0x10de", 0, &i), GM_OK);
	assert_int_equal(i, 0x10de);
	assert_int_equal(gm_parse_i64("12abc", 10, &i), GM_ERR_PARSE);
	assert_int_equal(gm_parse_i64("", 10, &i), GM_ERR_PARSE);
	assert_int_equal(gm_parse_i64("99999999999999999999", 10, &i), GM_ERR_PARSE);
	assert_int_equal(gm_parse_u64("-1", 10, &u), GM_ERR_PARSE);
	assert_int_equal(gm_parse_u64("18446744073709551615", 10, &u), GM_OK);
	assert_true(u == UINT64_MAX);
}

static void table_aligns_by_display_width(void **state)
{
	(void)state;
	static const char *const headers[] = {"NAME", "N"};
	struct gm_table t;
	struct gm_buf out = GM_BUF_INIT;
	gm_table_init(&t, 2, headers);
	gm_table_align_right(&t, 1);
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "caf\xc3\xa9", GM_COLOR_RED);
	gm_table_set(&t, 1, "10", GM_COLOR_NONE);
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "x", GM_COLOR_NONE);
	gm_table_set(&t, 1, "7", GM_COLOR_NONE);
	gm_table_render(&t, false, &out);
	assert_string_equal(out.data, "NAME   N\ncaf\xc3\xa9  10\nx      7\n");
	gm_buf_reset(&out);
	gm_table_render(&t, true, &out);
	assert_non_null(strstr(out.data, "\033[31mcaf\xc3\xa9\033[0m  10\n"));
	gm_table_release(&t);
	gm_buf_release(&out);
}

static void http_lines_split(void **state)
{
	(void)state;
	struct gm_http_line h;
	const char hdr[] = "ETag:  \"abc\" \r\n";
	assert_int_equal(gm_http_line_parse(hdr, strlen(hdr), &h), GM_HTTP_LINE_HEADER);
	assert_int_equal(h.name_len, 4);
	assert_memory_equal(h.name, "ETag", 4);
	assert_int_equal(h.value_len, 5);
	assert_memory_equal(h.value, "\"abc\"", 5);
	const char empty[] = "X-Empty:\r\n";
	assert_int_equal(gm_http_line_parse(empty, strlen(empty), &h), GM_HTTP_LINE_HEADER);
	assert_int_equal(h.value_len, 0);
	assert_int_equal(gm_http_line_parse("HTTP/1.1 200 OK\r\n", 17, &h), GM_HTTP_LINE_STATUS);
	assert_int_equal(gm_http_line_parse("\r\n", 2, &h), GM_HTTP_LINE_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(buf_grows_and_formats),
	        cmocka_unit_test(err_keeps_last_message),
	        cmocka_unit_test(json_writer_is_valid_and_ordered),
	        cmocka_unit_test(doc_reads_yaml_and_reports_positions),
	        cmocka_unit_test(doc_json_to_yaml),
	        cmocka_unit_test(doc_refuses_invalid_utf8),
	        cmocka_unit_test(doc_from_file_keeps_its_text),
	        cmocka_unit_test(json_pretty_and_raw),
	        cmocka_unit_test(levenshtein_distances),
	        cmocka_unit_test(fs_atomic_write_and_bounded_read),
	        cmocka_unit_test(parse_numbers_strictly),
	        cmocka_unit_test(table_aligns_by_display_width),
	        cmocka_unit_test(http_lines_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

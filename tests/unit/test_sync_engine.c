/* Unit tests for the sync engine's pure parts: rsync's trailing-slash selection, the
 * per-entry decision (what changes trigger a copy, a hash comparison, a metadata fix), the
 * merge-join of two sorted listings, shard assignment (stable, covering, parsed strictly),
 * the bandwidth limiter's arithmetic, the manifest's round trip and the comparison of xattr
 * blobs as sets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/engine.h"
#include "sync/manifest.h"

static void sel(const char *text, bool contents, const char *parent, const char *name)
{
	struct gm_sync_selection s;
	struct gm_err err = GM_ERR_INIT;
	gm_sync_selection_init(&s);
	if (gm_sync_select(text, &s, &err) != GM_OK)
		fail_msg("'%s': %s", text, gm_err_msg(&err));
	if (s.contents != contents)
		fail_msg("'%s': contents %d, expected %d", text, s.contents, contents);
	assert_string_equal(gm_buf_cstr(&s.parent), parent);
	assert_string_equal(gm_buf_cstr(&s.name), name);
	gm_sync_selection_release(&s);
	gm_err_release(&err);
}

static void selection(void **state)
{
	(void)state;
	sel("data/", true, "data/", "");
	sel("data", false, ".", "data");
	sel("/srv/data", false, "/srv", "data");
	sel("/data", false, "/", "data");
	sel("a/b/c", false, "a/b", "c");
	sel(".", true, ".", "");
	sel("..", true, "..", "");
	sel("a/..", true, "a/..", "");
	sel("host:data", false, "host:", "data");
	sel("host:/srv/data", false, "host:/srv", "data");
	sel("user@host:/data", false, "user@host:/", "data");
	sel("host:data/", true, "host:data/", "");
	sel("host:", true, "host:", "");
	sel("[::1]:x/y", false, "[::1]:x", "y");
	sel("ssh://h:22/srv/data", false, "ssh://h:22/srv", "data");
	sel("ssh://h/data", false, "ssh://h/", "data");
	sel("./a:b", false, ".", "a:b");
	struct gm_sync_selection s;
	gm_sync_selection_init(&s);
	assert_int_equal(gm_sync_select("", &s, NULL), GM_ERR_USAGE);
	gm_sync_selection_release(&s);
	assert_true(gm_sync_spec_is_dir("x/"));
	assert_false(gm_sync_spec_is_dir("x"));
}

static struct gm_sync_entry ent(enum gm_sync_kind k, uint64_t size, int64_t mtime, uint32_t mode,
                                const char *link)
{
	struct gm_sync_entry e;
	memset(&e, 0, sizeof(e));
	e.name = "n";
	e.name_len = 1;
	e.link = link;
	e.meta.kind = k;
	e.meta.size = size;
	e.meta.mtime_ns = mtime;
	e.meta.mode = mode;
	e.meta.uid = 1000;
	e.meta.gid = 1000;
	return e;
}

static void decide(void **state)
{
	(void)state;
	const unsigned M = GM_SYNC_DECIDE_MODE;
	struct gm_sync_entry f = ent(GM_SYNC_FILE, 10, 100, 0644, NULL);
	struct gm_sync_entry same = f, d;
	struct gm_sync_decision r;

	r = gm_sync_decide(&f, NULL, M);
	assert_int_equal(r.action, GM_SYNC_ACT_COPY);
	assert_int_equal(r.why, GM_SYNC_WHY_NEW);
	r = gm_sync_decide(&f, &same, M);
	assert_int_equal(r.action, GM_SYNC_ACT_NONE);
	assert_int_equal(r.why, 0);

	d = f, d.meta.size = 11;
	r = gm_sync_decide(&f, &d, M);
	assert_int_equal(r.action, GM_SYNC_ACT_COPY);
	assert_int_equal(r.why, GM_SYNC_WHY_SIZE);
	/* a different size is a copy even with --checksum: no hashing needed */
	r = gm_sync_decide(&f, &d, M | GM_SYNC_DECIDE_CHECKSUM);
	assert_int_equal(r.action, GM_SYNC_ACT_COPY);

	d = f, d.meta.mtime_ns = 101;
	r = gm_sync_decide(&f, &d, M);
	assert_int_equal(r.action, GM_SYNC_ACT_COPY);
	assert_int_equal(r.why, GM_SYNC_WHY_TIME);
	/* with --checksum the same size goes to a hash comparison, time noted */
	r = gm_sync_decide(&f, &d, M | GM_SYNC_DECIDE_CHECKSUM);
	assert_int_equal(r.action, GM_SYNC_ACT_HASH);
	assert_int_equal(r.why, GM_SYNC_WHY_TIME);
	r = gm_sync_decide(&f, &same, M | GM_SYNC_DECIDE_CHECKSUM);
	assert_int_equal(r.action, GM_SYNC_ACT_HASH);
	assert_int_equal(r.why, 0);

	d = f, d.meta.mode = 0600;
	r = gm_sync_decide(&f, &d, M);
	assert_int_equal(r.action, GM_SYNC_ACT_META);
	assert_int_equal(r.why, GM_SYNC_WHY_MODE);
	/* a destination without modes: not a difference */
	r = gm_sync_decide(&f, &d, 0);
	assert_int_equal(r.action, GM_SYNC_ACT_NONE);

	d = f, d.meta.uid = 0;
	assert_int_equal(gm_sync_decide(&f, &d, M).action, GM_SYNC_ACT_NONE);
	r = gm_sync_decide(&f, &d, M | GM_SYNC_DECIDE_OWNER);
	assert_int_equal(r.action, GM_SYNC_ACT_META);
	assert_int_equal(r.why, GM_SYNC_WHY_OWNER);

	struct gm_sync_entry dir = ent(GM_SYNC_DIR, 0, 5, 0755, NULL);
	r = gm_sync_decide(&f, &dir, M);
	assert_int_equal(r.action, GM_SYNC_ACT_COPY);
	assert_int_equal(r.why, GM_SYNC_WHY_KIND);
	r = gm_sync_decide(&dir, &f, M);
	assert_int_equal(r.action, GM_SYNC_ACT_MKDIR);
	assert_int_equal(r.why, GM_SYNC_WHY_KIND);
	assert_int_equal(gm_sync_decide(&dir, NULL, M).action, GM_SYNC_ACT_MKDIR);
	struct gm_sync_entry dir2 = dir;
	r = gm_sync_decide(&dir, &dir2, M);
	assert_int_equal(r.action, GM_SYNC_ACT_DESCEND);
	assert_int_equal(r.why, 0);
	dir2.meta.mtime_ns = 6;
	r = gm_sync_decide(&dir, &dir2, M);
	assert_int_equal(r.action, GM_SYNC_ACT_DESCEND);
	assert_int_equal(r.why, GM_SYNC_WHY_TIME);

	struct gm_sync_entry l1 = ent(GM_SYNC_SYMLINK, 1, 7, 0777, "a");
	struct gm_sync_entry l2 = ent(GM_SYNC_SYMLINK, 1, 7, 0755, "a");
	/* a symlink's mode is not compared (Linux has none to set) */
	assert_int_equal(gm_sync_decide(&l1, &l2, M).action, GM_SYNC_ACT_NONE);
	l2.link = "b";
	r = gm_sync_decide(&l1, &l2, M);
	assert_int_equal(r.action, GM_SYNC_ACT_SYMLINK);
	assert_int_equal(r.why, GM_SYNC_WHY_TARGET);
	l2.link = "a", l2.meta.mtime_ns = 8;
	r = gm_sync_decide(&l1, &l2, M);
	assert_int_equal(r.action, GM_SYNC_ACT_META);
	assert_int_equal(gm_sync_decide(&l1, &f, M).action, GM_SYNC_ACT_SYMLINK);
	struct gm_sync_entry sp = ent(GM_SYNC_SPECIAL, 0, 0, 0600, NULL);
	assert_int_equal(gm_sync_decide(&sp, NULL, M).action, GM_SYNC_ACT_SPECIAL);
}

struct seen {
	char log[256];
	int calls, stop_after;
};

static bool record(void *ctx, const struct gm_sync_entry *s, const struct gm_sync_entry *d)
{
	struct seen *x = ctx;
	size_t n = strlen(x->log);
	const struct gm_sync_entry *e = s ? s : d;
	snprintf(x->log + n, sizeof(x->log) - n, "%s%.*s%s ", s ? "" : "-", (int)e->name_len,
	         e->name, d ? (s ? "" : "") : "+");
	if (s && d)
		assert_int_equal(s->name_len, d->name_len);
	return ++x->calls != x->stop_after;
}

static void add(struct gm_sync_list *l, const char *name)
{
	struct gm_sync_meta m = {.kind = GM_SYNC_FILE};
	gm_sync_list_add(l, name, strlen(name), NULL, 0, &m);
}

static void merge(void **state)
{
	(void)state;
	struct gm_sync_list a, b;
	struct seen x;
	gm_sync_list_init(&a);
	gm_sync_list_init(&b);
	/* bytewise order: "B" < "a" < "a b" < "ab" < "\xff" */
	const char *an[] = {"a", "a b", "c", "\xff", "B"};
	const char *bn[] = {"ab", "a", "c", "d", "\xfe"};
	for (int i = 0; i < 5; i++)
		add(&a, an[i]), add(&b, bn[i]);
	gm_sync_list_sort(&a);
	gm_sync_list_sort(&b);
	memset(&x, 0, sizeof(x));
	gm_sync_merge(&a, &b, record, &x);
	/* "+" marks source only, "-" destination only */
	assert_string_equal(x.log, "B+ a a b+ -ab c -d -\xfe \xff+ ");
	assert_int_equal(x.calls, 8);

	memset(&x, 0, sizeof(x));
	x.stop_after = 2;
	gm_sync_merge(&a, &b, record, &x);
	assert_int_equal(x.calls, 2);

	memset(&x, 0, sizeof(x));
	gm_sync_merge(&a, NULL, record, &x);
	assert_string_equal(x.log, "B+ a+ a b+ c+ \xff+ ");
	memset(&x, 0, sizeof(x));
	gm_sync_merge(NULL, &b, record, &x);
	assert_int_equal(x.calls, 5);
	gm_sync_list_release(&a);
	gm_sync_list_release(&b);
}

static void shards(void **state)
{
	(void)state;
	char path[64];
	unsigned count[4] = {0};
	/* stable: a fixed value, so machines and versions agree */
	assert_int_equal(gm_sync_shard_of("a", 1, 1), 0);
	uint32_t s = gm_sync_shard_of("data/x.bin", 10, 7);
	assert_int_equal(s, gm_sync_shard_of("data/x.bin", 10, 7));
	assert_true(s < 7);
	for (int i = 0; i < 4000; i++) {
		int n = snprintf(path, sizeof(path), "dir%d/file%d", i % 13, i);
		uint32_t k = gm_sync_shard_of(path, (size_t)n, 4);
		assert_true(k < 4);
		count[k]++;
	}
	for (int k = 0; k < 4; k++) /* roughly even: each near 1000 */
		assert_in_range(count[k], 850, 1150);
	/* by inode: the same for every name, spread like paths */
	unsigned icount[4] = {0};
	assert_int_equal(gm_sync_shard_of_inode(12345, 1), 0);
	assert_int_equal(gm_sync_shard_of_inode(12345, 7), gm_sync_shard_of_inode(12345, 7));
	for (uint64_t ino = 1000; ino < 5000; ino++)
		icount[gm_sync_shard_of_inode(ino, 4)]++;
	for (int k = 0; k < 4; k++)
		assert_in_range(icount[k], 850, 1150);

	uint32_t i = 9, n = 9;
	assert_int_equal(gm_sync_shard_parse("2/5", &i, &n, NULL), GM_OK);
	assert_int_equal(i, 2);
	assert_int_equal(n, 5);
	assert_int_equal(gm_sync_shard_parse("0/1", &i, &n, NULL), GM_OK);
	const char *bad[] = {"5/5", "1", "/3", "a/3", "1/0", "-1/3", "1/70000", "1/3x", ""};
	for (size_t b = 0; b < sizeof(bad) / sizeof(*bad); b++) {
		struct gm_err err = GM_ERR_INIT;
		if (gm_sync_shard_parse(bad[b], &i, &n, &err) != GM_ERR_USAGE)
			fail_msg("'%s' accepted", bad[b]);
		assert_non_null(strstr(gm_err_msg(&err), "--shard"));
		gm_err_release(&err);
	}
}

static void bwlimit(void **state)
{
	(void)state;
	uint64_t r = 0;
	assert_int_equal(gm_sync_bw_parse("800", &r, NULL), GM_OK);
	assert_int_equal(r, 800 * 1024);
	assert_int_equal(gm_sync_bw_parse("10M", &r, NULL), GM_OK);
	assert_int_equal(r, 10 * 1024 * 1024);
	assert_int_equal(gm_sync_bw_parse("1.5G", &r, NULL), GM_OK);
	assert_int_equal(r, 1536ull * 1024 * 1024);
	assert_int_equal(gm_sync_bw_parse("500k", &r, NULL), GM_OK);
	assert_int_equal(r, 500 * 1024);
	assert_int_equal(gm_sync_bw_parse("64KB/s", &r, NULL), GM_OK);
	assert_int_equal(r, 64 * 1024);
	assert_int_equal(gm_sync_bw_parse("100B", &r, NULL), GM_OK);
	assert_int_equal(r, 100);
	const char *bad[] = {"", "M", "10X", "-1", "1e3", "10MiBs", "99999999999999999999G"};
	for (size_t b = 0; b < sizeof(bad) / sizeof(*bad); b++)
		if (gm_sync_bw_parse(bad[b], &r, NULL) != GM_ERR_USAGE)
			fail_msg("'%s' accepted", bad[b]);

	/* 1 MiB/s, burst 104857 bytes (a tenth of a second) */
	struct gm_sync_bw b;
	const int64_t s = 1000000000;
	gm_sync_bw_init(&b, 1024 * 1024);
	assert_int_equal(b.burst, 104857);
	/* after idling, a burst goes without waiting */
	assert_int_equal(gm_sync_bw_take(&b, 10 * s, 100000), 0);
	/* a whole MiB more must wait about 1 s minus the burst's 0.1 s */
	int64_t w = gm_sync_bw_take(&b, 10 * s, 1024 * 1024);
	assert_in_range(w, 995 * s / 1000, 1000 * s / 1000);
	/* sending 10 MiB in 64 KiB pieces with the waits honoured takes ~10 s of clock */
	gm_sync_bw_init(&b, 1024 * 1024);
	int64_t now = 100 * s;
	for (int i = 0; i < 160; i++)
		now += gm_sync_bw_take(&b, now, 65536);
	assert_in_range(now - 100 * s, 9800 * s / 1000, 10000 * s / 1000);
	/* unlimited never waits */
	gm_sync_bw_init(&b, 0);
	assert_int_equal(gm_sync_bw_take(&b, 0, UINT32_MAX), 0);
}

static void manifest(void **state)
{
	(void)state;
	struct gm_buf line = GM_BUF_INIT;
	struct gm_sync_meta m = {
	        .kind = GM_SYNC_FILE, .mode = 0640, .size = 123, .mtime_ns = 1714557600123456789};
	struct gm_sync_hash h;
	struct gm_sync_manifest_entry e;
	struct gm_err err = GM_ERR_INIT;
	char hex[33];
	gm_sync_hash_buf("abc", 3, &h);
	gm_sync_hash_hex(&h, hex);
	const char path[] = "dir/na\"me\nwith \xff byte";
	gm_sync_manifest_line(&line, path, sizeof(path) - 1, &m, &h, true);
	assert_non_null(strstr(gm_buf_cstr(&line), "\"mtime\":\"2024-05-01T10:00:00.123456789Z\""));
	assert_non_null(strstr(gm_buf_cstr(&line), "\"mode\":\"0640\""));
	assert_non_null(strstr(gm_buf_cstr(&line), hex));
	assert_non_null(strstr(gm_buf_cstr(&line), "\"path_hex\":\"6469722f"));
	assert_int_equal(line.data[line.len - 1], '\n');

	gm_sync_manifest_entry_init(&e);
	assert_int_equal(gm_sync_manifest_parse(line.data, line.len - 1, &e, &err), GM_OK);
	assert_int_equal(e.path.len, sizeof(path) - 1);
	assert_memory_equal(e.path.data, path, sizeof(path) - 1);
	assert_int_equal(e.size, 123);
	assert_int_equal(e.mtime_ns, 1714557600123456789);
	assert_int_equal(e.mode, 0640);
	assert_true(e.copied);
	assert_true(gm_sync_hash_equal(&e.hash, &h));

	const char *good = "{ \"path\" : \"a\\u00e9\\/b\", \"size\": 0, \"xxh128\": "
	                   "\"00000000000000000000000000000000\", \"extra\": null }";
	assert_int_equal(gm_sync_manifest_parse(good, strlen(good), &e, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&e.path), "a\xc3\xa9/b");
	assert_false(e.copied);

	const char *bad[] = {
	        "",
	        "[]",
	        "{\"path\":\"a\",\"size\":1}",
	        "{\"path\":\"../x\",\"size\":1,\"xxh128\":\"00000000000000000000000000000000\"}",
	        "{\"path\":\"/x\",\"size\":1,\"xxh128\":\"00000000000000000000000000000000\"}",
	        "{\"path\":\"x\",\"size\":-1,\"xxh128\":\"00000000000000000000000000000000\"}",
	        "{\"path\":\"x\",\"size\":1,\"xxh128\":\"0000\"}",
	        "{\"path\":\"x\",\"size\":1,\"xxh128\":\"00000000000000000000000000000000\"} x",
	        "{\"path\":\"x\\q\",\"size\":1,\"xxh128\":\"00000000000000000000000000000000\"}",
	        "{\"path\":\"x\",\"size\":1,\"xxh128\":\"00000000000000000000000000000000\"",
	};
	for (size_t b = 0; b < sizeof(bad) / sizeof(*bad); b++) {
		gm_err_clear(&err);
		if (gm_sync_manifest_parse(bad[b], strlen(bad[b]), &e, &err) != GM_ERR_PARSE)
			fail_msg("accepted: %s", bad[b]);
	}
	gm_sync_manifest_entry_release(&e);
	gm_buf_release(&line);
	gm_err_release(&err);
}

static void xa(struct gm_buf *b, const char *name, const char *value)
{
	struct gm_sync_xattr x = {name, strlen(name), value, strlen(value)};
	gm_sync_xattrs_put(b, &x, 1);
}

/* xattr blobs compare as sets of (name, value): the order of the records does not matter,
 * a changed value, a missing or an extra name does; malformed blobs are refused. */
static void xattr_sets(void **state)
{
	(void)state;
	struct gm_buf a = GM_BUF_INIT, b = GM_BUF_INIT, c = GM_BUF_INIT;
	struct gm_sync_xattr *v = NULL;
	size_t n = 0;
	struct gm_err err = GM_ERR_INIT;
	xa(&a, "user.b", "2");
	xa(&a, "user.a", "1");
	xa(&a, "security.capability", "cap");
	xa(&b, "security.capability", "cap");
	xa(&b, "user.a", "1");
	xa(&b, "user.b", "2");
	/* put writes the format the endpoints read */
	assert_int_equal(a.len, 3 * 8 + 6 + 1 + 6 + 1 + 19 + 3);
	assert_memory_equal(a.data,
	                    "\x06\0\0\0user.b\x01\0\0\0"
	                    "2",
	                    15);
	assert_true(gm_sync_xattrs_same(a.data, a.len, b.data, b.len));
	assert_true(gm_sync_xattrs_same(b.data, b.len, a.data, a.len));
	assert_true(gm_sync_xattrs_same("", 0, "", 0));

	/* parse sorts by name, bytewise; put of the sorted records is the normal form */
	assert_int_equal(gm_sync_xattrs_parse(a.data, a.len, "f", &v, &n, &err), GM_OK);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].name_len, 19);
	assert_memory_equal(v[0].name, "security.capability", 19);
	assert_memory_equal(v[1].name, "user.a", 6);
	assert_memory_equal(v[2].name, "user.b", 6);
	assert_int_equal(v[2].value_len, 1);
	assert_memory_equal(v[2].value, "2", 1);
	assert_ptr_equal(gm_sync_xattrs_find(v, n, "user.a", 6), &v[1]);
	assert_null(gm_sync_xattrs_find(v, n, "user.", 5));
	assert_null(gm_sync_xattrs_find(v, n, "user.c", 6));
	gm_sync_xattrs_put(&c, v, n);
	free(v);
	assert_int_equal(c.len, b.len);
	assert_memory_equal(c.data, b.data, b.len); /* b was written in name order */

	/* a changed value (same length and not), a missing name, an extra name */
	gm_buf_reset(&c);
	xa(&c, "user.a", "1");
	xa(&c, "user.b", "3");
	xa(&c, "security.capability", "cap");
	assert_false(gm_sync_xattrs_same(a.data, a.len, c.data, c.len));
	gm_buf_reset(&c);
	xa(&c, "user.a", "1");
	xa(&c, "user.b", "22");
	xa(&c, "security.capability", "cap");
	assert_false(gm_sync_xattrs_same(a.data, a.len, c.data, c.len));
	gm_buf_reset(&c);
	xa(&c, "user.a", "1");
	xa(&c, "user.b", "2");
	assert_false(gm_sync_xattrs_same(a.data, a.len, c.data, c.len));
	assert_false(gm_sync_xattrs_same(c.data, c.len, "", 0));
	/* same length, a name swapped for another: user.b=2 vs user.c=2 */
	gm_buf_reset(&c);
	xa(&c, "user.c", "2");
	xa(&c, "user.a", "1");
	xa(&c, "security.capability", "cap");
	assert_int_equal(c.len, a.len);
	assert_false(gm_sync_xattrs_same(a.data, a.len, c.data, c.len));
	/* an empty value is a value */
	gm_buf_reset(&b);
	gm_buf_reset(&c);
	xa(&b, "user.e", "");
	assert_false(gm_sync_xattrs_same(b.data, b.len, "", 0));
	assert_true(gm_sync_xattrs_same(b.data, b.len, b.data, b.len));
	/* the destination's own SELinux label is no difference; one the source sets is */
	gm_buf_reset(&c);
	xa(&c, "security.selinux", "system_u:object_r:default_t:s0");
	xa(&c, "user.e", "");
	assert_true(gm_sync_xattr_local_only("security.selinux", 16));
	assert_false(gm_sync_xattr_local_only("security.capability", 19));
	assert_true(gm_sync_xattrs_same(b.data, b.len, c.data, c.len));
	assert_false(gm_sync_xattrs_same(c.data, c.len, b.data, b.len));

	/* malformed: overrun, value past the end, empty name, NUL in a name, a name twice */
	static const struct {
		const char *p;
		size_t len;
	} bad[] = {
	        {"\x07\0\0\0user.a", 10},
	        {"\x06\0\0\0user.a\x02\0\0\0x", 15},
	        {"\x06\0\0\0user.a\x01\0\0", 13},
	        {"\0\0\0\0\0\0\0\0", 8},
	        {"\x06\0\0\0user\0a\0\0\0\0", 14},
	        {"\x06\0\0\0user.a\0\0\0\0\x06\0\0\0user.a\0\0\0\0", 28},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = (struct gm_sync_xattr *)1;
		if (gm_sync_xattrs_parse(bad[i].p, bad[i].len, "x/f", &v, &n, &err) != GM_ERR_PARSE)
			fail_msg("malformed blob %zu was accepted", i);
		assert_null(v);
		assert_int_equal(n, 0);
		assert_string_equal(gm_err_msg(&err), "the xattrs of 'x/f' are malformed");
		assert_false(gm_sync_xattrs_same(bad[i].p, bad[i].len, bad[i].p, bad[i].len));
	}
	assert_int_equal(gm_sync_xattrs_parse("", 0, "f", &v, &n, &err), GM_OK);
	assert_null(v);
	assert_int_equal(n, 0);
	gm_buf_release(&a);
	gm_buf_release(&b);
	gm_buf_release(&c);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(selection),  cmocka_unit_test(decide),  cmocka_unit_test(merge),
	        cmocka_unit_test(shards),     cmocka_unit_test(bwlimit), cmocka_unit_test(manifest),
	        cmocka_unit_test(xattr_sets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

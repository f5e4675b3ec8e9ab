/* Unit tests for the GCS store (gcs.c) against tests/fakes/fake_gcs.py, a strict fake of the
 * JSON API: objects written in one request with their hashes, read whole and by range with
 * the whole object's hashes, generation-checked reads, listings with prefixes over several
 * pages, metadata replaced, deletes, resumable uploads (in parts, resumed from what the store
 * holds, finished by another process, aborted, and with a store that keeps less than it is
 * sent), bearer tokens from a service account and a new one after a 401. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore/crc32c.h"
#include "objstore/gauth.h"
#include "objstore/store.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/banned.h"

#define BUCKET "gm-test"
#define Q      (256u << 10)

struct fake {
	pid_t pid;
	int port;
	char base[64]; /* http://127.0.0.1:PORT */
};

static char tmp[64];
static char src_root[512];
static bool have_fake;
static struct fake plain; /* --no-auth */
static struct gm_os *store;

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t n = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &n) != 0)
		return -1;
	close(fd);
	return ntohs(a.sin_port);
}

/* Starts fake_gcs.py on port (0: any) with extra arguments; false when it does not come up. */
static bool fake_start(struct fake *f, const char *root, int port, const char *const *extra)
{
	char script[640], pf[128], portarg[16];
	const char *argv[24];
	size_t n = 0;
	snprintf(script, sizeof(script), "%s/tests/fakes/fake_gcs.py", src_root);
	snprintf(pf, sizeof(pf), "%s/port-%d-%ld", tmp, port, (long)random());
	snprintf(portarg, sizeof(portarg), "%d", port);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--root";
	argv[n++] = root;
	argv[n++] = "--port-file";
	argv[n++] = pf;
	argv[n++] = "--port";
	argv[n++] = portarg;
	argv[n++] = "--bucket";
	argv[n++] = BUCKET;
	argv[n++] = "--quiet";
	for (size_t i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	f->pid = fork();
	if (f->pid == 0) {
		execv("/usr/bin/python3", (char *const *)argv);
		_exit(127);
	}
	struct gm_buf text = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	f->port = 0;
	for (int i = 0; i < 300 && !f->port; i++) {
		int64_t v = 0;
		if (gm_fs_read(pf, 64, &text, &err) == GM_OK &&
		    gm_parse_i64(gm_buf_cstr(&text), 10, &v) == GM_OK)
			f->port = (int)v;
		else
			usleep(30000);
	}
	gm_buf_release(&text);
	gm_err_release(&err);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
	return f->port != 0;
}

static void fake_stop(struct fake *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
		f->pid = -1;
	}
}

static int run_wait(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static struct gm_os *open_store(void)
{
	struct gm_os *s = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_os_opts o = {.base_delay_ms = 1, .path_style = -1};
	if (gm_os_gcs_open(BUCKET, &o, &s, &err) != GM_OK)
		fail_msg("gm_os_gcs_open: %s", gm_err_msg(&err));
	gm_err_release(&err);
	return s;
}

static int setup(void **state)
{
	(void)state;
	const char *root = getenv("GM_SOURCE_ROOT");
	snprintf(src_root, sizeof(src_root), "%s", root ? root : ".");
	char script[640];
	snprintf(script, sizeof(script), "%s/tests/fakes/fake_gcs.py", src_root);
	if (access(script, R_OK) != 0) {
		fprintf(stderr, "SKIP: %s is absent: the GCS store tests need it\n", script);
		return 0;
	}
	/* the fake fsyncs every object: tmpfs keeps 1000 small writes quick */
	snprintf(tmp, sizeof(tmp), "/dev/shm/gm-gcs-XXXXXX");
	if (!mkdtemp(tmp)) {
		snprintf(tmp, sizeof(tmp), "/tmp/gm-gcs-XXXXXX");
		if (!mkdtemp(tmp))
			return -1;
	}
	char dir[128], home[128];
	snprintf(dir, sizeof(dir), "%s/plain", tmp);
	snprintf(home, sizeof(home), "%s/home", tmp);
	mkdir(home, 0700);
	setenv("HOME", home, 1);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	unsetenv("CLOUDSDK_CONFIG");
	unsetenv("GCE_METADATA_HOST");
	static const char *const noauth[] = {"--no-auth", NULL};
	if (!fake_start(&plain, dir, 0, noauth)) {
		fprintf(stderr, "fake_gcs.py did not start\n");
		return -1;
	}
	setenv("STORAGE_EMULATOR_HOST", plain.base + 7, 1); /* host:port, as users write it */
	store = open_store();
	have_fake = true;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!have_fake)
		return 0;
	gm_os_close(store);
	fake_stop(&plain);
	char *argv[] = {"/bin/rm", "-rf", tmp, NULL};
	run_wait(argv);
	return 0;
}

#define NEED_FAKE()             \
	do {                    \
		if (!have_fake) \
			skip(); \
	} while (0)

/* A control request to a fake (POST /_fault …, GET /_stats); the body answered. */
static void control(const struct fake *f, const char *method, const char *path, const char *body,
                    struct gm_buf *answer)
{
	struct gm_os_http http;
	struct gm_os_http_resp resp;
	struct gm_err err = GM_ERR_INIT;
	char url[128];
	snprintf(url, sizeof(url), "%s%s", f->base, path);
	struct gm_os_http_opts o = {.base_delay_ms = 1, .max_attempts = 1};
	assert_int_equal(gm_os_http_init(&http, &o, &err), GM_OK);
	gm_os_http_resp_init(&resp);
	struct gm_os_http_req req = {.method = method,
	                             .url = url,
	                             .what = "fake control",
	                             .body = body,
	                             .body_len = body ? strlen(body) : 0};
	assert_int_equal(gm_os_http_do(&http, &req, &resp, &err), GM_OK);
	assert_int_equal(resp.status, 200);
	if (answer) {
		gm_buf_reset(answer);
		gm_buf_add(answer, resp.body.data, resp.body.len);
	}
	gm_os_http_resp_release(&resp);
	gm_os_http_release(&http);
	gm_err_release(&err);
}

/* stats["responses"][status] of a fake, 0 when absent. */
static int64_t responses(const struct fake *f, const char *status)
{
	struct gm_buf b = GM_BUF_INIT;
	struct gm_doc doc = {NULL, NULL, NULL};
	struct gm_err err = GM_ERR_INIT;
	int64_t v = 0;
	control(f, "GET", "/_stats", NULL, &b);
	assert_int_equal(gm_doc_load_string(&doc, "stats", gm_buf_cstr(&b), b.len, &err), GM_OK);
	const char *s =
	        gm_doc_scalar(gm_doc_get(gm_doc_get(gm_doc_root(&doc), "responses"), status));
	if (s)
		assert_int_equal(gm_parse_i64(s, 10, &v), GM_OK);
	gm_doc_release(&doc);
	gm_buf_release(&b);
	gm_err_release(&err);
	return v;
}

static int64_t stat_int(const struct fake *f, const char *key)
{
	struct gm_buf b = GM_BUF_INIT;
	struct gm_doc doc = {NULL, NULL, NULL};
	struct gm_err err = GM_ERR_INIT;
	int64_t v = -1;
	control(f, "GET", "/_stats", NULL, &b);
	assert_int_equal(gm_doc_load_string(&doc, "stats", gm_buf_cstr(&b), b.len, &err), GM_OK);
	assert_int_equal(gm_doc_get_i64(&doc, gm_doc_root(&doc), key, &v, &err), GM_OK);
	gm_doc_release(&doc);
	gm_buf_release(&b);
	gm_err_release(&err);
	return v;
}

static void put_ok(struct gm_os *s, const char *key, const void *data, size_t len,
                   const struct gm_os_kv *meta, size_t n, struct gm_os_object *out)
{
	struct gm_err err = GM_ERR_INIT;
	if (s->ops->put(s, key, data, len, meta, n, out, &err) != GM_OK)
		fail_msg("put %s: %s", key, gm_err_msg(&err));
	gm_err_release(&err);
}

static const uint8_t MD5_HELLO[16] = {0x5e, 0xb6, 0x3b, 0xbb, 0xe0, 0x1e, 0xee, 0xd0,
                                      0x93, 0xcb, 0x22, 0xbb, 0x8f, 0x5a, 0xcd, 0xc3};

static void test_open(void **state)
{
	(void)state;
	NEED_FAKE();
	assert_string_equal(store->scheme, "gs");
	assert_string_equal(gm_buf_cstr(&store->bucket), BUCKET);
	assert_string_equal(gm_buf_cstr(&store->endpoint), plain.base);
	assert_true(store->sequential_parts);
	assert_int_equal(store->part_align, Q);
	assert_int_equal(store->part_min, Q);
	assert_true(store->max_parts >= 100000);

	struct gm_os *s = NULL;
	struct gm_err err = GM_ERR_INIT;
	const char *bad[] = {"ab", "Upper", "-dash", "has/slash", "dot.", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(gm_os_gcs_open(bad[i], NULL, &s, &err), GM_ERR_USAGE);
		assert_null(s);
		assert_non_null(strstr(gm_err_msg(&err), "not a GCS bucket name"));
	}
	/* "http://host:port" works as well as "host:port" */
	setenv("STORAGE_EMULATOR_HOST", plain.base, 1);
	s = open_store();
	assert_string_equal(gm_buf_cstr(&s->endpoint), plain.base);
	gm_os_close(s);
	setenv("STORAGE_EMULATOR_HOST", plain.base + 7, 1);
	gm_err_release(&err);
}

static void test_put_head_get(void **state)
{
	(void)state;
	NEED_FAKE();
	struct gm_os_object o, h, info;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf data = GM_BUF_INIT;
	gm_os_object_init(&o);
	gm_os_object_init(&h);
	gm_os_object_init(&info);
	const struct gm_os_kv meta[] = {{"gm-mode", "100644"}, {"gm-mtime", "1700000000.5"}};
	time_t before = time(NULL);
	put_ok(store, "dir/hello.txt", "hello world", 11, meta, 2, &o);
	assert_string_equal(gm_buf_cstr(&o.key), "dir/hello.txt");
	assert_int_equal(o.size, 11);
	assert_true(o.has_crc32c);
	assert_int_equal(o.crc32c, 0xC99465AAu);
	assert_true(o.has_md5);
	assert_memory_equal(o.md5, MD5_HELLO, 16);
	assert_true(o.meta_known);
	assert_string_equal(gm_os_object_meta(&o, "gm-mode"), "100644");
	assert_string_equal(gm_os_object_meta(&o, "gm-mtime"), "1700000000.5");
	assert_null(gm_os_object_meta(&o, "other"));
	uint64_t gen = 0;
	assert_int_equal(gm_parse_u64(gm_buf_cstr(&o.etag), 10, &gen), GM_OK);
	assert_true(gen > 0);
	assert_true(o.mtime_ns >= ((int64_t)before - 5) * 1000000000);
	assert_true(o.mtime_ns <= ((int64_t)before + 60) * 1000000000);

	assert_int_equal(store->ops->head(store, "dir/hello.txt", &h, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&h.key), "dir/hello.txt");
	assert_int_equal(h.size, 11);
	assert_int_equal(h.crc32c, 0xC99465AAu);
	assert_memory_equal(h.md5, MD5_HELLO, 16);
	assert_string_equal(gm_buf_cstr(&h.etag), gm_buf_cstr(&o.etag));
	assert_int_equal(h.mtime_ns, o.mtime_ns);
	assert_true(h.meta_known);
	assert_string_equal(gm_os_object_meta(&h, "gm-mode"), "100644");

	/* whole, with what the answer says of the object */
	gm_buf_adds(&data, "keep:");
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 0, 0, NULL, &data, &info, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&data), "keep:hello world");
	assert_int_equal(info.size, 11);
	assert_true(info.has_crc32c && info.has_md5);
	assert_int_equal(info.crc32c, 0xC99465AAu);
	assert_memory_equal(info.md5, MD5_HELLO, 16);
	assert_string_equal(gm_buf_cstr(&info.etag), gm_buf_cstr(&o.etag));

	/* a range: the hashes are still the whole object's */
	gm_buf_reset(&data);
	gm_os_object_reset(&info);
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 6, 5, gm_buf_cstr(&o.etag), &data,
	                                 &info, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&data), "world");
	assert_int_equal(info.size, 11);
	assert_int_equal(info.crc32c, 0xC99465AAu);
	assert_memory_equal(info.md5, MD5_HELLO, 16);
	gm_buf_reset(&data);
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 2, 0, NULL, &data, NULL, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&data), "llo world");
	gm_buf_reset(&data);
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 0, 11, NULL, &data, NULL, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&data), "hello world");

	/* past the end: the caller's idea of the object is stale */
	gm_buf_reset(&data);
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 8, 10, NULL, &data, NULL, &err),
	                 GM_ERR_CHANGED);
	assert_int_equal(data.len, 0);
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 20, 5, NULL, &data, NULL, &err),
	                 GM_ERR_CHANGED);

	/* replaced: a read with the old generation fails, the new one works */
	put_ok(store, "dir/hello.txt", "HELLO WORLD!", 12, NULL, 0, &h);
	assert_string_not_equal(gm_buf_cstr(&h.etag), gm_buf_cstr(&o.etag));
	assert_int_equal(h.crc32c, gm_crc32c(0, "HELLO WORLD!", 12));
	assert_null(gm_os_object_meta(&h, "gm-mode"));
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 0, 5, gm_buf_cstr(&o.etag), &data,
	                                 NULL, &err),
	                 GM_ERR_CHANGED);
	assert_int_equal(data.len, 0);
	assert_non_null(strstr(gm_err_msg(&err), "gs://" BUCKET "/dir/hello.txt"));
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 0, 5, gm_buf_cstr(&h.etag), &data,
	                                 NULL, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&data), "HELLO");
	assert_int_equal(store->ops->get(store, "dir/hello.txt", 0, 5, "not-a-generation", &data,
	                                 NULL, &err),
	                 GM_ERR_USAGE);

	/* absent */
	assert_int_equal(store->ops->head(store, "dir/nope", &h, &err), GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "gs://" BUCKET "/dir/nope"));
	assert_int_equal(store->ops->get(store, "dir/nope", 0, 0, NULL, &data, NULL, &err),
	                 GM_ERR_NOT_FOUND);

	/* names that need percent-encoding, an empty object */
	const char *odd = "odd dir/a+b%20c?d#e&f=g ü.bin";
	put_ok(store, odd, "", 0, NULL, 0, &o);
	assert_string_equal(gm_buf_cstr(&o.key), odd);
	assert_int_equal(o.size, 0);
	assert_int_equal(o.crc32c, 0);
	assert_int_equal(store->ops->head(store, odd, &h, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&h.key), odd);
	gm_buf_reset(&data);
	assert_int_equal(store->ops->get(store, odd, 0, 0, NULL, &data, &info, &err), GM_OK);
	assert_int_equal(data.len, 0);
	assert_int_equal(info.size, 0);

	/* more metadata than the store API allows */
	struct gm_os_kv many[GM_OS_META_MAX + 1];
	for (size_t i = 0; i <= GM_OS_META_MAX; i++)
		many[i].name = "k", many[i].value = "v";
	assert_int_equal(store->ops->put(store, "x", "1", 1, many, GM_OS_META_MAX + 1, NULL, &err),
	                 GM_ERR_USAGE);

	gm_os_object_release(&o);
	gm_os_object_release(&h);
	gm_os_object_release(&info);
	gm_buf_release(&data);
	gm_err_release(&err);
}

/* A listing, recorded as "o:key:size" and "p:prefix" lines. */
struct rec {
	struct gm_buf lines;
	size_t n;
	size_t stop_after; /* 0: never */
	bool meta_all;     /* every object came with meta_known */
};

static bool rec_object(void *ctx, const struct gm_os_object *o)
{
	struct rec *r = ctx;
	if (strncmp(gm_buf_cstr(&o->key), "l/many/", 7) != 0)
		gm_buf_addf(&r->lines, "o:%s:%llu\n", gm_buf_cstr(&o->key),
		            (unsigned long long)o->size);
	r->meta_all = r->meta_all && o->meta_known && o->has_crc32c &&
	              (o->crc32c == gm_crc32c(0, "x", 1)) == (o->size == 1);
	r->n++;
	return !r->stop_after || r->n < r->stop_after;
}

static bool rec_prefix(void *ctx, const char *p, size_t len)
{
	struct rec *r = ctx;
	gm_buf_adds(&r->lines, "p:");
	gm_buf_add(&r->lines, p, len);
	gm_buf_addch(&r->lines, '\n');
	r->n++;
	return !r->stop_after || r->n < r->stop_after;
}

static void test_list(void **state)
{
	(void)state;
	NEED_FAKE();
	struct gm_err err = GM_ERR_INIT;
	const char *keys[] = {"l/a", "l/b/1", "l/b/2/deep", "l/c", "l/d/x", "l/e", "l2/z"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put_ok(store, keys[i], "x", 1, NULL, 0, NULL);
	/* more than one page (the fake, like GCS, answers at most 1000 entries a page) */
	char key[64];
	for (int i = 0; i < 1010; i++) {
		snprintf(key, sizeof(key), "l/many/%04d", i);
		put_ok(store, key, "", 0, NULL, 0, NULL);
	}

	struct rec r = {GM_BUF_INIT, 0, 0, true};
	struct gm_os_list_cb cb = {rec_object, rec_prefix, &r};
	assert_int_equal(store->ops->list(store, "l/", true, &cb, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&r.lines),
	                    "o:l/a:1\np:l/b/\no:l/c:1\np:l/d/\no:l/e:1\np:l/many/\n");
	assert_true(r.meta_all);

	/* unfolded, across pages, in key order */
	gm_buf_reset(&r.lines);
	r.n = 0;
	assert_int_equal(store->ops->list(store, "l/", false, &cb, &err), GM_OK);
	assert_int_equal(r.n, 6 + 1010);
	assert_string_equal(gm_buf_cstr(&r.lines), "o:l/a:1\no:l/b/1:1\no:l/b/2/deep:1\no:l/c:1\n"
	                                           "o:l/d/x:1\no:l/e:1\n");
	gm_buf_reset(&r.lines);
	r.n = 0;
	assert_int_equal(store->ops->list(store, "l/many/", true, &cb, &err), GM_OK);
	assert_int_equal(r.n, 1010);
	assert_int_equal(responses(&plain, "200") > 0, true);

	/* a prefix that is not a "directory", one with nothing under it */
	gm_buf_reset(&r.lines);
	r.n = 0;
	assert_int_equal(store->ops->list(store, "l/b", true, &cb, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&r.lines), "p:l/b/\n");
	gm_buf_reset(&r.lines);
	r.n = 0;
	assert_int_equal(store->ops->list(store, "nothing/", true, &cb, &err), GM_OK);
	assert_int_equal(r.n, 0);

	/* the callback stops it */
	r.stop_after = 3;
	r.n = 0;
	assert_int_equal(store->ops->list(store, "l/", true, &cb, &err), GM_ERR_INTERRUPTED);
	assert_int_equal(r.n, 3);

	/* a failing page after retries */
	control(&plain, "POST", "/_fault",
	        "{\"method\": \"GET\", \"path_re\": \"/o\\\\?\", \"status\": 403, \"count\": 1}",
	        NULL);
	r.stop_after = 0;
	assert_int_equal(store->ops->list(store, "l/", true, &cb, &err), GM_ERR_PERMISSION);
	assert_non_null(strstr(gm_err_msg(&err), "HTTP 403"));
	/* transient ones are retried */
	control(&plain, "POST", "/_fault",
	        "{\"method\": \"GET\", \"path_re\": \"/o\\\\?\", \"status\": 503, \"count\": 2}",
	        NULL);
	gm_buf_reset(&r.lines);
	r.n = 0;
	assert_int_equal(store->ops->list(store, "l/", true, &cb, &err), GM_OK);
	assert_int_equal(r.n, 6);
	control(&plain, "POST", "/_fault/clear", NULL, NULL);

	gm_buf_release(&r.lines);
	gm_err_release(&err);
}

static void test_set_meta_and_delete(void **state)
{
	(void)state;
	NEED_FAKE();
	struct gm_err err = GM_ERR_INIT;
	struct gm_os_object o, h;
	struct gm_buf data = GM_BUF_INIT;
	gm_os_object_init(&o);
	gm_os_object_init(&h);
	const struct gm_os_kv m1[] = {{"a", "1"}, {"b", "2"}};
	put_ok(store, "m/obj", "content", 7, m1, 2, &o);
	const struct gm_os_kv m2[] = {{"b", "3"}, {"c", "4"}};
	assert_int_equal(store->ops->set_meta(store, "m/obj", m2, 2, &err), GM_OK);
	assert_int_equal(store->ops->head(store, "m/obj", &h, &err), GM_OK);
	assert_null(gm_os_object_meta(&h, "a"));
	assert_string_equal(gm_os_object_meta(&h, "b"), "3");
	assert_string_equal(gm_os_object_meta(&h, "c"), "4");
	/* the content and its generation are untouched */
	assert_string_equal(gm_buf_cstr(&h.etag), gm_buf_cstr(&o.etag));
	assert_int_equal(h.crc32c, o.crc32c);
	assert_int_equal(
	        store->ops->get(store, "m/obj", 0, 0, gm_buf_cstr(&o.etag), &data, NULL, &err),
	        GM_OK);
	assert_string_equal(gm_buf_cstr(&data), "content");
	/* no metadata at all */
	assert_int_equal(store->ops->set_meta(store, "m/obj", NULL, 0, &err), GM_OK);
	assert_int_equal(store->ops->head(store, "m/obj", &h, &err), GM_OK);
	assert_int_equal(h.meta.len, 0);
	/* a racing writer: the first PATCH fails its precondition, the second try works */
	control(&plain, "POST", "/_fault", "{\"method\": \"PATCH\", \"status\": 412, \"count\": 1}",
	        NULL);
	assert_int_equal(store->ops->set_meta(store, "m/obj", m1, 2, &err), GM_OK);
	assert_int_equal(store->ops->head(store, "m/obj", &h, &err), GM_OK);
	assert_string_equal(gm_os_object_meta(&h, "a"), "1");
	assert_string_equal(gm_os_object_meta(&h, "b"), "2");
	assert_int_equal(store->ops->set_meta(store, "m/none", m1, 2, &err), GM_ERR_NOT_FOUND);

	assert_int_equal(store->ops->del(store, "m/obj", &err), GM_OK);
	assert_int_equal(store->ops->head(store, "m/obj", &h, &err), GM_ERR_NOT_FOUND);
	assert_int_equal(store->ops->del(store, "m/obj", &err), GM_OK); /* gone already: fine */
	control(&plain, "POST", "/_fault", "{\"method\": \"DELETE\", \"status\": 403}", NULL);
	assert_int_equal(store->ops->del(store, "m/other", &err), GM_ERR_PERMISSION);
	control(&plain, "POST", "/_fault/clear", NULL, NULL);

	gm_os_object_release(&o);
	gm_os_object_release(&h);
	gm_buf_release(&data);
	gm_err_release(&err);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
		p[i] = (uint8_t)seed;
	}
}

static void part_ok(struct gm_os *s, const char *key, const char *id, unsigned number,
                    const uint8_t *data, uint64_t off, size_t len, uint64_t total)
{
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf tag = GM_BUF_INIT;
	if (s->ops->up_part(s, key, id, number, off, data + off, len, total, &tag, &err) != GM_OK)
		fail_msg("part %u of %s: %s", number, key, gm_err_msg(&err));
	gm_buf_release(&tag);
	gm_err_release(&err);
}

/* The bytes the store says it holds for upload id; -1 when it knows no such upload. */
static int64_t held(struct gm_os *s, const char *key, const char *id)
{
	struct gm_os_part *parts = NULL;
	size_t n = 9;
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = s->ops->up_parts(s, key, id, &parts, &n, &err);
	int64_t v = -1;
	if (rc == GM_OK) {
		assert_true(n <= 1);
		v = n ? (int64_t)parts[0].size : 0;
		if (n)
			assert_int_equal(parts[0].number, 1);
	} else {
		assert_int_equal(rc, GM_ERR_NOT_FOUND);
		assert_int_equal(n, 0);
	}
	free(parts);
	gm_err_release(&err);
	return v;
}

static void check_object(struct gm_os *s, const char *key, const uint8_t *data, size_t total)
{
	struct gm_buf got = GM_BUF_INIT;
	struct gm_os_object info;
	struct gm_err err = GM_ERR_INIT;
	gm_os_object_init(&info);
	assert_int_equal(s->ops->get(s, key, 0, 0, NULL, &got, &info, &err), GM_OK);
	assert_int_equal(got.len, total);
	assert_memory_equal(got.data, data, total);
	assert_int_equal(info.crc32c, gm_crc32c(0, data, total));
	gm_os_object_release(&info);
	gm_buf_release(&got);
	gm_err_release(&err);
}

static void test_resumable(void **state)
{
	(void)state;
	NEED_FAKE();
	const size_t total = 2 * Q + 1000;
	uint8_t *data = malloc(total);
	fill(data, total, 12345);
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf id = GM_BUF_INIT;
	struct gm_os_object o;
	gm_os_object_init(&o);
	const struct gm_os_kv meta[] = {{"gm-hash", "abc"}};

	assert_int_equal(store->ops->up_begin(store, "up/big", total, meta, 1, &id, &err), GM_OK);
	assert_int_equal(strncmp(gm_buf_cstr(&id), plain.base, strlen(plain.base)), 0);
	assert_int_equal(held(store, "up/big", gm_buf_cstr(&id)), 0);
	part_ok(store, "up/big", gm_buf_cstr(&id), 1, data, 0, Q, total);
	part_ok(store, "up/big", gm_buf_cstr(&id), 2, data, Q, Q, total);
	/* the status after two parts: one pseudo part of what is held */
	assert_int_equal(held(store, "up/big", gm_buf_cstr(&id)), 2 * Q);
	assert_int_equal(store->ops->head(store, "up/big", &o, &err), GM_ERR_NOT_FOUND);
	part_ok(store, "up/big", gm_buf_cstr(&id), 3, data, 2 * Q, 1000, total);
	struct gm_os_part parts[3] = {
	        {1, Q, GM_BUF_INIT}, {2, Q, GM_BUF_INIT}, {3, 1000, GM_BUF_INIT}};
	assert_int_equal(
	        store->ops->up_finish(store, "up/big", gm_buf_cstr(&id), parts, 3, &o, &err),
	        GM_OK);
	assert_string_equal(gm_buf_cstr(&o.key), "up/big");
	assert_int_equal(o.size, total);
	assert_int_equal(o.crc32c, gm_crc32c(0, data, total));
	assert_string_equal(gm_os_object_meta(&o, "gm-hash"), "abc");
	check_object(store, "up/big", data, total);
	/* a finished session reports everything held */
	assert_int_equal(held(store, "up/big", gm_buf_cstr(&id)), (int64_t)total);

	/* resumed by another process: it asks what is held, sends the rest, and a third one
	 * finishes */
	gm_buf_reset(&id);
	assert_int_equal(store->ops->up_begin(store, "up/resumed", total, NULL, 0, &id, &err),
	                 GM_OK);
	part_ok(store, "up/resumed", gm_buf_cstr(&id), 1, data, 0, Q, total);
	struct gm_os *other = open_store();
	assert_int_equal(held(other, "up/resumed", gm_buf_cstr(&id)), Q);
	part_ok(other, "up/resumed", gm_buf_cstr(&id), 2, data, Q, Q, total);
	part_ok(other, "up/resumed", gm_buf_cstr(&id), 3, data, 2 * Q, 1000, total);
	gm_os_close(other);
	other = open_store();
	gm_os_object_reset(&o);
	assert_int_equal(
	        other->ops->up_finish(other, "up/resumed", gm_buf_cstr(&id), parts, 3, &o, &err),
	        GM_OK);
	assert_int_equal(o.size, total);
	assert_int_equal(o.crc32c, gm_crc32c(0, data, total));
	check_object(other, "up/resumed", data, total);

	/* finish before the last part: not complete */
	gm_buf_reset(&id);
	assert_int_equal(other->ops->up_begin(other, "up/short", total, NULL, 0, &id, &err), GM_OK);
	part_ok(other, "up/short", gm_buf_cstr(&id), 1, data, 0, Q, total);
	assert_int_equal(
	        other->ops->up_finish(other, "up/short", gm_buf_cstr(&id), parts, 3, &o, &err),
	        GM_ERR_PROTOCOL);
	assert_non_null(strstr(gm_err_msg(&err), "not complete"));

	/* abort: the session is gone afterwards, and a second abort is fine */
	assert_int_equal(other->ops->up_abort(other, "up/short", gm_buf_cstr(&id), &err), GM_OK);
	assert_int_equal(held(other, "up/short", gm_buf_cstr(&id)), -1);
	struct gm_buf tag = GM_BUF_INIT;
	assert_int_equal(other->ops->up_part(other, "up/short", gm_buf_cstr(&id), 2, Q, data + Q, Q,
	                                     total, &tag, &err),
	                 GM_ERR_NOT_FOUND);
	assert_int_equal(other->ops->up_abort(other, "up/short", gm_buf_cstr(&id), &err), GM_OK);
	assert_int_equal(other->ops->head(other, "up/short", &o, &err), GM_ERR_NOT_FOUND);

	/* an id that is not a session URI is refused before anything is sent */
	assert_int_equal(other->ops->up_part(other, "up/x", "ftp://evil/x", 1, 0, data, Q, total,
	                                     &tag, &err),
	                 GM_ERR_USAGE);
	/* a part outside the upload */
	assert_int_equal(other->ops->up_part(other, "up/x", gm_buf_cstr(&id), 1, total, data, 10,
	                                     total, &tag, &err),
	                 GM_ERR_USAGE);

	/* a transient failure of a part is retried */
	gm_buf_reset(&id);
	assert_int_equal(other->ops->up_begin(other, "up/retry", Q + 5, NULL, 0, &id, &err), GM_OK);
	control(&plain, "POST", "/_fault",
	        "{\"method\": \"PUT\", \"path_re\": \"upload_id\", \"status\": 503, \"count\": 1}",
	        NULL);
	part_ok(other, "up/retry", gm_buf_cstr(&id), 1, data, 0, Q, Q + 5);
	part_ok(other, "up/retry", gm_buf_cstr(&id), 2, data, Q, 5, Q + 5);
	assert_int_equal(
	        other->ops->up_finish(other, "up/retry", gm_buf_cstr(&id), NULL, 0, &o, &err),
	        GM_OK);
	check_object(other, "up/retry", data, Q + 5);
	control(&plain, "POST", "/_fault/clear", NULL, NULL);
	gm_os_close(other);

	/* an empty object through a session */
	gm_buf_reset(&id);
	assert_int_equal(store->ops->up_begin(store, "up/empty", 0, NULL, 0, &id, &err), GM_OK);
	assert_int_equal(store->ops->up_part(store, "up/empty", gm_buf_cstr(&id), 1, 0, "", 0, 0,
	                                     &tag, &err),
	                 GM_OK);
	assert_int_equal(
	        store->ops->up_finish(store, "up/empty", gm_buf_cstr(&id), NULL, 0, &o, &err),
	        GM_OK);
	assert_int_equal(o.size, 0);

	gm_buf_release(&tag);
	gm_os_object_release(&o);
	gm_buf_release(&id);
	gm_err_release(&err);
	free(data);
}

/* A store that persists less than it is sent of parts that are not the last. */
static void test_resumable_persist_less(void **state)
{
	(void)state;
	NEED_FAKE();
	struct fake f;
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/less", tmp);
	static const char *const args[] = {"--no-auth", "--persist-less", "1000", NULL};
	assert_true(fake_start(&f, dir, 0, args));
	setenv("STORAGE_EMULATOR_HOST", f.base, 1);
	struct gm_os *s = open_store();
	setenv("STORAGE_EMULATOR_HOST", plain.base + 7, 1);

	const size_t total = 4 * Q + 77;
	uint8_t *data = malloc(total);
	fill(data, total, 777);
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf id = GM_BUF_INIT;
	struct gm_os_object o;
	gm_os_object_init(&o);
	assert_int_equal(s->ops->up_begin(s, "less/obj", total, NULL, 0, &id, &err), GM_OK);
	part_ok(s, "less/obj", gm_buf_cstr(&id), 1, data, 0, 2 * Q, total);
	assert_int_equal(held(s, "less/obj", gm_buf_cstr(&id)), Q); /* it kept one unit */
	part_ok(s, "less/obj", gm_buf_cstr(&id), 2, data, 2 * Q, 2 * Q, total);
	assert_int_equal(held(s, "less/obj", gm_buf_cstr(&id)), 3 * Q);
	part_ok(s, "less/obj", gm_buf_cstr(&id), 3, data, 4 * Q, 77, total);
	assert_int_equal(s->ops->up_finish(s, "less/obj", gm_buf_cstr(&id), NULL, 0, &o, &err),
	                 GM_OK);
	assert_int_equal(o.size, total);
	check_object(s, "less/obj", data, total);

	gm_os_close(s);
	fake_stop(&f);
	gm_os_object_release(&o);
	gm_buf_release(&id);
	gm_err_release(&err);
	free(data);
}

/* With credentials: a service account's token on every request, a new token after a 401
 * (the fake restarted and forgot the tokens it issued), no credentials at all refused. */
static void test_auth(void **state)
{
	(void)state;
	NEED_FAKE();
	char dir[128], keys[128], pub[160], uri[96], script[640], sa[160];
	snprintf(dir, sizeof(dir), "%s/auth", tmp);
	snprintf(keys, sizeof(keys), "%s/keys", tmp);
	snprintf(pub, sizeof(pub), "%s/pub.pem", keys);
	snprintf(sa, sizeof(sa), "%s/sa.json", keys);
	snprintf(script, sizeof(script), "%s/tests/fixtures/gcs/make_key.py", src_root);
	mkdir(keys, 0700);
	int port = free_port();
	assert_true(port > 0);
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/token", port);
	char *argv[] = {"/usr/bin/python3", script, keys, uri, NULL};
	assert_int_equal(run_wait(argv), 0);
	const char *args[] = {"--public-key", pub, "--client-email",
	                      "gm-test@gm-test-project.iam.gserviceaccount.com", NULL};
	struct fake f;
	assert_true(fake_start(&f, dir, port, args));

	struct gm_err err = GM_ERR_INIT;
	struct gm_os *s = NULL;
	struct gm_os_object o;
	gm_os_object_init(&o);
	struct gm_os_opts opts = {.base_delay_ms = 1, .endpoint = f.base};

	/* the emulator variable sends no credentials: the real service refuses that */
	setenv("STORAGE_EMULATOR_HOST", f.base, 1);
	s = open_store();
	assert_int_equal(s->ops->head(s, "a/b", &o, &err), GM_ERR_PERMISSION);
	assert_non_null(strstr(gm_err_msg(&err), "HTTP 401"));
	gm_os_close(s);
	unsetenv("STORAGE_EMULATOR_HOST");

	/* no credentials anywhere (unless this runs on a GCE VM) */
	struct gm_buf prod = GM_BUF_INIT;
	bool gce = gm_fs_read("/sys/class/dmi/id/product_name", 256, &prod, &err) == GM_OK &&
	           strncmp(gm_buf_cstr(&prod), "Google", 6) == 0;
	gm_buf_release(&prod);
	if (!gce) {
		s = (struct gm_os *)&s;
		assert_int_equal(gm_os_gcs_open(BUCKET, &opts, &s, &err), GM_ERR_PERMISSION);
		assert_null(s);
		assert_non_null(strstr(gm_err_msg(&err), "GOOGLE_APPLICATION_CREDENTIALS"));
	}

	setenv("GOOGLE_APPLICATION_CREDENTIALS", sa, 1);
	assert_int_equal(gm_os_gcs_open(BUCKET, &opts, &s, &err), GM_OK);
	put_ok(s, "auth/one", "1", 1, NULL, 0, NULL);
	assert_int_equal(s->ops->head(s, "auth/one", &o, &err), GM_OK);
	assert_int_equal(stat_int(&f, "tokens_issued"), 1); /* cached */
	assert_int_equal(responses(&f, "401"), 1);          /* only the emulator-mode head */

	/* restarted: the cached token is unknown now; one 401, a new token, success */
	fake_stop(&f);
	assert_true(fake_start(&f, dir, port, args));
	assert_int_equal(s->ops->head(s, "auth/one", &o, &err), GM_OK);
	assert_int_equal(o.size, 1);
	assert_int_equal(stat_int(&f, "tokens_issued"), 1);
	assert_int_equal(responses(&f, "401"), 1);
	assert_int_equal(responses(&f, "200"), 2); /* the token and the head */

	/* a token that keeps being refused ends in a permission error naming the credentials */
	control(&f, "POST", "/_fault",
	        "{\"path_re\": \"/storage/\", \"status\": 401, \"count\": 5}", NULL);
	assert_int_equal(s->ops->head(s, "auth/one", &o, &err), GM_ERR_PERMISSION);
	assert_non_null(strstr(gm_err_msg(&err), "service account 'gm-test@"));
	assert_null(strstr(gm_err_msg(&err), "ya29"));
	control(&f, "POST", "/_fault/clear", NULL, NULL);

	gm_os_close(s);
	fake_stop(&f);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	setenv("STORAGE_EMULATOR_HOST", plain.base + 7, 1);
	gm_os_object_release(&o);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_open),      cmocka_unit_test(test_put_head_get),
	        cmocka_unit_test(test_list),      cmocka_unit_test(test_set_meta_and_delete),
	        cmocka_unit_test(test_resumable), cmocka_unit_test(test_resumable_persist_less),
	        cmocka_unit_test(test_auth),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

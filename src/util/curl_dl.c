/* libcurl, loaded on first use instead of linked. Only `bench http` and `k8s mirror` make
 * HTTP requests, but a linked libcurl maps its whole dependency tree (Kerberos, LDAP, SSH,
 * RTMP, OpenSSL …) into every process: 4 MiB more resident memory for the exporter, which has
 * an 8 MiB budget. The functions below carry libcurl's own names and prototypes (from its
 * header), so callers use the documented API unchanged; each one loads the library once and
 * forwards to it. Without libcurl, curl_global_init fails with CURLE_FAILED_INIT, the
 * constructors return NULL and curl_easy_strerror says what to install.
 *
 * GPUMIGRATE_CURL_LIBRARY names another library to load (tests use it for the missing case).
 *
 * The variadic setters pass their argument on by the type libcurl itself reads it with: the
 * option number's range says long, pointer, function pointer, curl_off_t or blob. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static const char missing[] = "libcurl is not available: install libcurl3-gnutls "
                              "(Debian) or set GPUMIGRATE_CURL_LIBRARY";

static struct {
	void *lib;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	const char *(*multi_strerror)(CURLMcode);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* dlsym into a function pointer of any type. */
#define RESOLVE(field, name)                                            \
	do {                                                            \
		void *sym = dlsym(lib, name);                           \
		if (!sym)                                               \
			return false;                                   \
		_Static_assert(sizeof(api.field) == sizeof(sym), name); \
		memcpy(&api.field, &sym, sizeof(sym));                  \
	} while (0)

static bool resolve(void *lib)
{
	RESOLVE(global_init, "curl_global_init");
	RESOLVE(global_cleanup, "curl_global_cleanup");
	RESOLVE(easy_init, "curl_easy_init");
	RESOLVE(easy_cleanup, "curl_easy_cleanup");
	RESOLVE(easy_reset, "curl_easy_reset");
	RESOLVE(easy_perform, "curl_easy_perform");
	RESOLVE(easy_setopt, "curl_easy_setopt");
	RESOLVE(easy_getinfo, "curl_easy_getinfo");
	RESOLVE(easy_strerror, "curl_easy_strerror");
	RESOLVE(easy_escape, "curl_easy_escape");
	RESOLVE(free, "curl_free");
	RESOLVE(slist_append, "curl_slist_append");
	RESOLVE(slist_free_all, "curl_slist_free_all");
	RESOLVE(multi_init, "curl_multi_init");
	RESOLVE(multi_cleanup, "curl_multi_cleanup");
	RESOLVE(multi_add_handle, "curl_multi_add_handle");
	RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
	RESOLVE(multi_perform, "curl_multi_perform");
	RESOLVE(multi_poll, "curl_multi_poll");
	RESOLVE(multi_info_read, "curl_multi_info_read");
	RESOLVE(multi_setopt, "curl_multi_setopt");
	RESOLVE(multi_strerror, "curl_multi_strerror");
	return true;
}

static void load(void)
{
	const char *env = getenv("GPUMIGRATE_CURL_LIBRARY");
	const char *names[] = {"libcurl-gnutls.so.4", "libcurl.so.4"};
	size_t n = sizeof(names) / sizeof(names[0]);
	for (size_t i = 0; i < (env && env[0] ? 1 : n); i++) {
		void *lib = dlopen(env && env[0] ? env : names[i], RTLD_NOW | RTLD_LOCAL);
		if (!lib)
			continue;
		if (resolve(lib)) {
			api.lib = lib;
			return;
		}
		dlclose(lib);
	}
}

static bool ready(void)
{
	pthread_once(&load_once, load);
	return api.lib != NULL;
}

CURLcode curl_global_init(long flags)
{
	return ready() ? api.global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
	if (ready())
		api.global_cleanup();
}

CURL *curl_easy_init(void)
{
	return ready() ? api.easy_init() : NULL;
}

void curl_easy_cleanup(CURL *h)
{
	if (ready())
		api.easy_cleanup(h);
}

void curl_easy_reset(CURL *h)
{
	if (ready())
		api.easy_reset(h);
}

CURLcode curl_easy_perform(CURL *h)
{
	return ready() ? api.easy_perform(h) : CURLE_FAILED_INIT;
}

/* The analyzer, run over many files at once, sometimes loses va_start on these forwarders
 * and reports va_arg on an uninitialised list; va_start is the first thing each does. */
// NOLINTBEGIN(clang-analyzer-valist.Uninitialized)
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	if (!ready())
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, opt);
	CURLcode rc;
	/* long and curl_off_t are the same type on LP64 only, so both branches stay */
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = api.easy_setopt(h, opt, va_arg(ap, long)); // NOLINT(bugprone-branch-clone)
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = api.easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = api.easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = api.easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = api.easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	if (!ready())
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, info);
	CURLcode rc = api.easy_getinfo(h, info, va_arg(ap, void *)); /* always a pointer */
	va_end(ap);
	return rc;
}

// NOLINTEND(clang-analyzer-valist.Uninitialized)

const char *curl_easy_strerror(CURLcode code)
{
	return ready() ? api.easy_strerror(code) : missing;
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
	return ready() ? api.easy_escape(h, s, len) : NULL;
}

void curl_free(void *p)
{
	if (ready())
		api.free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return ready() ? api.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (ready())
		api.slist_free_all(list);
}

CURLM *curl_multi_init(void)
{
	return ready() ? api.multi_init() : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
	return ready() ? api.multi_cleanup(m) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
	return ready() ? api.multi_add_handle(m, h) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
	return ready() ? api.multi_remove_handle(m, h) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
	return ready() ? api.multi_perform(m, running) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd *extra, unsigned int n, int timeout_ms,
                          int *ret)
{
	return ready() ? api.multi_poll(m, extra, n, timeout_ms, ret) : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	return ready() ? api.multi_info_read(m, left) : NULL;
}

// NOLINTBEGIN(clang-analyzer-valist.Uninitialized)
CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
	if (!ready())
		return CURLM_INTERNAL_ERROR;
	va_list ap;
	va_start(ap, opt);
	CURLMcode rc;
	/* long and curl_off_t are the same type on LP64 only, so both branches stay */
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = api.multi_setopt(m, opt, va_arg(ap, long)); // NOLINT(bugprone-branch-clone)
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = api.multi_setopt(m, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = api.multi_setopt(m, opt, va_arg(ap, void (*)(void)));
	else
		rc = api.multi_setopt(m, opt, va_arg(ap, curl_off_t));
	va_end(ap);
	return rc;
}

// NOLINTEND(clang-analyzer-valist.Uninitialized)

const char *curl_multi_strerror(CURLMcode code)
{
	return ready() ? api.multi_strerror(code) : missing;
}

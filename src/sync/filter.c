/* rsync-compatible include/exclude rules (see filter.h), with a small wildcard matcher of our
 * own: rsync's wildmatch algorithm ('*' stops at '/', "**" does not, and the abort codes that
 * keep backtracking polynomial), so that a pattern means here what it means to rsync. */
#include "sync/filter.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/endpoint.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct gm_sync_filter_rule {
	char *pat;  /* without the leading '/', the trailing '/', or the last star of
	             * a "dir" + "/" + three stars pattern */
	char *base; /* that pattern's directory part ("dir"); else NULL */
	bool include, dir_only, anchored, wild, wild2, wild2_prefix;
	unsigned slash_cnt;
};

enum {
	WM_FALSE = 0,
	WM_TRUE = 1,
	WM_ABORT_ALL = -1,
	WM_ABORT_TO_STARSTAR = -2,
};

static bool class_match(const char *name, size_t len, unsigned char c, bool *known)
{
	static const struct {
		const char *name;
		int (*fn)(int);
	} classes[] = {
	        {"alnum", isalnum}, {"alpha", isalpha}, {"blank", isblank}, {"cntrl", iscntrl},
	        {"digit", isdigit}, {"graph", isgraph}, {"lower", islower}, {"print", isprint},
	        {"punct", ispunct}, {"space", isspace}, {"upper", isupper}, {"xdigit", isxdigit},
	};
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		if (strlen(classes[i].name) == len && memcmp(classes[i].name, name, len) == 0) {
			*known = true;
			return c < 128 && classes[i].fn(c);
		}
	}
	*known = false;
	return false;
}

static int dowild(const char *p, const char *t, const char *te)
{
	for (; *p; p++, t++) {
		unsigned char pc = (unsigned char)*p;
		if (t == te && pc != '*')
			return WM_ABORT_ALL;
		unsigned char tc = (unsigned char)*t;
		switch (pc) {
		case '\\':
			if (p[1])
				pc = (unsigned char)*++p;
			if (tc != pc)
				return WM_FALSE;
			continue;
		case '?':
			if (tc == '/')
				return WM_FALSE;
			continue;
		case '*': {
			bool special = false;
			if (*++p == '*') {
				while (*++p == '*')
					;
				special = true;
			}
			if (!*p) {
				/* a trailing "**" matches everything, a trailing '*' the rest of
				 * one component */
				if (!special && memchr(t, '/', (size_t)(te - t)))
					return WM_FALSE;
				return WM_TRUE;
			}
			for (; t < te; t++) {
				int m = dowild(p, t, te);
				if (m != WM_FALSE) {
					if (!special || m != WM_ABORT_TO_STARSTAR)
						return m;
				} else if (!special && *t == '/') {
					return WM_ABORT_TO_STARSTAR;
				}
			}
			return WM_ABORT_ALL;
		}
		case '[': {
			const char *q = p + 1;
			bool neg = false, hit = false, first = true;
			int prev = -1;
			if (*q == '!' || *q == '^') {
				neg = true;
				q++;
			}
			for (;; q++) {
				unsigned char c = (unsigned char)*q;
				if (!c)
					return WM_ABORT_ALL; /* unterminated class */
				if (c == ']' && !first)
					break;
				first = false;
				if (c == '\\') {
					c = (unsigned char)*++q;
					if (!c)
						return WM_ABORT_ALL;
				} else if (c == '-' && prev >= 0 && q[1] && q[1] != ']') {
					unsigned char hi = (unsigned char)*++q;
					if (hi == '\\') {
						hi = (unsigned char)*++q;
						if (!hi)
							return WM_ABORT_ALL;
					}
					if (tc >= prev && tc <= hi)
						hit = true;
					prev = -1;
					continue;
				} else if (c == '[' && q[1] == ':') {
					const char *e = strstr(q + 2, ":]");
					bool known = false;
					if (e &&
					    class_match(q + 2, (size_t)(e - q - 2), tc, &known))
						hit = true;
					if (!known)
						return WM_ABORT_ALL;
					q = e + 1;
					prev = -1;
					continue;
				}
				if (tc == c)
					hit = true;
				prev = c;
			}
			p = q;
			if (hit == neg || tc == '/')
				return WM_FALSE;
			continue;
		}
		default:
			if (tc != pc)
				return WM_FALSE;
			continue;
		}
	}
	return t == te ? WM_TRUE : WM_FALSE;
}

static bool match_text(const struct gm_sync_filter_rule *r, const char *pat, const char *t,
                       size_t len)
{
	if (r->wild)
		return dowild(pat, t, t + len) == WM_TRUE;
	return strlen(pat) == len && memcmp(pat, t, len) == 0;
}

/* Whether pattern pat of rule r matches path (rsync's rule_matches). */
static bool match_path(const struct gm_sync_filter_rule *r, const char *pat, unsigned slash_cnt,
                       const char *path, size_t len)
{
	if (r->wild2 && r->wild2_prefix) {
		/* rsync matches these against the path with the root's '/' in front, so
		 * "**" + "/c" also matches "c" at the top */
		return match_text(r, pat, path, len) ||
		       (pat[2] == '/' && match_text(r, pat + 3, path, len));
	}
	if (r->anchored)
		return match_text(r, pat, path, len);
	if (r->wild2) {
		/* an infix or trailing "**": try at the start and after every '/' */
		if (match_text(r, pat, path, len))
			return true;
		for (size_t i = 0; i < len; i++)
			if (path[i] == '/' && match_text(r, pat, path + i + 1, len - i - 1))
				return true;
		return false;
	}
	/* the last slash_cnt + 1 components */
	size_t start = len;
	unsigned seen = 0;
	while (start > 0) {
		if (path[start - 1] == '/') {
			if (seen == slash_cnt)
				break;
			seen++;
		}
		start--;
	}
	if (seen < slash_cnt)
		return false;
	return match_text(r, pat, path + start, len - start);
}

static bool rule_matches(const struct gm_sync_filter_rule *r, const char *path, size_t len,
                         bool is_dir)
{
	if (r->base && is_dir && match_path(r, r->base, r->slash_cnt - 1, path, len))
		return true;
	if (r->dir_only && !is_dir)
		return false;
	return match_path(r, r->pat, r->slash_cnt, path, len);
}

void gm_sync_filter_init(struct gm_sync_filter *f)
{
	f->v = NULL;
	f->n = f->cap = 0;
}

static void clear_rules(struct gm_sync_filter *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].pat);
		free(f->v[i].base);
	}
	f->n = 0;
}

void gm_sync_filter_release(struct gm_sync_filter *f)
{
	if (!f)
		return;
	clear_rules(f);
	free(f->v);
	gm_sync_filter_init(f);
}

enum gm_rc gm_sync_filter_add(struct gm_sync_filter *f, bool include, const char *pattern,
                              struct gm_err *err)
{
	size_t len = strlen(pattern);
	if (len == 0)
		return gm_err_set(err, GM_ERR_USAGE, "empty %s pattern",
		                  include ? "include" : "exclude");
	if (len > GM_SYNC_PATH_MAX)
		return gm_err_set(err, GM_ERR_USAGE, "%s pattern longer than %d bytes",
		                  include ? "include" : "exclude", GM_SYNC_PATH_MAX);
	struct gm_sync_filter_rule r = {.include = include};
	const char *p = pattern;
	if (*p == '/') {
		r.anchored = true;
		p++;
		len--;
	}
	bool triple = false;
	if (len > 4 && memcmp(p + len - 4, "/***", 4) == 0) {
		triple = true;
		len--; /* keeps "dir" + "/" + two stars */
	} else if (len > 1 && p[len - 1] == '/') {
		r.dir_only = true;
		len--;
	}
	if (len == 0)
		return gm_err_set(err, GM_ERR_USAGE, "the %s pattern '%s' matches nothing",
		                  include ? "include" : "exclude", pattern);
	r.pat = gm_xstrndup(p, len);
	if (triple)
		r.base = gm_xstrndup(p, len - 3);
	r.wild = strpbrk(r.pat, "*?[") != NULL;
	r.wild2 = strstr(r.pat, "**") != NULL;
	r.wild2_prefix = strncmp(r.pat, "**", 2) == 0;
	for (const char *c = r.pat; *c; c++)
		r.slash_cnt += *c == '/';
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->v = gm_xreallocarray(f->v, f->cap, sizeof(*f->v));
	}
	f->v[f->n++] = r;
	return GM_OK;
}

enum gm_rc gm_sync_filter_add_file(struct gm_sync_filter *f, const char *path, struct gm_err *err)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *fp = is_stdin ? stdin : fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	unsigned long lineno = 0;
	enum gm_rc rc = GM_OK;
	if (!fp)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno,
		                    "cannot read the filter file '%s'", path);
	for (;;) {
		errno = 0;
		ssize_t n = getline(&line, &cap, fp);
		if (n < 0) {
			if (errno)
				rc = gm_err_errno(err, gm_rc_from_errno(errno), errno,
				                  "cannot read the filter file '%s'", path);
			break;
		}
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (strcmp(line, "!") == 0) {
			clear_rules(f);
			continue;
		}
		if ((size_t)n != strlen(line)) {
			rc = gm_err_set(err, GM_ERR_PARSE, "%s:%lu: a NUL byte in a pattern", path,
			                lineno);
			break;
		}
		bool include = false;
		const char *pat = line;
		if ((line[0] == '+' || line[0] == '-') && line[1] == ' ') {
			include = line[0] == '+';
			pat = line + 2;
		}
		rc = gm_sync_filter_add(f, include, pat, err);
		if (rc != GM_OK) {
			struct gm_buf m = GM_BUF_INIT;
			gm_buf_adds(&m, gm_err_msg(err));
			gm_err_set(err, GM_ERR_PARSE, "%s:%lu: %s", path, lineno, m.data);
			gm_buf_release(&m);
			rc = GM_ERR_PARSE;
			break;
		}
	}
	free(line);
	if (!is_stdin)
		fclose(fp);
	return rc;
}

bool gm_sync_filter_excluded(const struct gm_sync_filter *f, const char *relpath, size_t len,
                             bool is_dir)
{
	if (!f)
		return false;
	for (size_t i = 0; i < f->n; i++)
		if (rule_matches(&f->v[i], relpath, len, is_dir))
			return !f->v[i].include;
	return false;
}

bool gm_sync_filter_excluded_tree(const struct gm_sync_filter *f, const char *relpath, size_t len,
                                  bool is_dir)
{
	if (!f || f->n == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (relpath[i] == '/' && gm_sync_filter_excluded(f, relpath, i, true))
			return true;
	return gm_sync_filter_excluded(f, relpath, len, is_dir);
}

/* Resolves the AWS CLI's view of S3 settings (environment, ~/.aws/credentials,
 * ~/.aws/config with its nested s3 blocks and [services] sections, a profile's
 * credential_process) for the S3 backend. The INI reader here follows what botocore's
 * parser accepts, bounded in size, and keeps every value out of its messages. */
#include "objstore/awsconf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "objstore/store.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* One "key = value" of a file; sub is set for a line of a nested block (key is the
 * block's name then: "s3"). */
struct ini_ent {
	char *sec;
	char *key;
	char *sub;
	char *val;
	unsigned line;
};

struct ini {
	struct gm_buf path;
	bool present; /* the file exists and was read */
	struct ini_ent *e;
	size_t n, cap;
	char **secs; /* every section header seen, so an empty section still exists */
	size_t n_secs, cap_secs;
};

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void ini_release(struct ini *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->e[i].sec);
		free(f->e[i].key);
		free(f->e[i].sub);
		wipe_free(f->e[i].val);
	}
	free(f->e);
	for (size_t i = 0; i < f->n_secs; i++)
		free(f->secs[i]);
	free(f->secs);
	gm_buf_release(&f->path);
	memset(f, 0, sizeof *f);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims s[*b..*e). */
static void trim(const char *s, size_t *b, size_t *e)
{
	while (*b < *e && is_space(s[*b]))
		(*b)++;
	while (*e > *b && is_space(s[*e - 1]))
		(*e)--;
}

/* Drops a " #…" or " ;…" comment after a value. */
static void cut_comment(const char *s, size_t b, size_t *e)
{
	for (size_t i = b + 1; i < *e; i++) {
		if ((s[i] == '#' || s[i] == ';') && is_space(s[i - 1])) {
			*e = i;
			break;
		}
	}
	while (*e > b && is_space(s[*e - 1]))
		(*e)--;
}

static char *lowered(const char *s, size_t n)
{
	char *r = gm_xstrndup(s, n);
	for (char *p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return r;
}

static void ini_add(struct ini *f, const char *sec, char *key, char *sub, char *val, unsigned line)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		f->e = gm_xreallocarray(f->e, f->cap, sizeof *f->e);
	}
	f->e[f->n++] = (struct ini_ent){gm_xstrdup(sec), key, sub, val, line};
}

static enum gm_rc ini_parse(struct ini *f, const char *s, size_t len, struct gm_err *err)
{
	const char *path = gm_buf_cstr(&f->path);
	char *sec = NULL;
	size_t key_at = SIZE_MAX; /* entry index of the last key line of this section */
	size_t key_indent = 0;
	bool nested = false; /* the last key line had an empty value: indented lines nest */
	unsigned line = 0;
	enum gm_rc rc = GM_OK;

	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) { /* a UTF-8 byte order mark */
		s += 3;
		len -= 3;
	}
	size_t pos = 0;
	while (pos < len) {
		size_t b = pos, e = pos;
		while (e < len && s[e] != '\n')
			e++;
		pos = e + 1;
		line++;
		if (memchr(s + b, '\0', e - b)) {
			rc = gm_err_set(err, GM_ERR_PARSE, "%s:%u: NUL byte in the file", path,
			                line);
			goto out;
		}
		size_t indent = 0;
		while (b + indent < e && (s[b + indent] == ' ' || s[b + indent] == '\t'))
			indent++;
		trim(s, &b, &e);
		if (b == e || s[b] == '#' || s[b] == ';')
			continue;

		if (s[b] == '[') {
			cut_comment(s, b, &e);
			if (s[e - 1] != ']' || e - b < 2) {
				rc = gm_err_set(err, GM_ERR_PARSE,
				                "%s:%u: a section header must end with ']'", path,
				                line);
				goto out;
			}
			size_t nb = b + 1, ne = e - 1;
			trim(s, &nb, &ne);
			if (nb == ne) {
				rc = gm_err_set(err, GM_ERR_PARSE, "%s:%u: empty section name",
				                path, line);
				goto out;
			}
			free(sec);
			sec = gm_xstrndup(s + nb, ne - nb);
			if (f->n_secs == f->cap_secs) {
				f->cap_secs = f->cap_secs ? 2 * f->cap_secs : 8;
				f->secs = gm_xreallocarray(f->secs, f->cap_secs, sizeof *f->secs);
			}
			f->secs[f->n_secs++] = gm_xstrdup(sec);
			key_at = SIZE_MAX;
			nested = false;
			continue;
		}
		if (!sec) {
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "%s:%u: a setting before any [section] header", path, line);
			goto out;
		}
		if (key_at != SIZE_MAX && indent > key_indent && !nested) {
			/* A continuation line of the previous value (as ConfigParser reads it). */
			cut_comment(s, b, &e);
			struct ini_ent *pe = &f->e[key_at];
			struct gm_buf v = GM_BUF_INIT;
			gm_buf_adds(&v, pe->val);
			gm_buf_addch(&v, '\n');
			gm_buf_add(&v, s + b, e - b);
			wipe_free(pe->val);
			pe->val = gm_buf_detach(&v);
			continue;
		}
		size_t d = b;
		while (d < e && s[d] != '=' && s[d] != ':')
			d++;
		if (d == e) {
			rc = gm_err_set(err, GM_ERR_PARSE, "%s:%u: expected 'key = value'", path,
			                line);
			goto out;
		}
		size_t kb = b, ke = d, vb = d + 1, ve = e;
		trim(s, &kb, &ke);
		trim(s, &vb, &ve);
		if (vb < ve)
			cut_comment(s, vb, &ve);
		if (kb == ke) {
			rc = gm_err_set(err, GM_ERR_PARSE, "%s:%u: a setting without a name", path,
			                line);
			goto out;
		}
		if (key_at != SIZE_MAX && indent > key_indent && nested) {
			/* "  addressing_style = path" under "s3 =". */
			ini_add(f, sec, gm_xstrdup(f->e[key_at].key), lowered(s + kb, ke - kb),
			        gm_xstrndup(s + vb, ve - vb), line);
			continue;
		}
		ini_add(f, sec, lowered(s + kb, ke - kb), NULL, gm_xstrndup(s + vb, ve - vb), line);
		key_at = f->n - 1;
		key_indent = indent;
		nested = vb == ve;
	}
out:
	free(sec);
	return rc;
}

/* Reads and parses path; a missing file is an empty one. */
static enum gm_rc ini_load(struct ini *f, const char *path, struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT;
	struct gm_err e2 = GM_ERR_INIT;
	gm_buf_adds(&f->path, path);
	enum gm_rc rc = gm_fs_read(path, GM_AWS_CONFIG_MAX, &text, &e2);
	if (rc == GM_ERR_NOT_FOUND) {
		rc = GM_OK;
		goto out;
	}
	if (rc == GM_ERR_LIMIT) {
		rc = gm_err_set(err, GM_ERR_LIMIT, "'%s' is larger than %zu bytes", path,
		                GM_AWS_CONFIG_MAX);
		goto out;
	}
	if (rc != GM_OK) {
		/* gm_fs_read says "cannot open/read": refine the rc for permission */
		struct stat st;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = gm_err_set(err, GM_ERR_IO, "'%s' is a directory, not a file", path);
		else
			rc = gm_err_set(err, rc, "%s", gm_err_msg(&e2));
		goto out;
	}
	f->present = true;
	rc = ini_parse(f, text.data ? text.data : "", text.len, err);
out:
	gm_buf_wipe(&text);
	gm_err_release(&e2);
	return rc;
}

static bool has_section(const struct ini *f, const char *sec)
{
	for (size_t i = 0; i < f->n_secs; i++)
		if (strcmp(f->secs[i], sec) == 0)
			return true;
	return false;
}

/* The last entry for key (and sub, or a plain key when sub is NULL) in section sec. */
static const struct ini_ent *ini_get(const struct ini *f, const char *sec, const char *key,
                                     const char *sub)
{
	if (!sec)
		return NULL;
	for (size_t i = f->n; i-- > 0;) {
		const struct ini_ent *e = &f->e[i];
		if (strcmp(e->sec, sec) != 0 || strcmp(e->key, key) != 0)
			continue;
		if (sub ? (e->sub && strcmp(e->sub, sub) == 0) : !e->sub)
			return e;
	}
	return NULL;
}

/* The section "[<kind> <name>]" (any run of blanks between) of f, into out; false when
 * the file has none. */
static bool typed_section(const struct ini *f, const char *kind, const char *name,
                          struct gm_buf *out)
{
	size_t k = strlen(kind);
	for (size_t i = f->n_secs; i-- > 0;) {
		const char *s = f->secs[i];
		if (strncmp(s, kind, k) == 0 && is_space(s[k])) {
			const char *n = s + k;
			while (is_space(*n))
				n++;
			if (strcmp(n, name) == 0) {
				gm_buf_reset(out);
				gm_buf_adds(out, s);
				return true;
			}
		}
	}
	return false;
}

/* The config file's section for profile: "[profile NAME]", or "[default]" for default.
 * Into out; false when the file has none. */
static bool config_section(const struct ini *f, const char *profile, struct gm_buf *out)
{
	if (typed_section(f, "profile", profile, out))
		return true;
	if (strcmp(profile, "default") == 0 && has_section(f, "default")) {
		gm_buf_reset(out);
		gm_buf_adds(out, "default");
		return true;
	}
	return false;
}

/* Where a resolved value came from, for messages. */
struct source {
	const struct ini *file;
	const struct ini_ent *ent;
	const char *env;
};

struct ctx {
	struct ini cred, conf;
	const char *profile;
	bool in_cred, in_conf;
	struct gm_buf conf_sec; /* the config file's section name for the profile */
};

/* A profile setting: the credentials file's section wins over the config file's. */
static const char *setting(const struct ctx *x, const char *key, const char *sub,
                           struct source *src)
{
	const struct ini_ent *e = NULL;
	if (x->in_cred && (e = ini_get(&x->cred, x->profile, key, sub))) {
		if (src)
			*src = (struct source){&x->cred, e, NULL};
		return e->val;
	}
	if (x->in_conf && (e = ini_get(&x->conf, gm_buf_cstr(&x->conf_sec), key, sub))) {
		if (src)
			*src = (struct source){&x->conf, e, NULL};
		return e->val;
	}
	return NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static void where(const struct source *s, struct gm_buf *out)
{
	if (s->env)
		gm_buf_adds(out, s->env);
	else if (s->file && s->ent)
		gm_buf_addf(out, "%s:%u", gm_buf_cstr(&s->file->path), s->ent->line);
}

static bool is_true(const char *v)
{
	return v && strcasecmp(v, "true") == 0;
}

static bool valid_region(const char *r)
{
	size_t n = strlen(r);
	if (n == 0 || n > 63 || r[0] == '-' || r[n - 1] == '-')
		return false;
	for (const char *p = r; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

static bool valid_endpoint(const char *u)
{
	size_t skip;
	if (strncasecmp(u, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		skip = 7;
	else
		return false;
	if (!u[skip] || u[skip] == '/')
		return false;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* Takes the key pair of one profile section; 0: none there, 1: taken, -1: error. */
static int creds_from(struct gm_aws_config *c, const struct ini *f, const char *sec,
                      const char *profile, struct gm_err *err)
{
	const struct ini_ent *id = ini_get(f, sec, "aws_access_key_id", NULL);
	if (!id || !id->val || !*id->val)
		return 0;
	const struct ini_ent *key = ini_get(f, sec, "aws_secret_access_key", NULL);
	if (!key || !key->val || !*key->val) {
		gm_err_set(err, GM_ERR_PARSE,
		           "%s:%u: profile '%s' has aws_access_key_id but no aws_secret_access_key",
		           gm_buf_cstr(&f->path), id->line, profile);
		return -1;
	}
	const struct ini_ent *tok = ini_get(f, sec, "aws_session_token", NULL);
	if (!tok)
		tok = ini_get(f, sec, "aws_security_token", NULL);
	gm_buf_adds(&c->access_key, id->val);
	gm_buf_adds(&c->secret_key, key->val);
	if (tok && *tok->val)
		gm_buf_adds(&c->session_token, tok->val);
	gm_buf_addf(&c->creds_source, "profile '%s' in '%s'", profile, gm_buf_cstr(&f->path));
	return 1;
}

static void warn_if_open(const struct ini *f)
{
	struct stat st;
	if (!f->present || stat(gm_buf_cstr(&f->path), &st) != 0)
		return;
	if (st.st_mode & (S_IRGRP | S_IROTH))
		gm_warn("'%s' holds AWS credentials and is readable by %s (mode %03o); "
		        "restrict it with: chmod 600 '%s'",
		        gm_buf_cstr(&f->path), (st.st_mode & S_IROTH) ? "every user" : "its group",
		        (unsigned)(st.st_mode & 0777), gm_buf_cstr(&f->path));
}

/* The path of a shared file: the variable's value (a leading "~/" is $HOME's), or
 * $HOME/.aws/<name>. False when neither is set. */
static bool file_path(const char *var, const char *name, struct gm_buf *out)
{
	const char *v = env(var);
	const char *home = env("HOME");
	if (v) {
		if (v[0] == '~' && (v[1] == '/' || v[1] == '\0') && home) {
			gm_buf_adds(out, home);
			gm_buf_adds(out, v + 1);
		} else {
			gm_buf_adds(out, v);
		}
		return true;
	}
	if (!home)
		return false;
	gm_buf_addf(out, "%s/.aws/%s", home, name);
	return true;
}

/* ---- credential_process ---- */

/* A non-empty string member of the program's JSON object, or NULL. */
static const char *member(struct fy_node *root, const char *key)
{
	const char *v = gm_doc_scalar(gm_doc_get(root, key));
	return v && *v ? v : NULL;
}

/* Runs c->credential_process and takes the credentials it prints into c. The program's
 * arguments and output stay out of every message: they may hold secrets. */
static enum gm_rc run_process(struct gm_aws_config *c, struct gm_err *err)
{
	char **argv = NULL;
	size_t argc = 0;
	struct gm_buf out = GM_BUF_INIT, what = GM_BUF_INIT, msg = GM_BUF_INIT;
	struct gm_err perr = GM_ERR_INIT;
	struct gm_doc doc = {0};
	const char *profile = gm_buf_cstr(&c->profile);
	const char *at = gm_buf_cstr(&c->process_where);
	int status = 0;
	int64_t now = (int64_t)time(NULL), expires = 0;

	c->fetched = now;
	enum gm_rc rc = gm_spawn_split(gm_buf_cstr(&c->credential_process), &argv, &argc, &perr);
	if (rc != GM_OK) {
		rc = gm_err_set(err, rc,
		                "%s: the credential_process of AWS profile '%s' cannot be "
		                "used: %s",
		                at, profile, gm_err_msg(&perr));
		goto out;
	}
	gm_buf_addf(&what, "credential_process '%s' of AWS profile '%s' (%s)", argv[0], profile,
	            at);
	rc = gm_spawn_capture(
	        (const char *const *)argv, NULL,
	        gm_spawn_timeout_ms("GPUMIGRATE_CREDHELPER_TIMEOUT_MS", GM_AWS_PROCESS_TIMEOUT_MS),
	        GM_AWS_PROCESS_MAX_OUTPUT, gm_buf_cstr(&what), &out, &status, err);
	if (rc == GM_ERR_NOT_FOUND) { /* a profile to fix */
		rc = GM_ERR_USAGE;
		if (err)
			err->rc = rc;
	}
	if (rc != GM_OK)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		gm_spawn_status_text(status, &msg);
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "%s failed (%s)%s", gm_buf_cstr(&what),
		                gm_buf_cstr(&msg),
		                gm_log_get_level() < GM_LOG_INFO
		                        ? "; run with -v to see what it printed on stderr"
		                        : "");
		goto out;
	}
	/* never quote the output (or the parser's message about it): it holds the secret */
	struct fy_node *root = NULL;
	if (gm_doc_load_string(&doc, "credential_process output", gm_buf_cstr(&out), out.len,
	                       &perr) == GM_OK &&
	    gm_doc_is_map(gm_doc_root(&doc)))
		root = gm_doc_root(&doc);
	const char *id = root ? member(root, "AccessKeyId") : NULL;
	const char *secret = root ? member(root, "SecretAccessKey") : NULL;
	const char *version = root ? gm_doc_scalar(gm_doc_get(root, "Version")) : NULL;
	if (root && version && strcmp(version, "1") != 0) {
		rc = gm_err_set(err, GM_ERR_UNSUPPORTED,
		                "%s printed credentials of a Version other than 1, the only one "
		                "gpumigrate (and the AWS CLI) understands",
		                gm_buf_cstr(&what));
		goto out;
	}
	if (!root || !version || !id || !secret) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL,
		                "%s printed no JSON object with \"Version\": 1, \"AccessKeyId\" "
		                "and \"SecretAccessKey\"",
		                gm_buf_cstr(&what));
		goto out;
	}
	const char *token = member(root, "SessionToken");
	const char *exp = member(root, "Expiration");
	if (exp && !gm_os_time_rfc3339_sec(exp, &expires)) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL,
		                "%s printed an \"Expiration\" that is not an RFC 3339 time",
		                gm_buf_cstr(&what));
		goto out;
	}
	if (exp && expires <= now) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL,
		                "%s printed credentials that expired %lld s ago; check the program "
		                "(or this machine's clock)",
		                gm_buf_cstr(&what), (long long)(now - expires));
		goto out;
	}
	gm_buf_wipe(&c->access_key);
	gm_buf_wipe(&c->secret_key);
	gm_buf_wipe(&c->session_token);
	gm_buf_adds(&c->access_key, id);
	gm_buf_adds(&c->secret_key, secret);
	if (token)
		gm_buf_adds(&c->session_token, token);
	c->expires = exp ? expires : 0;
	gm_debug("%s gave credentials%s%s", gm_buf_cstr(&what),
	         token ? " with a session token" : "",
	         exp ? " that expire" : " that do not expire");
out:
	gm_doc_release(&doc);
	gm_err_release(&perr);
	gm_spawn_argv_free(argv);
	gm_buf_wipe(&out);
	gm_buf_release(&what);
	gm_buf_release(&msg);
	return rc;
}

bool gm_aws_config_refresh_due(const struct gm_aws_config *c, int64_t now)
{
	if (!c->credential_process.len || c->expires == 0)
		return false;
	if (c->expires <= now)
		return true;
	return c->expires - now < GM_AWS_REFRESH_BEFORE_S &&
	       now - c->fetched >= GM_AWS_REFRESH_GAP_S;
}

enum gm_rc gm_aws_config_refresh(struct gm_aws_config *c, struct gm_err *err)
{
	if (!c->credential_process.len)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "the AWS credentials of profile '%s' did not come from a "
		                  "credential_process",
		                  gm_buf_cstr(&c->profile));
	return run_process(c, err);
}

void gm_aws_config_init(struct gm_aws_config *c)
{
	memset(c, 0, sizeof *c);
	c->path_style = -1;
}

void gm_aws_config_release(struct gm_aws_config *c)
{
	if (!c)
		return;
	gm_buf_wipe(&c->access_key);
	gm_buf_wipe(&c->secret_key);
	gm_buf_wipe(&c->session_token);
	gm_buf_release(&c->region);
	gm_buf_release(&c->endpoint_url);
	gm_buf_release(&c->ca_bundle);
	gm_buf_release(&c->profile);
	gm_buf_release(&c->creds_source);
	gm_buf_wipe(&c->credential_process);
	gm_buf_release(&c->process_where);
	c->expires = c->fetched = 0;
	c->path_style = -1;
}

static void describe_files(const struct ctx *x, struct gm_buf *out)
{
	const struct ini *fs[2] = {&x->cred, &x->conf};
	size_t n = 0;
	for (size_t i = 0; i < 2; i++) {
		if (!fs[i]->path.len)
			continue;
		gm_buf_adds(out, n++ ? " and " : "");
		gm_buf_addf(out, "'%s'%s", gm_buf_cstr(&fs[i]->path),
		            fs[i]->present ? "" : " (missing)");
	}
	if (!n)
		gm_buf_adds(out, "no file ($HOME is not set)");
}

enum gm_rc gm_aws_config_load(struct gm_aws_config *c, const char *profile, struct gm_err *err)
{
	struct ctx x;
	struct gm_buf path = GM_BUF_INIT, files = GM_BUF_INIT;
	struct source src = {0};
	enum gm_rc rc = GM_OK;
	const char *v;
	bool from_env_profile = false;

	memset(&x, 0, sizeof x);
	gm_aws_config_release(c);
	gm_aws_config_init(c);

	if (!profile || !*profile) {
		profile = env("AWS_PROFILE");
		from_env_profile = profile != NULL;
		if (!profile)
			profile = "default";
	}
	x.profile = profile;
	gm_buf_adds(&c->profile, profile);

	if (file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", &path) &&
	    (rc = ini_load(&x.cred, gm_buf_cstr(&path), err)) != GM_OK)
		goto out;
	gm_buf_reset(&path);
	if (file_path("AWS_CONFIG_FILE", "config", &path) &&
	    (rc = ini_load(&x.conf, gm_buf_cstr(&path), err)) != GM_OK)
		goto out;
	x.in_cred = has_section(&x.cred, profile);
	x.in_conf = config_section(&x.conf, profile, &x.conf_sec);
	if (!x.in_cred && !x.in_conf && strcmp(profile, "default") != 0) {
		describe_files(&x, &files);
		if (from_env_profile)
			rc = gm_err_set(err, GM_ERR_NOT_FOUND,
			                "AWS_PROFILE names profile '%s', which is in none of the "
			                "files read: %s",
			                profile, gm_buf_cstr(&files));
		else
			rc = gm_err_set(err, GM_ERR_NOT_FOUND,
			                "AWS profile '%s' is in none of the files read: %s",
			                profile, gm_buf_cstr(&files));
		goto out;
	}

	/* Credentials. */
	const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
	if (id || secret) {
		if (!id || !secret) {
			rc = gm_err_set(err, GM_ERR_USAGE, "%s is set but %s is not",
			                id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			                id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
			goto out;
		}
		gm_buf_adds(&c->access_key, id);
		gm_buf_adds(&c->secret_key, secret);
		if ((v = env("AWS_SESSION_TOKEN")) || (v = env("AWS_SECURITY_TOKEN")))
			gm_buf_adds(&c->session_token, v);
		gm_buf_adds(&c->creds_source, "environment");
	} else {
		int got = 0;
		if (x.in_cred)
			got = creds_from(c, &x.cred, profile, profile, err);
		/* then the process, before the config file's keys (as the AWS CLI); with a
		 * role_arn the profile means the role, refused below */
		if (got == 0 && !setting(&x, "role_arn", NULL, NULL) &&
		    (v = setting(&x, "credential_process", NULL, &src))) {
			gm_buf_adds(&c->credential_process, v);
			where(&src, &c->process_where);
			rc = run_process(c, err);
			if (rc != GM_OK)
				goto out;
			gm_buf_addf(&c->creds_source, "credential_process of profile '%s' at %s",
			            profile, gm_buf_cstr(&c->process_where));
			got = 1;
		}
		if (got == 0 && x.in_conf) {
			got = creds_from(c, &x.conf, gm_buf_cstr(&x.conf_sec), profile, err);
			if (got == 1)
				warn_if_open(&x.conf);
		}
		if (got < 0) {
			rc = err ? err->rc : GM_ERR_PARSE;
			goto out;
		}
		static const char *const others[] = {"role_arn", "credential_process",
		                                     "sso_session", "sso_start_url",
		                                     "web_identity_token_file"};
		for (size_t i = 0; got == 0 && i < sizeof others / sizeof others[0]; i++) {
			if (setting(&x, others[i], NULL, &src)) {
				gm_buf_reset(&files);
				where(&src, &files);
				rc = gm_err_set(
				        err, GM_ERR_UNSUPPORTED,
				        "AWS profile '%s' gets its credentials through %s (%s), "
				        "which gpumigrate does not support; export "
				        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for "
				        "example from `aws configure export-credentials`)",
				        profile, others[i], gm_buf_cstr(&files));
				goto out;
			}
		}
	}
	/* The shared credentials file is worth the warning whenever it was read. */
	warn_if_open(&x.cred);

	/* Region. */
	memset(&src, 0, sizeof src);
	if ((v = env("AWS_REGION")))
		src.env = "AWS_REGION";
	else if ((v = env("AWS_DEFAULT_REGION")))
		src.env = "AWS_DEFAULT_REGION";
	else
		v = setting(&x, "region", NULL, &src);
	if (v && *v) {
		if (!valid_region(v)) {
			gm_buf_reset(&files);
			where(&src, &files);
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "the region set by %s is not a valid region name",
			                gm_buf_cstr(&files));
			goto out;
		}
		gm_buf_adds(&c->region, v);
	} else {
		gm_buf_adds(&c->region, "us-east-1");
	}

	/* Endpoint. */
	memset(&src, 0, sizeof src);
	v = NULL;
	if (!is_true(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) &&
	    !is_true(setting(&x, "ignore_configured_endpoint_urls", NULL, NULL))) {
		if ((v = env("AWS_ENDPOINT_URL_S3")))
			src.env = "AWS_ENDPOINT_URL_S3";
		else if ((v = env("AWS_ENDPOINT_URL")))
			src.env = "AWS_ENDPOINT_URL";
		if (!v) {
			const char *svc = setting(&x, "services", NULL, NULL);
			if (svc && *svc && typed_section(&x.conf, "services", svc, &path)) {
				const struct ini_ent *e =
				        ini_get(&x.conf, gm_buf_cstr(&path), "s3", "endpoint_url");
				if (e) {
					v = e->val;
					src = (struct source){&x.conf, e, NULL};
				}
			}
		}
		if (!v)
			v = setting(&x, "s3", "endpoint_url", &src);
		if (!v)
			v = setting(&x, "endpoint_url", NULL, &src);
	}
	if (v && *v) {
		if (!valid_endpoint(v)) {
			gm_buf_reset(&files);
			where(&src, &files);
			rc = gm_err_set(
			        err, GM_ERR_PARSE,
			        "the endpoint URL set by %s is not an http:// or https:// URL",
			        gm_buf_cstr(&files));
			goto out;
		}
		gm_buf_adds(&c->endpoint_url, v);
	}

	/* CA bundle. */
	if ((v = env("AWS_CA_BUNDLE")) || (v = setting(&x, "ca_bundle", NULL, NULL)))
		gm_buf_adds(&c->ca_bundle, v);

	/* Addressing style. */
	memset(&src, 0, sizeof src);
	if ((v = setting(&x, "s3", "addressing_style", &src)) && *v) {
		if (strcasecmp(v, "path") == 0) {
			c->path_style = 1;
		} else if (strcasecmp(v, "virtual") == 0) {
			c->path_style = 0;
		} else if (strcasecmp(v, "auto") != 0) {
			gm_buf_reset(&files);
			where(&src, &files);
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "%s: addressing_style must be auto, virtual or path",
			                gm_buf_cstr(&files));
			goto out;
		}
	}
out:
	if (rc != GM_OK) {
		gm_aws_config_release(c);
		gm_aws_config_init(c);
	}
	ini_release(&x.cred);
	ini_release(&x.conf);
	gm_buf_release(&x.conf_sec);
	gm_buf_release(&path);
	gm_buf_release(&files);
	return rc;
}

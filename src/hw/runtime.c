/* Container runtimes and Kubernetes on the host: whether docker and containerd are
 * installed and configured with the NVIDIA runtime, whether the NVIDIA container toolkit is
 * there, whether the node runs a kubelet and the NVIDIA device plugin registered with it.
 * A GPU workload that moves onto the host needs all of them; this reads their files under
 * the root prefix (never runs them). */
#include "hw/host.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/sysfs.h"
#include "util/doc.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define DOCKER_CONFIG     "/etc/docker/daemon.json"
#define CONTAINERD_CONFIG "/etc/containerd/config.toml"
#define CONTAINERD_DROPIN "/etc/containerd/conf.d"
#define DEVICE_PLUGINS    "/var/lib/kubelet/device-plugins"

/* b becomes false, failed with "cannot read <path>: <cause of rc/err>" (see sysfs.h). */
static void bool_fail_read(struct gm_fbool *b, const char *path, enum gm_rc rc,
                           const struct gm_err *err)
{
	b->v = false;
	gm_sysfs_fail_read(&b->f, path, rc, err);
}

/* b becomes false, failed with "cannot read <path>: <strerror(errnum)>". */
static void bool_fail_errno(struct gm_fbool *b, const char *path, int errnum)
{
	b->v = false;
	gm_sysfs_fail_errno(&b->f, path, errnum);
}

static bool any_exists(const struct gm_root *root, const char *const *paths)
{
	for (; *paths; paths++)
		if (gm_root_exists(root, *paths))
			return true;
	return false;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* --- docker ------------------------------------------------------------------------- */

static bool nvidia_runtime_path(struct fy_node *runtime)
{
	const char *path = gm_doc_scalar(gm_doc_get(runtime, "path"));
	if (!path)
		return false;
	return has_prefix(gm_sysfs_base_name(path), "nvidia-container-runtime");
}

/* daemon.json: {"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}},
 * "default-runtime": "nvidia"} as nvidia-ctk writes it. */
static void docker_nvidia(struct gm_host *host, const struct gm_root *root)
{
	struct gm_buf text = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_doc doc = {0};
	enum gm_rc rc = gm_root_read(root, DOCKER_CONFIG, &text, &err);
	if (rc == GM_ERR_NOT_FOUND || (rc == GM_OK && text.len == 0)) {
		gm_fbool_set(&host->docker_nvidia, false);
		goto out;
	}
	if (rc != GM_OK) {
		bool_fail_read(&host->docker_nvidia, DOCKER_CONFIG, rc, &err);
		goto out;
	}
	if (gm_doc_load_string(&doc, DOCKER_CONFIG, text.data, text.len, &err) != GM_OK) {
		host->docker_nvidia.v = false;
		gm_fact_fail(&host->docker_nvidia.f, GM_FACT_ERROR, gm_err_msg(&err));
		goto out;
	}
	struct fy_node *top = gm_doc_root(&doc);
	bool yes = false;
	const char *def = gm_doc_scalar(gm_doc_get(top, "default-runtime"));
	if (def && strcmp(def, "nvidia") == 0)
		yes = true;
	struct fy_node *runtimes = gm_doc_get(top, "runtimes");
	int n = gm_doc_is_map(runtimes) ? gm_doc_map_len(runtimes) : 0;
	for (int i = 0; i < n && !yes; i++) {
		const char *key = gm_doc_map_key_at(runtimes, i);
		if ((key && strcmp(key, "nvidia") == 0) ||
		    nvidia_runtime_path(gm_doc_map_value_at(runtimes, i)))
			yes = true;
	}
	gm_fbool_set(&host->docker_nvidia, yes);
out:
	gm_doc_release(&doc);
	gm_err_release(&err);
	gm_buf_release(&text);
}

/* --- containerd --------------------------------------------------------------------- */

#define KEY_PARTS 24

/* A dotted TOML key or table name, split: plugins."io.containerd.grpc.v1.cri".containerd
 * is three parts. Parts past KEY_PARTS are dropped. */
struct key_path {
	struct gm_buf part[KEY_PARTS];
	size_t n;
};

static void key_path_release(struct key_path *kp)
{
	for (size_t i = 0; i < KEY_PARTS; i++)
		gm_buf_release(&kp->part[i]);
	kp->n = 0;
}

/* Parses a dotted key at s into kp (replacing it), up to '=' or ']' outside quotes; returns
 * where it stopped. */
static const char *key_parse(const char *s, struct key_path *kp)
{
	kp->n = 0;
	struct gm_buf *cur = &kp->part[0];
	gm_buf_reset(cur);
	gm_buf_adds(cur, "");
	bool any = false;
	for (; *s && *s != '=' && *s != ']'; s++) {
		if (*s == '"' || *s == '\'') {
			char q = *s++;
			for (; *s && *s != q; s++) {
				if (q == '"' && *s == '\\' && s[1])
					s++;
				gm_buf_addch(cur, *s);
			}
			any = true;
			if (!*s)
				break;
		} else if (*s == '.') {
			if (kp->n + 1 < KEY_PARTS) {
				cur = &kp->part[++kp->n];
				gm_buf_reset(cur);
				gm_buf_adds(cur, "");
			}
			any = false;
		} else if (*s != ' ' && *s != '\t') {
			gm_buf_addch(cur, *s);
			any = true;
		}
	}
	if (any || kp->n)
		kp->n++;
	return s;
}

static const char *kp_at(const struct key_path *table, const struct key_path *key, size_t i)
{
	return i < table->n ? table->part[i].data : key->part[i - table->n].data;
}

/* Whether table + key names a runtime "nvidia" (…runtimes.nvidia…), or sets BinaryName of a
 * runtime to nvidia-container-runtime. */
static bool toml_nvidia_key(const struct key_path *table, const struct key_path *key,
                            const char *value)
{
	size_t n = table->n + key->n;
	bool in_runtimes = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kp_at(table, key, i), "runtimes") != 0)
			continue;
		in_runtimes = true;
		if (i + 1 < n && strcmp(kp_at(table, key, i + 1), "nvidia") == 0)
			return true;
	}
	return in_runtimes && value && n && strcmp(kp_at(table, key, n - 1), "BinaryName") == 0 &&
	       strstr(value, "nvidia-container-runtime");
}

/* Cuts a TOML line at a '#' that is outside quotes. */
static void strip_comment(char *line)
{
	char q = 0;
	for (char *c = line; *c; c++) {
		if (q) {
			if (q == '"' && *c == '\\' && c[1])
				c++;
			else if (*c == q)
				q = 0;
		} else if (*c == '"' || *c == '\'') {
			q = *c;
		} else if (*c == '#') {
			*c = '\0';
			return;
		}
	}
}

/* The change of [ ] nesting over a (comment-free) line, outside quotes. */
static int bracket_depth(const char *s)
{
	int depth = 0;
	char q = 0;
	for (; *s; s++) {
		if (q) {
			if (q == '"' && *s == '\\' && s[1])
				s++;
			else if (*s == q)
				q = 0;
		} else if (*s == '"' || *s == '\'') {
			q = *s;
		} else if (*s == '[') {
			depth++;
		} else if (*s == ']') {
			depth--;
		}
	}
	return depth;
}

/* A line scan of containerd's TOML: tables and dotted keys are enough to see the runtimes.
 * Multi-line strings and the continuation lines of multi-line arrays are skipped so their
 * contents are not taken for tables or keys. */
static bool toml_has_nvidia(const char *text)
{
	struct key_path table = {0}, key = {0};
	struct gm_buf line = GM_BUF_INIT;
	const char *ml = NULL; /* closing delimiter of the multi-line string we are in */
	int depth = 0;         /* open brackets of a multi-line array */
	bool yes = false;
	const char *p = text;
	while (!yes && *p) {
		size_t len = strcspn(p, "\n");
		gm_buf_reset(&line);
		gm_buf_add(&line, p, len);
		p += len + (p[len] == '\n');
		char *l = line.data;
		if (ml) {
			if (strstr(l, ml))
				ml = NULL;
			continue;
		}
		strip_comment(l);
		if (depth > 0) {
			depth += bracket_depth(l);
			continue;
		}
		while (*l == ' ' || *l == '\t')
			l++;
		if (l[0] == '[' && l[1] != '[') {
			key_parse(l + 1, &table);
			key.n = 0;
			yes = toml_nvidia_key(&table, &key, NULL);
			continue;
		}
		if (l[0] == '[') { /* [[array.of.tables]]: not used for runtimes */
			table.n = 0;
			continue;
		}
		const char *eq = key_parse(l, &key);
		if (*eq != '=' || key.n == 0)
			continue;
		const char *value = eq + 1;
		yes = toml_nvidia_key(&table, &key, value);
		depth = bracket_depth(value);
		if (depth < 0)
			depth = 0;
		const char *delims[] = {"\"\"\"", "'''"};
		for (size_t i = 0; i < 2; i++) {
			const char *open = strstr(value, delims[i]);
			if (open && !strstr(open + 3, delims[i]))
				ml = delims[i];
		}
	}
	gm_buf_release(&line);
	key_path_release(&key);
	key_path_release(&table);
	return yes;
}

/* Reads one containerd config; NOT_FOUND is fine, other failures mark the fact. */
static bool containerd_file(struct gm_host *host, const struct gm_root *root, const char *path,
                            bool *yes)
{
	struct gm_buf text = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_root_read(root, path, &text, &err);
	if (rc == GM_OK && toml_has_nvidia(text.data))
		*yes = true;
	else if (rc != GM_OK && rc != GM_ERR_NOT_FOUND)
		bool_fail_read(&host->containerd_nvidia, path, rc, &err);
	gm_err_release(&err);
	gm_buf_release(&text);
	return rc == GM_OK || rc == GM_ERR_NOT_FOUND;
}

static void containerd_nvidia(struct gm_host *host, const struct gm_root *root)
{
	bool yes = false;
	if (!containerd_file(host, root, CONTAINERD_CONFIG, &yes))
		return;
	DIR *d = gm_root_opendir(root, CONTAINERD_DROPIN);
	if (d) {
		struct gm_buf path = GM_BUF_INIT;
		struct dirent *de;
		bool ok = true;
		while (ok && !yes && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".toml"))
				continue;
			gm_buf_reset(&path);
			gm_buf_addf(&path, CONTAINERD_DROPIN "/%s", de->d_name);
			ok = containerd_file(host, root, path.data, &yes);
		}
		closedir(d);
		gm_buf_release(&path);
		if (!ok)
			return;
	}
	gm_fbool_set(&host->containerd_nvidia, yes);
}

/* --- kubelet ------------------------------------------------------------------------ */

static void device_plugin(struct gm_host *host, const struct gm_root *root)
{
	DIR *d = gm_root_opendir(root, DEVICE_PLUGINS);
	if (!d) {
		if (errno == ENOENT)
			gm_fbool_set(&host->device_plugin, false);
		else
			bool_fail_errno(&host->device_plugin, DEVICE_PLUGINS, errno);
		return;
	}
	bool yes = false;
	struct dirent *de;
	while (!yes && (de = readdir(d)) != NULL)
		if (has_prefix(de->d_name, "nvidia") && has_suffix(de->d_name, ".sock"))
			yes = true;
	closedir(d);
	gm_fbool_set(&host->device_plugin, yes);
}

void gm_host_collect_runtime(struct gm_host *host, const struct gm_root *root)
{
	static const char *const docker[] = {"/usr/bin/dockerd", "/usr/sbin/dockerd",
	                                     "/usr/local/bin/dockerd", "/etc/docker", NULL};
	static const char *const containerd[] = {"/usr/bin/containerd", "/usr/local/bin/containerd",
	                                         CONTAINERD_CONFIG, NULL};
	static const char *const ctk[] = {"/usr/bin/nvidia-ctk",
	                                  "/usr/bin/nvidia-container-runtime", NULL};
	static const char *const kubelet[] = {"/usr/bin/kubelet", "/usr/local/bin/kubelet",
	                                      "/var/lib/kubelet/config.yaml",
	                                      "/etc/kubernetes/kubelet.conf", NULL};
	struct gm_fbool *all[] = {&host->docker,       &host->docker_nvidia,
	                          &host->containerd,   &host->containerd_nvidia,
	                          &host->nvidia_ctk,   &host->kubelet,
	                          &host->device_plugin};

	/* "Not installed" is only a finding when the root is a system at all. */
	if (!gm_root_exists(root, "/etc") && !gm_root_exists(root, "/usr")) {
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			bool_fail_errno(all[i], "/etc", ENOENT);
		return;
	}
	gm_fbool_set(&host->docker, any_exists(root, docker));
	docker_nvidia(host, root);
	gm_fbool_set(&host->containerd, any_exists(root, containerd));
	containerd_nvidia(host, root);
	gm_fbool_set(&host->nvidia_ctk, any_exists(root, ctk));
	gm_fbool_set(&host->kubelet, any_exists(root, kubelet));
	device_plugin(host, root);
}

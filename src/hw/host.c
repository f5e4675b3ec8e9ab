/* The host part of the inventory that comes from procfs, /etc and a few sysfs directories:
 * hostname, OS release, kernel, command line, IOMMU, kernel modules, CPU/NUMA/memory, swap
 * and /dev/nvidia nodes. Everything is read through a root prefix so the same code runs on
 * the live host and on fixture trees; what cannot be read becomes a fact with the reason,
 * naming the path as it is on the host (never the fixture's full path). */
#include "hw/host.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "hw/sysfs.h"
#include "util/xalloc.h"
#include "util/banned.h"

static bool live_root(const struct gm_root *root)
{
	return !root || !root->dir || !root->dir[0] || strcmp(root->dir, "/") == 0;
}

/* A string fact that failed drops any value it held. */
static void str_fail(struct gm_fstr *s, enum gm_fact_state state, const char *why)
{
	GM_FREE(s->v);
	gm_fact_fail(&s->f, state, why);
}

static void str_copy_fail(struct gm_fstr *s, const struct gm_fact *from)
{
	str_fail(s, from->state, from->why);
}

static void int_fail(struct gm_fint *i, enum gm_fact_state state, const char *why)
{
	i->v = 0;
	gm_fact_fail(&i->f, state, why);
}

static void bool_fail(struct gm_fbool *b, enum gm_fact_state state, const char *why)
{
	b->v = false;
	gm_fact_fail(&b->f, state, why);
}

/* Reads path into out; on failure marks f and returns false. */
static bool read_or_fail(const struct gm_root *root, const char *path, struct gm_buf *out,
                         struct gm_fact *f)
{
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_root_read(root, path, out, &err);
	if (rc != GM_OK)
		gm_sysfs_fail_read(f, path, rc, &err);
	gm_err_release(&err);
	return rc == GM_OK;
}

static void read_str(struct gm_fstr *s, const struct gm_root *root, const char *path)
{
	struct gm_buf text = GM_BUF_INIT;
	if (read_or_fail(root, path, &text, &s->f))
		gm_fstr_take(s, gm_buf_detach(&text));
	else
		GM_FREE(s->v);
	gm_buf_release(&text);
}

/* The entries of d named prefix followed by digits ("node0"; with "" the all-digit names);
 * closes d. */
static int64_t count_numbered(DIR *d, const char *prefix)
{
	int64_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (gm_sysfs_prefix_digits(de->d_name, prefix))
			n++;
	closedir(d);
	return n;
}

/* Next line of text at *p (without the newline) into line; false at the end. */
static bool next_line(const char **p, struct gm_buf *line)
{
	if (!**p)
		return false;
	const char *nl = strchr(*p, '\n');
	size_t len = nl ? (size_t)(nl - *p) : strlen(*p);
	gm_buf_reset(line);
	gm_buf_add(line, *p, len);
	*p += nl ? len + 1 : len;
	return true;
}

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* --- os-release --------------------------------------------------------------------- */

/* Parses one os-release value the way a POSIX shell reads an assignment: double quotes with
 * \" \\ \$ \` escapes, single quotes taken literally, a backslash outside quotes escapes the
 * next character, unquoted whitespace ends the value (what follows is a comment). */
static void osr_value(const char *s, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_adds(out, "");
	char quote = 0;
	for (; *s; s++) {
		char c = *s;
		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else
				gm_buf_addch(out, c);
		} else if (quote == '"') {
			if (c == '"')
				quote = 0;
			else if (c == '\\' && s[1] && strchr("\"\\$`", s[1]))
				gm_buf_addch(out, *++s);
			else
				gm_buf_addch(out, c);
		} else if (c == '"' || c == '\'') {
			quote = c;
		} else if (c == '\\' && s[1]) {
			gm_buf_addch(out, *++s);
		} else if (c == ' ' || c == '\t' || c == '\r') {
			break;
		} else {
			gm_buf_addch(out, c);
		}
	}
}

/* Reads os-release; /etc/os-release first, /usr/lib/os-release as the spec says. An
 * absolute symlink (/etc/os-release -> /usr/lib/os-release) is followed inside the root. */
static enum gm_rc osr_read(const struct gm_root *root, struct gm_buf *text, const char **used,
                           struct gm_fact *fail)
{
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf target = GM_BUF_INIT;
	const char *path = "/etc/os-release";
	if (!live_root(root) && gm_root_readlink(root, path, &target, NULL) == GM_OK &&
	    target.data[0] == '/')
		path = target.data;
	enum gm_rc rc = gm_root_read(root, path, text, &err);
	if (rc == GM_OK) {
		*used = "/etc/os-release";
		goto out;
	}
	gm_sysfs_fail_read(fail, "/etc/os-release", rc, &err);
	if (rc == GM_ERR_NOT_FOUND) {
		gm_err_clear(&err);
		rc = gm_root_read(root, "/usr/lib/os-release", text, &err);
		if (rc == GM_OK)
			*used = "/usr/lib/os-release";
	}
out:
	gm_buf_release(&target);
	gm_err_release(&err);
	return rc;
}

static void collect_os_release(struct gm_host *host, const struct gm_root *root)
{
	struct {
		const char *key;
		struct gm_fstr *dst;
		bool seen;
	} keys[] = {
	        {"ID", &host->os_id, false},
	        {"VERSION_ID", &host->os_version_id, false},
	        {"PRETTY_NAME", &host->os_pretty, false},
	};
	const size_t n_keys = sizeof(keys) / sizeof(keys[0]);
	struct gm_buf text = GM_BUF_INIT, line = GM_BUF_INIT, val = GM_BUF_INIT;
	struct gm_fact fail = {0};
	const char *used = NULL;

	if (osr_read(root, &text, &used, &fail) != GM_OK) {
		for (size_t i = 0; i < n_keys; i++)
			str_copy_fail(keys[i].dst, &fail);
		goto out;
	}
	const char *p = gm_buf_cstr(&text);
	while (next_line(&p, &line)) {
		const char *l = line.data;
		const char *eq = strchr(l, '=');
		if (*l == '#' || !eq)
			continue;
		for (size_t i = 0; i < n_keys; i++) {
			size_t klen = strlen(keys[i].key);
			if ((size_t)(eq - l) != klen || strncmp(l, keys[i].key, klen) != 0)
				continue;
			osr_value(eq + 1, &val);
			gm_fstr_take(keys[i].dst, gm_buf_detach(&val));
			keys[i].seen = true;
		}
	}
	for (size_t i = 0; i < n_keys; i++) {
		if (keys[i].seen)
			continue;
		struct gm_buf why = GM_BUF_INIT;
		gm_buf_addf(&why, "no %s in %s", keys[i].key, used);
		str_fail(keys[i].dst, GM_FACT_UNSUPPORTED, gm_buf_cstr(&why));
		gm_buf_release(&why);
	}
out:
	gm_fact_release(&fail);
	gm_buf_release(&val);
	gm_buf_release(&line);
	gm_buf_release(&text);
}

/* --- kernel ------------------------------------------------------------------------- */

static void collect_arch(struct gm_host *host, const struct gm_root *root)
{
	if (live_root(root)) {
		struct utsname u;
		if (uname(&u) == 0)
			gm_fstr_set(&host->arch, u.machine);
		else
			str_fail(&host->arch, GM_FACT_ERROR, "uname failed");
		return;
	}
	struct gm_buf text = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_root_read(root, "/proc/sys/kernel/arch", &text, &err);
	if (rc == GM_OK) {
		gm_fstr_take(&host->arch, gm_buf_detach(&text));
	} else if (rc == GM_ERR_NOT_FOUND && gm_root_exists(root, "/proc/sys/kernel")) {
		/* A root is a copy of files: the machine type of its kernel is not a file
		 * before Linux added kernel.arch, and uname here would describe this host. */
		str_fail(&host->arch, GM_FACT_UNKNOWN, "not recorded in the root");
	} else {
		GM_FREE(host->arch.v);
		gm_sysfs_fail_read(&host->arch.f, "/proc/sys/kernel/arch", rc, &err);
	}
	gm_err_release(&err);
	gm_buf_release(&text);
}

/* Next word of the kernel command line: words are separated by spaces, and double quotes
 * group (and are removed), as the kernel's own next_arg() does. */
static bool cmdline_next(const char **p, struct gm_buf *word)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!*s) {
		*p = s;
		return false;
	}
	gm_buf_reset(word);
	gm_buf_adds(word, "");
	bool quoted = false;
	for (; *s; s++) {
		if (*s == '"') {
			quoted = !quoted;
			continue;
		}
		if (!quoted && (*s == ' ' || *s == '\t' || *s == '\n'))
			break;
		gm_buf_addch(word, *s);
	}
	*p = s;
	return true;
}

/* Whether item appears in the comma-separated list. */
static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, item, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* A kernel boolean (kstrtobool): 1/y/Y/on true, 0/n/N/off false; -1 for anything else. */
static int kbool(const char *v)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "y") == 0 || strcmp(v, "Y") == 0 ||
	    strcmp(v, "on") == 0)
		return 1;
	if (strcmp(v, "0") == 0 || strcmp(v, "n") == 0 || strcmp(v, "N") == 0 ||
	    strcmp(v, "off") == 0)
		return 0;
	return -1;
}

struct cmdline_iommu {
	const char *vendor; /* from intel_iommu= / amd_iommu= */
	bool passthrough;   /* the last of iommu=pt|nopt, iommu.passthrough= wins */
};

static void cmdline_scan(const char *cmdline, struct cmdline_iommu *out)
{
	struct gm_buf word = GM_BUF_INIT;
	const char *p = cmdline;
	while (cmdline_next(&p, &word)) {
		const char *w = word.data;
		if (strncmp(w, "intel_iommu=", 12) == 0) {
			if (list_has(w + 12, "on"))
				out->vendor = "intel";
		} else if (strncmp(w, "amd_iommu=", 10) == 0) {
			if (!list_has(w + 10, "off"))
				out->vendor = "amd";
		} else if (strncmp(w, "iommu=", 6) == 0) {
			if (list_has(w + 6, "pt"))
				out->passthrough = true;
			else if (list_has(w + 6, "nopt"))
				out->passthrough = false;
		} else if (strncmp(w, "iommu.passthrough=", 18) == 0) {
			int b = kbool(w + 18);
			if (b >= 0)
				out->passthrough = b == 1;
		}
	}
	gm_buf_release(&word);
}

/* The IOMMU hardware the kernel registered, from /sys/class/iommu: dmar* are Intel VT-d
 * units, ivhd* AMD-Vi, smmu* Arm SMMUs. NULL when the directory lists none of them. */
static const char *class_iommu_vendor(const struct gm_root *root)
{
	const char *vendor = NULL;
	DIR *d = gm_root_opendir(root, "/sys/class/iommu");
	if (!d)
		return NULL;
	struct dirent *de;
	while (!vendor && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "dmar", 4) == 0)
			vendor = "intel";
		else if (strncmp(de->d_name, "ivhd", 4) == 0)
			vendor = "amd";
		else if (strncmp(de->d_name, "smmu", 4) == 0)
			vendor = "arm";
	}
	closedir(d);
	return vendor;
}

static void collect_iommu(struct gm_host *host, const struct gm_root *root)
{
	const char *groups_path = "/sys/kernel/iommu_groups";
	DIR *d = gm_root_opendir(root, groups_path);
	int open_errno = errno;
	if (d) {
		int64_t n = count_numbered(d, "");
		gm_fint_set(&host->iommu_groups, n);
		gm_fbool_set(&host->iommu_enabled, n > 0);
	} else if (open_errno == ENOENT && gm_root_exists(root, "/sys/kernel")) {
		/* Kernels built without IOMMU support have no such directory. */
		gm_fint_set(&host->iommu_groups, 0);
		gm_fbool_set(&host->iommu_enabled, false);
	} else {
		gm_sysfs_fail_errno(&host->iommu_groups.f, groups_path, open_errno);
		host->iommu_groups.v = 0;
		gm_fact_copy(&host->iommu_enabled.f, &host->iommu_groups.f);
		host->iommu_enabled.v = false;
	}

	struct cmdline_iommu cl = {0};
	bool have_cmdline = gm_fact_ok(&host->kernel_cmdline.f);
	if (have_cmdline)
		cmdline_scan(host->kernel_cmdline.v, &cl);

	if (have_cmdline)
		gm_fbool_set(&host->iommu_passthrough, cl.passthrough);
	else
		bool_fail(&host->iommu_passthrough, host->kernel_cmdline.f.state,
		          host->kernel_cmdline.f.why);

	const char *vendor = class_iommu_vendor(root);
	if (!vendor)
		vendor = cl.vendor;
	if (vendor)
		gm_fstr_set(&host->iommu_vendor, vendor);
	else if (gm_fact_ok(&host->iommu_enabled.f) && !host->iommu_enabled.v)
		str_fail(&host->iommu_vendor, GM_FACT_UNSUPPORTED, "IOMMU off");
	else if (!have_cmdline)
		str_copy_fail(&host->iommu_vendor, &host->kernel_cmdline.f);
	else if (!gm_fact_ok(&host->iommu_enabled.f))
		str_copy_fail(&host->iommu_vendor, &host->iommu_enabled.f);
	else
		str_fail(&host->iommu_vendor, GM_FACT_UNSUPPORTED,
		         "IOMMU vendor not identified (no dmar/ivhd unit in /sys/class/iommu)");
}

/* --- modules ------------------------------------------------------------------------ */

static void collect_modules(struct gm_host *host, const struct gm_root *root)
{
	struct {
		const char *name;
		struct gm_fbool *dst;
	} mods[] = {
	        {"nvidia", &host->mod_nvidia},
	        {"nvidia_uvm", &host->mod_nvidia_uvm},
	        {"nvidia_peermem", &host->mod_nvidia_peermem},
	        {"nvidia_drm", &host->mod_nvidia_drm},
	        {"nouveau", &host->mod_nouveau},
	};
	const size_t n_mods = sizeof(mods) / sizeof(mods[0]);
	struct gm_buf text = GM_BUF_INIT, line = GM_BUF_INIT;
	struct gm_fact fail = {0};

	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_root_read(root, "/proc/modules", &text, &err);
	if (rc == GM_ERR_NOT_FOUND && gm_root_exists(root, "/sys/module")) {
		/* A kernel without loadable modules has no /proc/modules; /sys/module/<name>
		 * is there for what is loaded or built in (with parameters, as these have). */
		for (size_t i = 0; i < n_mods; i++) {
			gm_buf_reset(&line);
			gm_buf_addf(&line, "/sys/module/%s", mods[i].name);
			gm_fbool_set(mods[i].dst, gm_root_exists(root, line.data));
		}
		goto out;
	}
	if (rc != GM_OK) {
		gm_sysfs_fail_read(&fail, "/proc/modules", rc, &err);
		for (size_t i = 0; i < n_mods; i++)
			bool_fail(mods[i].dst, fail.state, fail.why);
		goto out;
	}
	for (size_t i = 0; i < n_mods; i++)
		gm_fbool_set(mods[i].dst, false);
	const char *p = gm_buf_cstr(&text);
	while (next_line(&p, &line)) {
		size_t len = strcspn(line.data, " \t");
		for (size_t i = 0; i < n_mods; i++)
			if (strlen(mods[i].name) == len &&
			    strncmp(line.data, mods[i].name, len) == 0)
				mods[i].dst->v = true;
	}
out:
	gm_err_release(&err);
	gm_fact_release(&fail);
	gm_buf_release(&line);
	gm_buf_release(&text);
}

/* --- CPU, NUMA, memory -------------------------------------------------------------- */

/* Number of CPUs in a kernel CPU list ("0-31,64-95"); -1 when malformed. */
static int64_t cpulist_count(const char *s)
{
	int64_t n = 0;
	if (!*s)
		return 0;
	for (;;) {
		char *end = NULL;
		if (*s < '0' || *s > '9')
			return -1;
		unsigned long a = strtoul(s, &end, 10), b = a;
		s = end;
		if (*s == '-') {
			s++;
			if (*s < '0' || *s > '9')
				return -1;
			b = strtoul(s, &end, 10);
			s = end;
		}
		if (b < a || b - a > 1u << 20)
			return -1;
		n += (int64_t)(b - a + 1);
		if (*s == '\0')
			return n;
		if (*s != ',')
			return -1;
		s++;
	}
}

struct core_id {
	int64_t pkg, core;
};

static int core_cmp(const void *a, const void *b)
{
	const struct core_id *x = a, *y = b;
	if (x->pkg != y->pkg)
		return x->pkg < y->pkg ? -1 : 1;
	return x->core < y->core ? -1 : x->core > y->core;
}

struct cpu_topo {
	struct core_id *ids;
	size_t n, cap;
	bool incomplete; /* some CPU had no package or core id */
};

static void topo_add(struct cpu_topo *t, int64_t pkg, int64_t core)
{
	if (pkg < 0 || core < 0) {
		t->incomplete = true;
		return;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->ids = gm_xreallocarray(t->ids, t->cap, sizeof(*t->ids));
	}
	t->ids[t->n++] = (struct core_id){pkg, core};
}

/* Distinct packages and distinct (package, core) pairs. */
static void topo_count(struct cpu_topo *t, int64_t *sockets, int64_t *cores)
{
	*sockets = *cores = 0;
	if (!t->n)
		return;
	qsort(t->ids, t->n, sizeof(*t->ids), core_cmp);
	for (size_t i = 0; i < t->n; i++) {
		if (i == 0 || t->ids[i].pkg != t->ids[i - 1].pkg)
			++*sockets;
		if (i == 0 || core_cmp(&t->ids[i], &t->ids[i - 1]) != 0)
			++*cores;
	}
}

/* The package and core ids of every online CPU from sysfs (for /proc/cpuinfo without
 * "physical id", as on Arm). */
static void topo_from_sysfs(const struct gm_root *root, struct cpu_topo *t)
{
	DIR *d = gm_root_opendir(root, "/sys/devices/system/cpu");
	if (!d) {
		t->incomplete = true;
		return;
	}
	struct gm_buf path = GM_BUF_INIT, text = GM_BUF_INIT;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!gm_sysfs_prefix_digits(de->d_name, "cpu"))
			continue;
		int64_t pkg = -1, core = -1;
		gm_buf_reset(&path);
		gm_buf_addf(&path, "/sys/devices/system/cpu/%s/topology/physical_package_id",
		            de->d_name);
		if (gm_root_read(root, path.data, &text, NULL) != GM_OK)
			continue; /* offline CPUs have no topology */
		if (gm_parse_i64(text.data, 10, &pkg) != GM_OK)
			pkg = -1;
		gm_buf_reset(&path);
		gm_buf_addf(&path, "/sys/devices/system/cpu/%s/topology/core_id", de->d_name);
		if (gm_root_read(root, path.data, &text, NULL) != GM_OK ||
		    gm_parse_i64(text.data, 10, &core) != GM_OK)
			core = -1;
		topo_add(t, pkg, core);
	}
	closedir(d);
	gm_buf_release(&text);
	gm_buf_release(&path);
}

/* One "key : value" line of /proc/cpuinfo; false for lines without a colon. */
static bool cpuinfo_kv(const char *line, struct gm_buf *key, const char **value)
{
	const char *colon = strchr(line, ':');
	if (!colon)
		return false;
	gm_buf_reset(key);
	gm_buf_add(key, line, (size_t)(colon - line));
	gm_buf_rtrim(key);
	*value = skip_space(colon + 1);
	return true;
}

static void collect_cpu(struct gm_host *host, const struct gm_root *root)
{
	struct gm_buf text = GM_BUF_INIT, line = GM_BUF_INIT, key = GM_BUF_INIT;
	struct gm_buf online = GM_BUF_INIT;
	struct cpu_topo topo = {0};
	struct gm_fact cpuinfo = {0}, online_f = {0};
	int64_t processors = 0, pkg = -1, core = -1, n_online = -1;
	char *model = NULL;

	if (read_or_fail(root, "/sys/devices/system/cpu/online", &online, &online_f)) {
		n_online = cpulist_count(online.data);
		if (n_online < 0)
			gm_sysfs_fail_fmt(&online_f, GM_FACT_ERROR, "unexpected CPU list in",
			                  "/sys/devices/system/cpu/online", online.data);
	}

	bool have_cpuinfo = read_or_fail(root, "/proc/cpuinfo", &text, &cpuinfo);
	if (have_cpuinfo) {
		const char *p = gm_buf_cstr(&text);
		while (next_line(&p, &line)) {
			const char *v;
			if (!cpuinfo_kv(line.data, &key, &v))
				continue;
			if (strcmp(key.data, "processor") == 0) {
				if (processors++)
					topo_add(&topo, pkg, core);
				pkg = core = -1;
			} else if (strcmp(key.data, "model name") == 0 && !model) {
				model = gm_xstrdup(v);
			} else if (strcmp(key.data, "physical id") == 0) {
				if (gm_parse_i64(v, 10, &pkg) != GM_OK)
					pkg = -1;
			} else if (strcmp(key.data, "core id") == 0) {
				if (gm_parse_i64(v, 10, &core) != GM_OK)
					core = -1;
			}
		}
		if (processors)
			topo_add(&topo, pkg, core);
	}

	/* model */
	if (model) {
		gm_fstr_take(&host->cpu_model, model);
		model = NULL;
	} else if (have_cpuinfo)
		str_fail(&host->cpu_model, GM_FACT_UNSUPPORTED, "no model name in /proc/cpuinfo");
	else
		str_copy_fail(&host->cpu_model, &cpuinfo);

	/* threads: /proc/cpuinfo lists the online CPUs, so it must agree with the online list */
	if (have_cpuinfo && processors > 0 && n_online >= 0 && processors != n_online) {
		struct gm_buf why = GM_BUF_INIT;
		gm_buf_addf(&why,
		            "/proc/cpuinfo lists %lld CPUs but /sys/devices/system/cpu/online %lld",
		            (long long)processors, (long long)n_online);
		int_fail(&host->cpu_threads, GM_FACT_ERROR, gm_buf_cstr(&why));
		gm_buf_release(&why);
	} else if (have_cpuinfo && processors > 0) {
		gm_fint_set(&host->cpu_threads, processors);
	} else if (n_online > 0) {
		gm_fint_set(&host->cpu_threads, n_online);
	} else {
		const struct gm_fact *why = have_cpuinfo ? &online_f : &cpuinfo;
		if (why->state == GM_FACT_UNKNOWN)
			int_fail(&host->cpu_threads, GM_FACT_ERROR, "no CPUs listed");
		else
			int_fail(&host->cpu_threads, why->state, why->why);
	}

	/* sockets and cores */
	if (topo.incomplete || topo.n == 0) {
		topo.n = 0;
		topo.incomplete = false;
		if (have_cpuinfo)
			topo_from_sysfs(root, &topo);
	}
	if (topo.n && !topo.incomplete) {
		int64_t sockets, cores;
		topo_count(&topo, &sockets, &cores);
		gm_fint_set(&host->cpu_sockets, sockets);
		gm_fint_set(&host->cpu_cores, cores);
	} else if (!have_cpuinfo) {
		int_fail(&host->cpu_sockets, cpuinfo.state, cpuinfo.why);
		int_fail(&host->cpu_cores, cpuinfo.state, cpuinfo.why);
	} else {
		const char *why = "no physical id/core id in /proc/cpuinfo or "
		                  "/sys/devices/system/cpu/cpu*/topology";
		int_fail(&host->cpu_sockets, GM_FACT_UNSUPPORTED, why);
		int_fail(&host->cpu_cores, GM_FACT_UNSUPPORTED, why);
	}

	free(model);
	free(topo.ids);
	gm_fact_release(&online_f);
	gm_fact_release(&cpuinfo);
	gm_buf_release(&online);
	gm_buf_release(&key);
	gm_buf_release(&line);
	gm_buf_release(&text);
}

static void collect_numa(struct gm_host *host, const struct gm_root *root)
{
	const char *path = "/sys/devices/system/node";
	DIR *d = gm_root_opendir(root, path);
	if (!d) {
		int open_errno = errno;
		if (open_errno == ENOENT && gm_root_exists(root, "/sys/devices/system"))
			int_fail(&host->numa_nodes, GM_FACT_UNSUPPORTED,
			         "no /sys/devices/system/node (kernel built without NUMA)");
		else
			gm_sysfs_fail_errno(&host->numa_nodes.f, path, open_errno);
		return;
	}
	int64_t n = count_numbered(d, "node");
	if (n)
		gm_fint_set(&host->numa_nodes, n);
	else
		int_fail(&host->numa_nodes, GM_FACT_UNSUPPORTED,
		         "no node in /sys/devices/system/node");
}

static void collect_memory(struct gm_host *host, const struct gm_root *root)
{
	struct gm_buf text = GM_BUF_INIT, line = GM_BUF_INIT;
	if (!read_or_fail(root, "/proc/meminfo", &text, &host->memory_total_bytes.f))
		goto out;
	const char *p = gm_buf_cstr(&text);
	while (next_line(&p, &line)) {
		if (strncmp(line.data, "MemTotal:", 9) != 0)
			continue;
		/* "MemTotal:       527759788 kB" */
		char *v = line.data + 9;
		size_t len = strlen(v);
		uint64_t kib;
		if (len >= 3 && strcmp(v + len - 3, " kB") == 0)
			v[len - 3] = '\0';
		if (gm_parse_u64(v, 10, &kib) == GM_OK && kib <= INT64_MAX / 1024)
			gm_fint_set(&host->memory_total_bytes, (int64_t)kib * 1024);
		else
			int_fail(&host->memory_total_bytes, GM_FACT_ERROR,
			         "unexpected MemTotal line in /proc/meminfo");
		goto out;
	}
	int_fail(&host->memory_total_bytes, GM_FACT_ERROR, "no MemTotal in /proc/meminfo");
out:
	gm_buf_release(&line);
	gm_buf_release(&text);
}

static void collect_swap(struct gm_host *host, const struct gm_root *root)
{
	struct gm_buf text = GM_BUF_INIT, line = GM_BUF_INIT;
	if (!read_or_fail(root, "/proc/swaps", &text, &host->swap_on.f))
		goto out;
	/* a header line, then one line per active swap area */
	const char *p = gm_buf_cstr(&text);
	size_t lines = 0;
	while (next_line(&p, &line))
		if (*skip_space(line.data))
			lines++;
	gm_fbool_set(&host->swap_on, lines > 1);
out:
	gm_buf_release(&line);
	gm_buf_release(&text);
}

static void collect_dev_nvidia(struct gm_host *host, const struct gm_root *root)
{
	DIR *d = gm_root_opendir(root, "/dev");
	if (!d) {
		gm_sysfs_fail_errno(&host->dev_nvidia_count.f, "/dev", errno);
		return;
	}
	gm_fint_set(&host->dev_nvidia_count, count_numbered(d, "nvidia"));
}

void gm_host_collect_os(struct gm_host *host, const struct gm_root *root)
{
	read_str(&host->hostname, root, "/proc/sys/kernel/hostname");
	collect_os_release(host, root);
	read_str(&host->kernel_release, root, "/proc/sys/kernel/osrelease");
	collect_arch(host, root);
	read_str(&host->kernel_cmdline, root, "/proc/cmdline");
	collect_iommu(host, root);
	collect_modules(host, root);
	collect_cpu(host, root);
	collect_numa(host, root);
	collect_memory(host, root);
	collect_swap(host, root);
	collect_dev_nvidia(host, root);
}

void gm_host_collect(struct gm_host *host, const struct gm_root *root)
{
	gm_host_collect_os(host, root);
	gm_host_collect_pci(host, root);
	gm_host_collect_nics(host, root);
	gm_host_collect_runtime(host, root);
}

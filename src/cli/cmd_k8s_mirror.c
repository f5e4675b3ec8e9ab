/* `gpumigrate k8s mirror`: copies images between registries (GCR / Artifact Registry to an
 * on-prem Harbor or registry) with the OCI registry client in src/k8s/oci.h; shows
 * progress on a TTY and a summary, or --json. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/k8s_cmds.h"
#include "k8s/manifest.h"
#include "k8s/oci.h"
#include "k8s/yaml.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum {
	OPT_MAP = 1,
	OPT_JOBS,
	OPT_ALL,
	OPT_PLATFORM,
	OPT_INSECURE,
	OPT_CHUNK,
	OPT_NO_PROGRESS,
	OPT_FROM_MANIFESTS,
};

#define MAX_INSECURE  32
#define MAX_MANIFESTS 256

const struct gm_opt gm_cmd_k8s_mirror_opts[] = {
        {OPT_MAP, "map", 'm', GM_ARG_REQUIRED, "RULES",
         "compute each destination from its source with prefix rules (a YAML list of "
         "{from, to}, or k8s rewrite's rules file); the operands are then sources only",
         "file"},
        {OPT_JOBS, "jobs", 'j', GM_ARG_REQUIRED, "N", "blobs copied in parallel (default 4)", NULL},
        {OPT_ALL, "all", 0, GM_ARG_NONE, NULL,
         "copy every platform of an index (the default; as skopeo copy --all)", NULL},
        {OPT_PLATFORM, "platform", 0, GM_ARG_REQUIRED, "OS/ARCH",
         "copy only this platform's image of an index (os/arch[/variant])", NULL},
        {OPT_INSECURE, "insecure-registry", 0, GM_ARG_REQUIRED, "HOST",
         "talk plain HTTP to HOST[:PORT] (repeatable; what skopeo calls tls-verify=false); "
         "an image written http://HOST/… does the same",
         NULL},
        {OPT_CHUNK, "chunk-size", 0, GM_ARG_REQUIRED, "BYTES",
         "upload chunk size, with K/M/G suffixes (default 16M)", NULL},
        {OPT_NO_PROGRESS, "no-progress", 0, GM_ARG_NONE, NULL, "never show progress", NULL},
        {OPT_FROM_MANIFESTS, "from-manifests", 'f', GM_ARG_REQUIRED, "PATH",
         "also copy every container image in these Kubernetes manifests (files or "
         "directories, repeatable; needs --map)",
         "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

struct progress {
	bool on;
	bool shown;
	const char *image;
};

static void human_bytes(uint64_t b, struct gm_buf *out)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 4)
		v /= 1024, u++;
	if (u == 0)
		gm_buf_addf(out, "%llu B", (unsigned long long)b);
	else
		gm_buf_addf(out, "%.1f %s", v, unit[u]);
}

static void on_progress(void *ctx, uint64_t bytes, uint64_t total, unsigned done, unsigned blobs)
{
	struct progress *p = ctx;
	struct gm_buf line = GM_BUF_INIT;
	if (!p->on)
		return;
	gm_buf_addf(&line, "\r\033[K%s: blobs %u/%u, ", p->image, done, blobs);
	human_bytes(bytes, &line);
	gm_buf_adds(&line, " of ");
	human_bytes(total, &line);
	if (write(STDERR_FILENO, line.data, line.len) < 0)
		p->on = false;
	p->shown = true;
	gm_buf_release(&line);
}

static void progress_clear(struct progress *p)
{
	if (p->shown && write(STDERR_FILENO, "\r\033[K", 4) < 0)
		p->on = false;
	p->shown = false;
}

struct images {
	char **v;
	size_t n;
};

static void images_add(struct images *im, const char *image)
{
	for (size_t i = 0; i < im->n; i++)
		if (strcmp(im->v[i], image) == 0)
			return;
	im->v = gm_xreallocarray(im->v, im->n + 1, sizeof(*im->v));
	im->v[im->n++] = gm_xstrdup(image);
}

static void on_container(void *ctx, struct gm_k8s_node *c)
{
	const char *image = gm_k8s_get_str(c, "image");
	if (image && *image)
		images_add(ctx, image);
}

static void on_pod_spec(void *ctx, struct gm_k8s_node *spec)
{
	gm_k8s_each_container(spec, on_container, ctx);
}

/* The container images of the manifests under paths, in order of appearance, once each
 * (the k8s scan walker finds pod templates in every kind it knows). */
static enum gm_rc collect_images(char **paths, size_t n_paths, struct images *im,
                                 struct gm_err *err)
{
	char **files = NULL;
	size_t n = 0;
	enum gm_rc rc = gm_k8s_find_files(paths, n_paths, &files, &n, err);
	for (size_t i = 0; rc == GM_OK && i < n; i++) {
		struct gm_k8s_file f;
		struct gm_k8s_object *objs = NULL;
		size_t n_objs = 0;
		memset(&f, 0, sizeof(f));
		rc = gm_k8s_file_load(&f, files[i], err);
		if (rc == GM_OK) {
			gm_k8s_objects(&f, &objs, &n_objs);
			for (size_t k = 0; k < n_objs; k++) {
				gm_k8s_each_pod_spec(&objs[k], on_pod_spec, im);
				gm_k8s_each_argo_container(&objs[k], on_container, im);
			}
			free(objs);
		}
		gm_k8s_file_release(&f);
	}
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return rc;
}

static bool parse_size(const char *s, size_t *out)
{
	struct gm_buf num = GM_BUF_INIT;
	uint64_t v = 0, mul = 1;
	size_t n = strlen(s);
	if (n && strchr("kKmMgG", s[n - 1])) {
		char c = s[n - 1];
		mul = (c == 'k' || c == 'K') ? 1024 : (c == 'm' || c == 'M') ? 1u << 20 : 1u << 30;
		n--;
	}
	gm_buf_add(&num, s, n);
	bool ok = n && gm_parse_u64(gm_buf_cstr(&num), 10, &v) == GM_OK && v >= 1 &&
	          v <= (1u << 30) / mul;
	gm_buf_release(&num);
	if (ok)
		*out = (size_t)(v * mul);
	return ok;
}

static volatile sig_atomic_t mirror_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	mirror_stop = 1;
}

int gm_cmd_k8s_mirror(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_oci_mirror_opts o = {0};
	const char *insecure[MAX_INSECURE + 1] = {NULL};
	size_t n_insecure = 0;
	const char *map_path = NULL;
	char *manifests[MAX_MANIFESTS];
	size_t n_manifests = 0;
	struct images im = {NULL, 0};
	bool all = false, no_progress = false;
	int id, code = GM_EXIT_OK;
	uint64_t u = 0;
	o.jobs = 4;
	o.chunk_size = GM_OCI_DEFAULT_CHUNK;
	o.insecure = insecure;
	(void)argv;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		const char *a = cli->optarg;
		switch (id) {
		case -2: return code;
		case OPT_MAP: map_path = a; break;
		case OPT_JOBS:
			if (gm_parse_u64(a, 10, &u) != GM_OK || u < 1 || u > 64)
				return gm_cli_usage_error(cli, "--jobs takes 1 to 64, not '%s'", a);
			o.jobs = (unsigned)u;
			break;
		case OPT_ALL: all = true; break;
		case OPT_PLATFORM:
			if (!strchr(a, '/') || a[0] == '/' || a[strlen(a) - 1] == '/')
				return gm_cli_usage_error(
				        cli, "--platform takes os/arch[/variant], not '%s'", a);
			o.platform = a;
			break;
		case OPT_INSECURE:
			if (n_insecure == MAX_INSECURE)
				return gm_cli_usage_error(cli,
				                          "at most %d --insecure-registry options",
				                          MAX_INSECURE);
			insecure[n_insecure++] = a;
			break;
		case OPT_CHUNK:
			if (!parse_size(a, &o.chunk_size))
				return gm_cli_usage_error(cli,
				                          "--chunk-size takes bytes from 1 to 1G "
				                          "(K/M/G suffix), not '%s'",
				                          a);
			break;
		case OPT_NO_PROGRESS: no_progress = true; break;
		case OPT_FROM_MANIFESTS:
			if (n_manifests == MAX_MANIFESTS)
				return gm_cli_usage_error(
				        cli, "at most %d --from-manifests options", MAX_MANIFESTS);
			manifests[n_manifests++] = (char *)a;
			break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	if (all && o.platform)
		return gm_cli_usage_error(cli, "--all and --platform exclude each other");
	if (n_manifests && !map_path)
		return gm_cli_usage_error(cli, "--from-manifests needs --map RULES to name the "
		                               "destinations");
	if (argc == 0 && !n_manifests)
		return gm_cli_usage_error(cli, "k8s mirror takes SRC_IMAGE DST_IMAGE (or sources "
		                               "with --map)");
	if (!map_path && argc % 2 != 0)
		return gm_cli_usage_error(cli, "k8s mirror takes pairs of SRC_IMAGE DST_IMAGE; use "
		                               "--map RULES to compute destinations");

	struct gm_oci_map map;
	struct gm_err err = GM_ERR_INIT;
	struct gm_oci_stats st = {0};
	struct gm_oci_mirror *m = NULL;
	struct gm_buf out = GM_BUF_INIT, dstname = GM_BUF_INIT, name = GM_BUF_INIT;
	struct gm_oci_ref src, dst;
	struct gm_json j;
	struct progress prog = {0};
	size_t n_images = 0, ok = 0, failed = 0;
	bool interrupted = false;
	gm_oci_map_init(&map);
	gm_oci_ref_init(&src);
	gm_oci_ref_init(&dst);
	if (map_path && gm_oci_map_load(map_path, &map, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (map_path)
		for (int i = 0; i < argc; i++)
			images_add(&im, args[i]);
	if (n_manifests && collect_images(manifests, n_manifests, &im, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	n_images = map_path ? im.n : (size_t)argc / 2;
	prog.on = !no_progress && !cli->json && !cli->quiet && isatty(STDERR_FILENO);
	o.progress = on_progress;
	o.progress_ctx = &prog;
	o.stop = &mirror_stop;
	/* the first signal lets the uploads in flight finish their chunk and keep their
	 * journals, so the next run resumes them; a second one ends the process at once */
	gm_cli_catch_stop(on_stop_signal, true);
	if (gm_oci_mirror_new(&o, &m, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	gm_json_init(&j, &out, true);
	gm_json_begin_object(&j, NULL);
	gm_json_begin_array(&j, "images");
	for (size_t i = 0; i < n_images && !interrupted; i++) {
		const char *s = map_path ? im.v[i] : args[2 * i];
		const char *d = NULL;
		struct gm_oci_stats before = st;
		const char *status = "failed";
		gm_err_clear(&err);
		if (map_path) {
			if (gm_oci_map_apply(&map, s, &dstname))
				d = gm_buf_cstr(&dstname);
			else
				gm_err_set(&err, GM_ERR_NOT_FOUND, "no rule in '%s' maps '%s'",
				           map_path, s);
		} else {
			d = args[2 * i + 1];
		}
		if (d && gm_oci_ref_parse(s, &src, &err) == GM_OK &&
		    gm_oci_ref_parse(d, &dst, &err) == GM_OK) {
			gm_buf_reset(&name);
			gm_oci_ref_format(&src, &name);
			prog.image = gm_buf_cstr(&name);
			gm_info("copying '%s' to '%s'", s, d);
			enum gm_rc rc = gm_oci_mirror_copy(m, &src, &dst, &st, &err);
			progress_clear(&prog);
			interrupted = rc == GM_ERR_INTERRUPTED;
			if (rc == GM_OK)
				status = st.images_skipped > before.images_skipped ? "present"
				                                                   : "copied";
		}
		if (strcmp(status, "failed") == 0) {
			failed++;
			if (st.images_failed == before.images_failed)
				st.images_failed++;
			gm_error("'%s': %s", s, gm_err_msg(&err));
		} else {
			ok++;
		}
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "source", s);
		gm_json_str(&j, "destination", d);
		gm_json_str(&j, "status", status);
		gm_json_uint(&j, "blobs_copied", st.blobs_copied - before.blobs_copied);
		gm_json_uint(&j, "blobs_mounted", st.blobs_mounted - before.blobs_mounted);
		gm_json_uint(&j, "blobs_skipped", st.blobs_skipped - before.blobs_skipped);
		gm_json_uint(&j, "bytes", st.bytes - before.bytes);
		gm_json_uint(&j, "bytes_resumed", st.bytes_resumed - before.bytes_resumed);
		if (strcmp(status, "failed") == 0)
			gm_json_str(&j, "error", gm_err_msg(&err));
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_begin_object(&j, "summary");
	gm_json_uint(&j, "images_copied", st.images_copied);
	gm_json_uint(&j, "images_present", st.images_skipped);
	gm_json_uint(&j, "images_failed", st.images_failed);
	gm_json_uint(&j, "manifests_copied", st.manifests_copied);
	gm_json_uint(&j, "manifests_skipped", st.manifests_skipped);
	gm_json_uint(&j, "blobs_copied", st.blobs_copied);
	gm_json_uint(&j, "blobs_mounted", st.blobs_mounted);
	gm_json_uint(&j, "blobs_skipped", st.blobs_skipped);
	gm_json_uint(&j, "bytes", st.bytes);
	gm_json_uint(&j, "bytes_resumed", st.bytes_resumed);
	gm_json_end_object(&j);
	gm_json_end_object(&j);
	gm_buf_addch(&out, '\n');
	if (!cli->json) {
		gm_buf_reset(&out);
		gm_buf_addf(&out, "images     %llu copied, %llu already present, %llu failed\n",
		            (unsigned long long)st.images_copied,
		            (unsigned long long)st.images_skipped,
		            (unsigned long long)st.images_failed);
		gm_buf_addf(&out, "manifests  %llu copied, %llu already present\n",
		            (unsigned long long)st.manifests_copied,
		            (unsigned long long)st.manifests_skipped);
		gm_buf_addf(&out, "blobs      %llu copied, %llu mounted, %llu already present\n",
		            (unsigned long long)st.blobs_copied,
		            (unsigned long long)st.blobs_mounted,
		            (unsigned long long)st.blobs_skipped);
		gm_buf_adds(&out, "bytes      ");
		human_bytes(st.bytes, &out);
		if (st.bytes_resumed) {
			gm_buf_adds(&out, " sent, ");
			human_bytes(st.bytes_resumed, &out);
			gm_buf_adds(&out, " resumed from an earlier run");
		}
		gm_buf_addch(&out, '\n');
	}
	if (!cli->quiet || cli->json)
		code = gm_cli_emit(&out);
	if (code == GM_EXIT_OK && failed)
		code = ok ? GM_EXIT_PARTIAL : GM_EXIT_ERROR;
	if (interrupted) {
		gm_error("interrupted: uploads in flight are kept; run the same command again to "
		         "resume them");
		code = 130;
	}
out:
	for (size_t i = 0; i < im.n; i++)
		free(im.v[i]);
	free(im.v);
	gm_oci_mirror_free(m);
	gm_oci_ref_release(&src);
	gm_oci_ref_release(&dst);
	gm_oci_map_release(&map);
	gm_err_release(&err);
	gm_buf_release(&out);
	gm_buf_release(&dstname);
	gm_buf_release(&name);
	return code;
}

/* `gpumigrate catalog list [gpus|instances|costs|servers]` and `catalog show NAME`: what the
 * catalog (built in, or --catalog DIR) says, with every figure's source and date, so users
 * can check the numbers assess and compare use and see how old each price is. */
#include <string.h>
#include <time.h>

#include "assess/catalog.h"
#include "cli/commands.h"
#include "util/json.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/table.h"
#include "util/banned.h"

enum { OPT_CATALOG = 1 };

const struct gm_opt gm_cmd_catalog_opts[] = {
        {OPT_CATALOG, "catalog", 0, GM_ARG_REQUIRED, "DIR",
         "read gpus.yaml, cloud.yaml and onprem.yaml from DIR where present", "dir"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

enum { SEC_GPUS = 1, SEC_INSTANCES = 2, SEC_COSTS = 4, SEC_SERVERS = 8, SEC_ALL = 15 };

/* A number with up to `decimals` decimals (-1: shortest, %g) and a unit. */
static void cell_num(struct gm_table *t, size_t col, struct gm_num n, int decimals,
                     const char *unit)
{
	if (n.known && decimals < 0)
		gm_table_setf(t, col, GM_COLOR_NONE, "%g%s", n.v, unit);
	else if (n.known)
		gm_table_setf(t, col, GM_COLOR_NONE, "%.*f%s", decimals, n.v, unit);
	else
		gm_table_set(t, col, "-", GM_COLOR_DIM);
}

static void render_gpus(const struct gm_catalog *cat, bool color, struct gm_buf *out)
{
	static const char *const h[] = {"ID",   "NAME", "CC",   "MEMORY", "GB/s", "FP32", "TF32",
	                                "BF16", "FP8",  "INT8", "TDP",    "LINK", "DATE"};
	struct gm_table t;
	gm_table_init(&t, sizeof(h) / sizeof(h[0]), h);
	for (size_t c = 3; c <= 10; c++)
		gm_table_align_right(&t, c);
	for (size_t i = 0; i < cat->n_gpus; i++) {
		const struct gm_gpu_spec *g = &cat->gpus[i];
		gm_table_add_row(&t);
		gm_table_set(&t, 0, g->id, GM_COLOR_BOLD);
		gm_table_set(&t, 1, g->name, GM_COLOR_NONE);
		gm_table_set(&t, 2, g->compute_capability ? g->compute_capability : "-",
		             GM_COLOR_NONE);
		if (g->memory_gib.known)
			gm_table_setf(&t, 3, GM_COLOR_NONE, "%g GB %s", g->memory_gib.v,
			              g->memory_type ? g->memory_type : "");
		else
			gm_table_set(&t, 3, "-", GM_COLOR_DIM);
		cell_num(&t, 4, g->memory_bandwidth_gbs, -1, "");
		cell_num(&t, 5, g->tflops[GM_PREC_FP32], -1, "");
		cell_num(&t, 6, g->tflops[GM_PREC_TF32], -1, "");
		cell_num(&t, 7, g->tflops[GM_PREC_BF16], -1, "");
		cell_num(&t, 8, g->tflops[GM_PREC_FP8], -1, "");
		cell_num(&t, 9, g->tflops[GM_PREC_INT8], -1, "");
		cell_num(&t, 10, g->tdp_w, -1, " W");
		if (g->nvlink_gbs.known && g->nvlink_gbs.v > 0)
			gm_table_setf(&t, 11, GM_COLOR_NONE, "NVLink %g GB/s", g->nvlink_gbs.v);
		else if (g->pcie_gen.known)
			gm_table_setf(&t, 11, GM_COLOR_NONE, "PCIe %g", g->pcie_gen.v);
		else
			gm_table_set(&t, 11, "-", GM_COLOR_DIM);
		gm_table_set(&t, 12, g->date, GM_COLOR_NONE);
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
}

static size_t render_instances(const struct gm_catalog *cat, time_t now, bool color,
                               struct gm_buf *out)
{
	static const char *const h[] = {"ID",          "GPUS", "VCPU", "RAM GiB", "LINK", "REGION",
	                                "ON-DEMAND/h", "1Y/h", "3Y/h", "DATE",    "AGE"};
	size_t old = 0;
	struct gm_table t;
	gm_table_init(&t, sizeof(h) / sizeof(h[0]), h);
	for (size_t c = 2; c <= 3; c++)
		gm_table_align_right(&t, c);
	for (size_t c = 6; c <= 8; c++)
		gm_table_align_right(&t, c);
	gm_table_align_right(&t, 10);
	for (size_t i = 0; i < cat->n_instances; i++) {
		const struct gm_instance *in = &cat->instances[i];
		size_t rows = in->n_prices ? in->n_prices : 1;
		for (size_t k = 0; k < rows; k++) {
			gm_table_add_row(&t);
			if (k == 0) {
				gm_table_set(&t, 0, in->id, GM_COLOR_BOLD);
				gm_table_setf(&t, 1, GM_COLOR_NONE, "%d x %s", in->gpu_count,
				              in->gpu->id);
				cell_num(&t, 2, in->vcpus, -1, "");
				cell_num(&t, 3, in->memory_gib, -1, "");
				gm_table_set(&t, 4, in->interconnect, GM_COLOR_NONE);
			}
			if (!in->n_prices) {
				gm_table_set(&t, 5, "(no price)", GM_COLOR_DIM);
				continue;
			}
			const struct gm_price *p = &in->prices[k];
			gm_table_set(&t, 5, p->region, GM_COLOR_NONE);
			cell_num(&t, 6, p->on_demand_hour, 2, "");
			cell_num(&t, 7, p->commit_1y_hour, 2, "");
			cell_num(&t, 8, p->commit_3y_hour, 2, "");
			gm_table_set(&t, 9, p->date, GM_COLOR_NONE);
			long age = gm_catalog_price_age_days(p->date, now);
			bool stale = age > GM_CATALOG_PRICE_MAX_AGE_DAYS;
			old += stale;
			gm_table_setf(&t, 10, stale ? GM_COLOR_YELLOW : GM_COLOR_NONE, "%ldd", age);
		}
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
	return old;
}

static void render_costs(const struct gm_catalog *cat, bool color, struct gm_buf *out)
{
	static const char *const h[] = {"KEY", "VALUE", "UNIT", "KIND", "DATE"};
	struct gm_table t;
	gm_table_init(&t, sizeof(h) / sizeof(h[0]), h);
	gm_table_align_right(&t, 1);
	for (size_t i = 0; i < cat->n_costs; i++) {
		const struct gm_cost_default *c = &cat->costs[i];
		gm_table_add_row(&t);
		gm_table_set(&t, 0, c->key, GM_COLOR_BOLD);
		if (c->value.known)
			gm_table_setf(&t, 1, GM_COLOR_NONE, "%g", c->value.v);
		else
			gm_table_set(&t, 1, "(set it)", GM_COLOR_YELLOW);
		gm_table_set(&t, 2, c->unit, GM_COLOR_NONE);
		gm_table_set(&t, 3, c->kind ? c->kind : "-", GM_COLOR_NONE);
		gm_table_set(&t, 4, c->date, GM_COLOR_NONE);
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
}

static void render_servers(const struct gm_catalog *cat, bool color, struct gm_buf *out)
{
	static const char *const h[] = {"SERVER", "GPUS", "CAPEX USD", "DATE", "DESCRIPTION"};
	struct gm_table t;
	gm_table_init(&t, sizeof(h) / sizeof(h[0]), h);
	gm_table_align_right(&t, 2);
	for (size_t i = 0; i < cat->n_servers; i++) {
		const struct gm_server_price *s = &cat->servers[i];
		gm_table_add_row(&t);
		gm_table_set(&t, 0, s->id, GM_COLOR_BOLD);
		gm_table_setf(&t, 1, GM_COLOR_NONE, "%d x %s", s->gpu_count, s->gpu->id);
		if (s->capex_usd.known)
			gm_table_setf(&t, 2, GM_COLOR_NONE, "%.0f", s->capex_usd.v);
		else
			gm_table_set(&t, 2, "(no public price)", GM_COLOR_DIM);
		gm_table_set(&t, 3, s->date, GM_COLOR_NONE);
		gm_table_set(&t, 4, s->description ? s->description : "", GM_COLOR_NONE);
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
}

static void list_json(const struct gm_catalog *cat, int sections, time_t now, struct gm_buf *out)
{
	struct gm_json j;
	gm_json_init(&j, out, true);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "schema", "gpumigrate.catalog/v1");
	gm_json_begin_object(&j, "from");
	gm_json_str(&j, "gpus", cat->gpus_from);
	gm_json_str(&j, "cloud", cat->cloud_from);
	gm_json_str(&j, "onprem", cat->onprem_from);
	gm_json_end_object(&j);
	if (sections & SEC_GPUS) {
		gm_json_begin_array(&j, "gpus");
		for (size_t i = 0; i < cat->n_gpus; i++)
			gm_gpu_spec_to_json(&j, NULL, &cat->gpus[i]);
		gm_json_end_array(&j);
	}
	if (sections & SEC_INSTANCES) {
		gm_json_begin_array(&j, "instances");
		for (size_t i = 0; i < cat->n_instances; i++)
			gm_instance_to_json(&j, NULL, &cat->instances[i], now);
		gm_json_end_array(&j);
	}
	if (sections & SEC_COSTS) {
		gm_json_begin_array(&j, "cost_defaults");
		for (size_t i = 0; i < cat->n_costs; i++)
			gm_cost_default_to_json(&j, NULL, &cat->costs[i]);
		gm_json_end_array(&j);
	}
	if (sections & SEC_SERVERS) {
		gm_json_begin_array(&j, "servers");
		for (size_t i = 0; i < cat->n_servers; i++)
			gm_server_price_to_json(&j, NULL, &cat->servers[i]);
		gm_json_end_array(&j);
	}
	gm_json_end_object(&j);
	gm_buf_addch(out, '\n');
}

static int do_list(struct gm_cli *cli, const struct gm_catalog *cat, const char *what)
{
	static const struct {
		const char *name;
		int sec;
	} secs[] = {{"gpus", SEC_GPUS},
	            {"instances", SEC_INSTANCES},
	            {"costs", SEC_COSTS},
	            {"servers", SEC_SERVERS}};
	int sections = what ? 0 : SEC_ALL;
	for (size_t i = 0; what && i < sizeof(secs) / sizeof(secs[0]); i++)
		if (strcmp(what, secs[i].name) == 0)
			sections = secs[i].sec;
	if (!sections)
		return gm_cli_usage_error(cli,
		                          "unknown section '%s': use gpus, instances, costs or "
		                          "servers",
		                          what);
	time_t now = time(NULL);
	struct gm_buf out = GM_BUF_INIT;
	size_t old = 0;
	if (cli->json) {
		list_json(cat, sections, now, &out);
		for (size_t i = 0; i < cat->n_instances; i++)
			for (size_t k = 0; k < cat->instances[i].n_prices; k++)
				old += gm_catalog_price_age_days(cat->instances[i].prices[k].date,
				                                 now) >
				       GM_CATALOG_PRICE_MAX_AGE_DAYS;
		old = (sections & SEC_INSTANCES) ? old : 0;
	} else {
		bool first = true;
#define SECTION(bit, title, call)                                 \
	do {                                                      \
		if (sections & (bit)) {                           \
			if (!first)                               \
				gm_buf_addch(&out, '\n');         \
			if (sections == SEC_ALL)                  \
				gm_buf_addf(&out, "%s\n", title); \
			call;                                     \
			first = false;                            \
		}                                                 \
	} while (0)
		SECTION(SEC_GPUS, "GPUs (dense TFLOPS; INT8 in TOPS)",
		        render_gpus(cat, cli->color_stdout, &out));
		SECTION(SEC_INSTANCES, "cloud instances (USD per instance-hour)",
		        old = render_instances(cat, now, cli->color_stdout, &out));
		SECTION(SEC_COSTS, "on-prem cost defaults",
		        render_costs(cat, cli->color_stdout, &out));
		SECTION(SEC_SERVERS, "server price points",
		        render_servers(cat, cli->color_stdout, &out));
#undef SECTION
	}
	if (old)
		gm_warn("%zu catalog price%s more than %d days old: check current prices "
		        "and pass your own with --catalog DIR",
		        old, old == 1 ? " is" : "s are", GM_CATALOG_PRICE_MAX_AGE_DAYS);
	int code = gm_cli_emit(&out);
	gm_buf_release(&out);
	return code;
}

static void kv(struct gm_table *t, const char *k, const char *v)
{
	gm_table_add_row(t);
	gm_table_set(t, 0, k, GM_COLOR_BOLD);
	gm_table_set(t, 1, v ? v : "-", v ? GM_COLOR_NONE : GM_COLOR_DIM);
}

static void kvnum(struct gm_table *t, const char *k, struct gm_num n, const char *unit)
{
	gm_table_add_row(t);
	gm_table_set(t, 0, k, GM_COLOR_BOLD);
	if (n.known)
		gm_table_setf(t, 1, GM_COLOR_NONE, "%g%s", n.v, unit);
	else
		gm_table_set(t, 1, "unknown", GM_COLOR_DIM);
}

static void show_gpu(const struct gm_gpu_spec *g, struct gm_table *t)
{
	struct gm_buf v = GM_BUF_INIT;
	kv(t, "id", g->id);
	kv(t, "name", g->name);
	for (size_t i = 0; i < g->n_aliases; i++)
		gm_buf_addf(&v, "%s%s", i ? ", " : "", g->aliases[i]);
	kv(t, "aliases", gm_buf_cstr(&v));
	kv(t, "architecture", g->architecture);
	kv(t, "compute capability", g->compute_capability);
	kvnum(t, "SMs", g->sm_count, "");
	kvnum(t, "memory", g->memory_gib, " GB");
	kv(t, "memory type", g->memory_type);
	kvnum(t, "memory bandwidth", g->memory_bandwidth_gbs, " GB/s");
	kvnum(t, "TDP", g->tdp_w, " W");
	kvnum(t, "PCIe generation", g->pcie_gen, "");
	kvnum(t, "NVLink", g->nvlink_gbs, " GB/s");
	for (int p = 0; p < GM_PREC_COUNT; p++) {
		gm_buf_reset(&v);
		gm_buf_addf(&v, "%s dense", gm_precision_name((enum gm_precision)p));
		kvnum(t, gm_buf_cstr(&v), g->tflops[p], p == GM_PREC_INT8 ? " TOPS" : " TFLOPS");
		if (g->sparse[p].known) {
			gm_buf_reset(&v);
			gm_buf_addf(&v, "%s sparse", gm_precision_name((enum gm_precision)p));
			kvnum(t, gm_buf_cstr(&v), g->sparse[p],
			      p == GM_PREC_INT8 ? " TOPS" : " TFLOPS");
		}
	}
	kv(t, "source", g->source);
	kv(t, "date", g->date);
	gm_buf_release(&v);
}

static void show_instance(const struct gm_instance *in, time_t now, struct gm_table *t)
{
	struct gm_buf v = GM_BUF_INIT;
	kv(t, "id", in->id);
	kv(t, "provider", in->provider);
	kv(t, "name", in->name);
	gm_buf_addf(&v, "%d x %s (%s)", in->gpu_count, in->gpu->name, in->gpu->id);
	kv(t, "gpus", gm_buf_cstr(&v));
	kvnum(t, "vCPUs", in->vcpus, "");
	kvnum(t, "memory", in->memory_gib, " GiB");
	kv(t, "interconnect", in->interconnect);
	for (size_t i = 0; i < in->n_prices; i++) {
		const struct gm_price *p = &in->prices[i];
		gm_buf_reset(&v);
		gm_buf_addf(&v, "%s", p->region);
		kv(t, "region", gm_buf_cstr(&v));
		kvnum(t, "  on demand /h", p->on_demand_hour, "");
		kvnum(t, "  1-year commit /h", p->commit_1y_hour, "");
		kvnum(t, "  3-year commit /h", p->commit_3y_hour, "");
		kvnum(t, "  spot /h", p->spot_hour, "");
		kv(t, "  currency", p->currency);
		kv(t, "  source", p->source);
		gm_buf_reset(&v);
		gm_buf_addf(&v, "%s (%ld days old)", p->date,
		            gm_catalog_price_age_days(p->date, now));
		kv(t, "  date", gm_buf_cstr(&v));
	}
	gm_buf_release(&v);
}

static void show_cost(const struct gm_cost_default *c, struct gm_table *t)
{
	kv(t, "key", c->key);
	kvnum(t, "value", c->value, "");
	kv(t, "unit", c->unit);
	kv(t, "kind", c->kind);
	kv(t, "source", c->source);
	kv(t, "rationale", c->rationale);
	kv(t, "date", c->date);
}

static void show_server(const struct gm_server_price *s, struct gm_table *t)
{
	struct gm_buf v = GM_BUF_INIT;
	kv(t, "id", s->id);
	kv(t, "description", s->description);
	gm_buf_addf(&v, "%d x %s (%s)", s->gpu_count, s->gpu->name, s->gpu->id);
	kv(t, "gpus", gm_buf_cstr(&v));
	kvnum(t, "capex", s->capex_usd, " USD");
	kv(t, "source", s->source);
	kv(t, "date", s->date);
	gm_buf_release(&v);
}

static int do_show(struct gm_cli *cli, const struct gm_catalog *cat, const char *name)
{
	time_t now = time(NULL);
	const struct gm_gpu_spec *g = gm_catalog_find_gpu(cat, name);
	const struct gm_instance *in = g ? NULL : gm_catalog_find_instance(cat, name);
	const struct gm_cost_default *c = g || in ? NULL : gm_catalog_cost_default(cat, name);
	const struct gm_server_price *s = NULL;
	for (size_t i = 0; !g && !in && !c && i < cat->n_servers; i++)
		if (strcmp(cat->servers[i].id, name) == 0)
			s = &cat->servers[i];
	if (!g && !in && !c && !s) {
		const char *near = strchr(name, ':') ? gm_catalog_suggest_instance(cat, name)
		                                     : gm_catalog_suggest_gpu(cat, name);
		if (near)
			return gm_cli_usage_error(
			        cli, "'%s' is not in the catalog (did you mean '%s'?)", name, near);
		return gm_cli_usage_error(cli,
		                          "'%s' is not in the catalog; 'gpumigrate catalog list' "
		                          "shows what is",
		                          name);
	}
	struct gm_buf out = GM_BUF_INIT;
	if (cli->json) {
		struct gm_json j;
		gm_json_init(&j, &out, true);
		if (g)
			gm_gpu_spec_to_json(&j, NULL, g);
		else if (in)
			gm_instance_to_json(&j, NULL, in, now);
		else if (c)
			gm_cost_default_to_json(&j, NULL, c);
		else
			gm_server_price_to_json(&j, NULL, s);
		gm_buf_addch(&out, '\n');
	} else {
		static const char *const h[] = {"", ""};
		struct gm_table t;
		struct gm_buf body = GM_BUF_INIT;
		gm_table_init(&t, 2, h);
		if (g)
			show_gpu(g, &t);
		else if (in)
			show_instance(in, now, &t);
		else if (c)
			show_cost(c, &t);
		else
			show_server(s, &t);
		gm_table_render(&t, cli->color_stdout, &body);
		const char *b = gm_buf_cstr(&body);
		const char *nl = strchr(b, '\n');
		gm_buf_adds(&out, nl ? nl + 1 : b);
		gm_buf_release(&body);
		gm_table_release(&t);
	}
	if (in) {
		for (size_t i = 0; i < in->n_prices; i++) {
			long age = gm_catalog_price_age_days(in->prices[i].date, now);
			if (age > GM_CATALOG_PRICE_MAX_AGE_DAYS)
				gm_warn("the %s price of '%s' is %ld days old: check the current "
				        "price",
				        in->prices[i].region, in->id, age);
		}
	}
	int code = gm_cli_emit(&out);
	gm_buf_release(&out);
	return code;
}

int gm_cmd_catalog(struct gm_cli *cli, int argc, char **argv)
{
	const char *dir = NULL;
	int id, code = GM_EXIT_OK;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: return code;
		case OPT_CATALOG: dir = cli->optarg; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc < 1)
		return gm_cli_usage_error(cli, "catalog needs 'list [SECTION]' or 'show NAME'");
	bool list = strcmp(args[0], "list") == 0, show = strcmp(args[0], "show") == 0;
	if (!list && !show)
		return gm_cli_usage_error(cli, "unknown catalog action '%s': use list or show",
		                          args[0]);
	if (list && argc > 2)
		return gm_cli_usage_error(cli, "catalog list takes at most one section");
	if (show && argc != 2)
		return gm_cli_usage_error(cli, "catalog show needs one NAME (a GPU, an instance "
		                               "type, a cost key or a server)");

	if (dir && !gm_root_exists(NULL, dir))
		return gm_cli_usage_error(cli, "catalog directory '%s' does not exist", dir);
	struct gm_catalog cat;
	struct gm_err err = GM_ERR_INIT;
	if (gm_catalog_load(&cat, dir, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		gm_err_release(&err);
		return code;
	}
	code = list ? do_list(cli, &cat, argc > 1 ? args[1] : NULL) : do_show(cli, &cat, args[1]);
	gm_catalog_release(&cat);
	gm_err_release(&err);
	return code;
}

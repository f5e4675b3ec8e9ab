/* The inventory as a JSON document (gpumigrate.inventory/v1) and back. A known fact is its
 * value; a fact that is not known is null, and the object's "unknown" member says why:
 * {"state": "unsupported" | "error" | "unknown", "reason": "…"}. */
#include <stdlib.h>
#include <string.h>

#include "hw/inventory.h"
#include "hw/inventory_fields.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *const remote_names[] = {
        [GM_NVLINK_REMOTE_UNKNOWN] = "unknown",
        [GM_NVLINK_REMOTE_GPU] = "gpu",
        [GM_NVLINK_REMOTE_SWITCH] = "switch",
        [GM_NVLINK_REMOTE_NPU] = "npu",
};

static void emit_unknown(struct gm_json *j, const char *key, const struct gm_fact *f)
{
	gm_json_begin_object(j, key);
	gm_json_str(j, "state", gm_fact_state_name(f->state));
	gm_json_str(j, "reason", f->why ? f->why : gm_fact_state_name(f->state));
	gm_json_end_object(j);
}

/* The values of a field table, then "unknown" for those that are not known (plus extra, a
 * fact outside the table such as the NVLink list, when it is not known). */
static void emit_fields(struct gm_json *j, const void *base, const struct gm_field *fields)
{
	for (const struct gm_field *f = fields; f->key; f++) {
		const struct gm_fact *fact = gm_field_fact((void *)base, f);
		if (!gm_fact_ok(fact)) {
			gm_json_null(j, f->key);
			continue;
		}
		if (f->type == GM_FIELD_STR)
			gm_json_str(j, f->key, ((const struct gm_fstr *)fact)->v);
		else if (f->type == GM_FIELD_INT)
			gm_json_int(j, f->key, ((const struct gm_fint *)fact)->v);
		else
			gm_json_bool(j, f->key, ((const struct gm_fbool *)fact)->v);
	}
}

/* A fact outside the field tables: a list that could not be read. */
struct extra_fact {
	const char *key;
	const struct gm_fact *fact;
};

static void emit_unknowns(struct gm_json *j, const void *base, const struct gm_field *fields,
                          const struct extra_fact *extra, size_t n_extra)
{
	bool any = false;
	for (size_t i = 0; i < n_extra; i++)
		any = any || !gm_fact_ok(extra[i].fact);
	for (const struct gm_field *f = fields; f->key && !any; f++)
		any = !gm_fact_ok(gm_field_fact((void *)base, f));
	if (!any)
		return;
	gm_json_begin_object(j, "unknown");
	for (const struct gm_field *f = fields; f->key; f++) {
		const struct gm_fact *fact = gm_field_fact((void *)base, f);
		if (!gm_fact_ok(fact))
			emit_unknown(j, f->key, fact);
	}
	for (size_t i = 0; i < n_extra; i++)
		if (!gm_fact_ok(extra[i].fact))
			emit_unknown(j, extra[i].key, extra[i].fact);
	gm_json_end_object(j);
}

static void emit_gpu(struct gm_json *j, const struct gm_gpu *g)
{
	gm_json_begin_object(j, NULL);
	gm_json_uint(j, "index", g->index);
	emit_fields(j, g, gm_gpu_fields);
	if (gm_fact_ok(&g->nvlink)) {
		gm_json_begin_array(j, "nvlinks");
		for (size_t i = 0; i < g->n_nvlinks; i++) {
			const struct gm_nvlink *l = &g->nvlinks[i];
			gm_json_begin_object(j, NULL);
			gm_json_uint(j, "link", l->link);
			gm_json_str(j, "remote_bdf", l->remote_bdf);
			gm_json_str(j, "remote", remote_names[l->remote]);
			gm_json_end_object(j);
		}
		gm_json_end_array(j);
	} else {
		gm_json_null(j, "nvlinks");
	}
	const struct extra_fact links = {"nvlinks", &g->nvlink};
	emit_unknowns(j, g, gm_gpu_fields, &links, 1);
	gm_json_end_object(j);
}

static void emit_host(struct gm_json *j, const struct gm_host *h)
{
	gm_json_begin_object(j, "host");
	emit_fields(j, h, gm_host_fields);
	if (!gm_fact_ok(&h->pci_scan)) {
		gm_json_null(j, "nvidia_pci_devices");
	} else {
		gm_json_begin_array(j, "nvidia_pci_devices");
		for (size_t i = 0; i < h->n_pci; i++) {
			const struct gm_pci_dev *d = &h->pci[i];
			gm_json_begin_object(j, NULL);
			gm_json_str(j, "bdf", d->bdf);
			struct gm_buf id = GM_BUF_INIT;
			gm_buf_addf(&id, "%04x:%04x", d->vendor, d->device);
			gm_json_str(j, "pci_id", gm_buf_cstr(&id));
			gm_buf_reset(&id);
			gm_buf_addf(&id, "%06x", d->class_code);
			gm_json_str(j, "class", gm_buf_cstr(&id));
			gm_buf_release(&id);
			emit_fields(j, d, gm_pci_dev_fields);
			emit_unknowns(j, d, gm_pci_dev_fields, NULL, 0);
			gm_json_end_object(j);
		}
		gm_json_end_array(j);
	}
	if (!gm_fact_ok(&h->nic_scan)) {
		gm_json_null(j, "nics");
	} else {
		gm_json_begin_array(j, "nics");
		for (size_t i = 0; i < h->n_nics; i++) {
			gm_json_begin_object(j, NULL);
			gm_json_str(j, "name", h->nics[i].name);
			emit_fields(j, &h->nics[i], gm_nic_fields);
			emit_unknowns(j, &h->nics[i], gm_nic_fields, NULL, 0);
			gm_json_end_object(j);
		}
		gm_json_end_array(j);
	}
	const struct extra_fact lists[] = {{"nvidia_pci_devices", &h->pci_scan},
	                                   {"nics", &h->nic_scan}};
	emit_unknowns(j, h, gm_host_fields, lists, 2);
	gm_json_end_object(j);
}

void gm_inventory_to_json(const struct gm_inventory *inv, struct gm_buf *out, bool pretty)
{
	struct gm_json j;
	gm_json_init(&j, out, pretty);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "schema", GM_INVENTORY_SCHEMA);
	emit_fields(&j, inv, gm_inventory_fields);
	emit_host(&j, &inv->host);

	const struct gm_nvidia *nv = &inv->nvidia;
	gm_json_begin_object(&j, "nvidia");
	gm_json_begin_object(&j, "nvml");
	gm_json_str(&j, "state", gm_fact_state_name(nv->nvml.state));
	gm_json_str(&j, "reason", nv->nvml.why);
	gm_json_end_object(&j);
	emit_fields(&j, nv, gm_nvidia_fields);
	gm_json_begin_array(&j, "gpus");
	for (size_t i = 0; i < nv->n_gpus; i++)
		emit_gpu(&j, &nv->gpus[i]);
	gm_json_end_array(&j);
	emit_unknowns(&j, nv, gm_nvidia_fields, NULL, 0);
	gm_json_end_object(&j);
	gm_json_end_object(&j);
}

/* Loading. */

struct loader {
	const struct gm_doc *doc;
	struct gm_err *err;
};

/* The state and reason recorded for key in obj's "unknown" member. */
static enum gm_rc load_unknown(struct loader *ld, struct fy_node *obj, const char *key,
                               struct gm_fact *fact)
{
	struct fy_node *u = gm_doc_get(gm_doc_get(obj, "unknown"), key);
	const char *state = NULL, *reason = NULL;
	enum gm_fact_state st = GM_FACT_UNKNOWN;
	if (!u) {
		gm_fact_fail(fact, GM_FACT_UNKNOWN, "not recorded in the inventory");
		return GM_OK;
	}
	if (gm_doc_get_str(ld->doc, u, "state", &state, ld->err) == GM_ERR_PARSE ||
	    gm_doc_get_str(ld->doc, u, "reason", &reason, ld->err) == GM_ERR_PARSE)
		return GM_ERR_PARSE;
	if (state && !gm_fact_state_parse(state, &st)) {
		struct gm_buf where = GM_BUF_INIT;
		gm_doc_where(ld->doc, u, &where);
		gm_err_set(ld->err, GM_ERR_PARSE,
		           "%s: unknown state '%s' (expected unsupported, error or unknown)",
		           gm_buf_cstr(&where), state);
		gm_buf_release(&where);
		return GM_ERR_PARSE;
	}
	gm_fact_fail(fact, st == GM_FACT_OK ? GM_FACT_UNKNOWN : st, reason);
	return GM_OK;
}

static enum gm_rc load_fields(struct loader *ld, struct fy_node *obj, void *base,
                              const struct gm_field *fields)
{
	for (const struct gm_field *f = fields; f->key; f++) {
		struct gm_fact *fact = gm_field_fact(base, f);
		enum gm_rc rc;
		if (f->type == GM_FIELD_STR) {
			const char *s = NULL;
			rc = gm_doc_get_str(ld->doc, obj, f->key, &s, ld->err);
			if (rc == GM_OK)
				gm_fstr_set((struct gm_fstr *)fact, s);
		} else if (f->type == GM_FIELD_INT) {
			int64_t v = 0;
			rc = gm_doc_get_i64(ld->doc, obj, f->key, &v, ld->err);
			if (rc == GM_OK)
				gm_fint_set((struct gm_fint *)fact, v);
		} else {
			bool v = false;
			rc = gm_doc_get_bool(ld->doc, obj, f->key, &v, ld->err);
			if (rc == GM_OK)
				gm_fbool_set((struct gm_fbool *)fact, v);
		}
		if (rc == GM_ERR_NOT_FOUND)
			rc = load_unknown(ld, obj, f->key, fact);
		if (rc != GM_OK)
			return rc;
	}
	return GM_OK;
}

static enum gm_rc expect(struct loader *ld, struct fy_node *n, bool ok, const char *what)
{
	if (ok)
		return GM_OK;
	struct gm_buf where = GM_BUF_INIT;
	gm_doc_where(ld->doc, n, &where);
	gm_err_set(ld->err, GM_ERR_PARSE, "%s: expected %s", gm_buf_cstr(&where), what);
	gm_buf_release(&where);
	return GM_ERR_PARSE;
}

static enum gm_rc load_required_str(struct loader *ld, struct fy_node *obj, const char *key,
                                    char **out)
{
	const char *s = NULL;
	enum gm_rc rc = gm_doc_get_str(ld->doc, obj, key, &s, ld->err);
	if (rc == GM_ERR_NOT_FOUND)
		return expect(ld, obj, false, key);
	if (rc == GM_OK)
		*out = gm_xstrdup(s);
	return rc;
}

static enum gm_rc load_pci(struct loader *ld, struct fy_node *n, struct gm_pci_dev *d)
{
	const char *id = NULL, *cls = NULL;
	enum gm_rc rc = expect(ld, n, gm_doc_is_map(n), "a PCI device object");
	if (rc == GM_OK)
		rc = load_required_str(ld, n, "bdf", &d->bdf);
	if (rc == GM_OK && gm_doc_get_str(ld->doc, n, "pci_id", &id, ld->err) == GM_OK) {
		unsigned long v = strtoul(id, NULL, 16);
		const char *colon = strchr(id, ':');
		d->vendor = (unsigned)v;
		d->device = colon ? (unsigned)strtoul(colon + 1, NULL, 16) : 0;
	}
	if (rc == GM_OK && gm_doc_get_str(ld->doc, n, "class", &cls, ld->err) == GM_OK)
		d->class_code = (unsigned)strtoul(cls, NULL, 16);
	if (rc == GM_OK)
		rc = load_fields(ld, n, d, gm_pci_dev_fields);
	return rc;
}

static enum gm_rc load_nic(struct loader *ld, struct fy_node *n, struct gm_nic *nic)
{
	enum gm_rc rc = expect(ld, n, gm_doc_is_map(n), "a NIC object");
	if (rc == GM_OK)
		rc = load_required_str(ld, n, "name", &nic->name);
	if (rc == GM_OK)
		rc = load_fields(ld, n, nic, gm_nic_fields);
	return rc;
}

static enum gm_rc load_nvlinks(struct loader *ld, struct fy_node *gpu, struct gm_gpu *g)
{
	struct fy_node *links = gm_doc_get(gpu, "nvlinks");
	if (gm_doc_is_null(links))
		return load_unknown(ld, gpu, "nvlinks", &g->nvlink);
	enum gm_rc rc = expect(ld, links, gm_doc_is_seq(links), "a list of NVLinks");
	if (rc != GM_OK)
		return rc;
	g->nvlink.state = GM_FACT_OK;
	g->n_nvlinks = (size_t)gm_doc_seq_len(links);
	g->nvlinks = gm_xcalloc(g->n_nvlinks, sizeof(*g->nvlinks));
	for (size_t i = 0; i < g->n_nvlinks && rc == GM_OK; i++) {
		struct fy_node *l = gm_doc_seq_at(links, (int)i);
		int64_t link = 0;
		const char *remote = NULL;
		rc = expect(ld, l, gm_doc_is_map(l), "an NVLink object");
		if (rc == GM_OK)
			rc = gm_doc_get_i64(ld->doc, l, "link", &link, ld->err);
		if (rc == GM_OK)
			rc = load_required_str(ld, l, "remote_bdf", &g->nvlinks[i].remote_bdf);
		if (rc == GM_OK)
			rc = gm_doc_get_str(ld->doc, l, "remote", &remote, ld->err);
		if (rc == GM_ERR_NOT_FOUND)
			rc = expect(ld, l, false, "link, remote_bdf and remote");
		g->nvlinks[i].link = (unsigned)link;
		for (size_t k = 0; remote && k < sizeof(remote_names) / sizeof(remote_names[0]);
		     k++)
			if (strcmp(remote, remote_names[k]) == 0)
				g->nvlinks[i].remote = (enum gm_nvlink_remote)k;
	}
	return rc;
}

static enum gm_rc load_gpu(struct loader *ld, struct fy_node *n, struct gm_gpu *g)
{
	int64_t index = 0;
	enum gm_rc rc = expect(ld, n, gm_doc_is_map(n), "a GPU object");
	if (rc == GM_OK)
		rc = gm_doc_get_i64(ld->doc, n, "index", &index, ld->err);
	if (rc == GM_ERR_NOT_FOUND)
		rc = expect(ld, n, false, "'index' in every GPU");
	if (rc == GM_OK && (index < 0 || index > 4096))
		rc = expect(ld, n, false, "a GPU index between 0 and 4096");
	g->index = (unsigned)index;
	if (rc == GM_OK)
		rc = load_fields(ld, n, g, gm_gpu_fields);
	if (rc == GM_OK)
		rc = load_nvlinks(ld, n, g);
	return rc;
}

/* Loads a list member into a freshly allocated array of elem-size entries. */
static enum gm_rc load_list(struct loader *ld, struct fy_node *obj, const char *key, void **arr,
                            size_t *count, size_t size, struct gm_fact *read,
                            enum gm_rc (*one)(struct loader *, struct fy_node *, void *))
{
	struct fy_node *seq = gm_doc_get(obj, key);
	if (gm_doc_is_null(seq))
		return read ? load_unknown(ld, obj, key, read) : GM_OK;
	if (read)
		gm_fact_set_ok(read);
	enum gm_rc rc = expect(ld, seq, gm_doc_is_seq(seq), key);
	if (rc != GM_OK)
		return rc;
	*count = (size_t)gm_doc_seq_len(seq);
	*arr = gm_xcalloc(*count, size);
	for (size_t i = 0; i < *count && rc == GM_OK; i++)
		rc = one(ld, gm_doc_seq_at(seq, (int)i), (char *)*arr + i * size);
	return rc;
}

static enum gm_rc load_pci_any(struct loader *ld, struct fy_node *n, void *p)
{
	return load_pci(ld, n, p);
}

static enum gm_rc load_nic_any(struct loader *ld, struct fy_node *n, void *p)
{
	return load_nic(ld, n, p);
}

static enum gm_rc load_gpu_any(struct loader *ld, struct fy_node *n, void *p)
{
	return load_gpu(ld, n, p);
}

static enum gm_rc load_nvml_state(struct loader *ld, struct fy_node *nv, struct gm_fact *fact)
{
	struct fy_node *n = gm_doc_get(nv, "nvml");
	const char *state = NULL, *reason = NULL;
	enum gm_fact_state st = GM_FACT_UNKNOWN;
	enum gm_rc rc = expect(ld, n ? n : nv, gm_doc_is_map(n), "'nvml' with state and reason");
	if (rc == GM_OK)
		rc = gm_doc_get_str(ld->doc, n, "state", &state, ld->err);
	if (rc == GM_OK && !gm_fact_state_parse(state, &st))
		rc = expect(ld, n, false, "state ok, unsupported, error or unknown");
	if (rc == GM_ERR_NOT_FOUND)
		rc = expect(ld, n, false, "'state'");
	if (rc != GM_OK)
		return rc;
	gm_doc_get_str(ld->doc, n, "reason", &reason, NULL);
	if (st == GM_FACT_OK)
		fact->state = GM_FACT_OK;
	else
		gm_fact_fail(fact, st, reason);
	return GM_OK;
}

enum gm_rc gm_inventory_parse(struct gm_inventory *inv, const char *name, const char *text,
                              size_t len, struct gm_err *err)
{
	struct gm_doc doc;
	struct loader ld = {&doc, err};
	if (!inv)
		return gm_err_set(err, GM_ERR_INTERNAL, "no inventory to fill");
	enum gm_rc rc = gm_doc_load_string(&doc, name, text, len, err);
	if (rc != GM_OK)
		goto out;
	struct fy_node *root = gm_doc_root(&doc);
	const char *schema = NULL;
	rc = expect(&ld, root, gm_doc_is_map(root), "an inventory object");
	if (rc == GM_OK && (gm_doc_get_str(&doc, root, "schema", &schema, NULL) != GM_OK ||
	                    strcmp(schema, GM_INVENTORY_SCHEMA) != 0)) {
		rc = gm_err_set(err, GM_ERR_PARSE,
		                "%s: not an inventory (schema '%s' expected, found '%s'); "
		                "write one with 'gpumigrate inventory -o FILE'",
		                name, GM_INVENTORY_SCHEMA, schema ? schema : "none");
		goto out;
	}
	struct fy_node *host = gm_doc_get(root, "host");
	struct fy_node *nv = gm_doc_get(root, "nvidia");
	if (rc == GM_OK)
		rc = load_fields(&ld, root, inv, gm_inventory_fields);
	if (rc == GM_OK)
		rc = expect(&ld, host ? host : root, gm_doc_is_map(host), "a 'host' object");
	if (rc == GM_OK)
		rc = load_fields(&ld, host, &inv->host, gm_host_fields);
	if (rc == GM_OK)
		rc = load_list(&ld, host, "nvidia_pci_devices", (void **)&inv->host.pci,
		               &inv->host.n_pci, sizeof(struct gm_pci_dev), &inv->host.pci_scan,
		               load_pci_any);
	if (rc == GM_OK)
		rc = load_list(&ld, host, "nics", (void **)&inv->host.nics, &inv->host.n_nics,
		               sizeof(struct gm_nic), &inv->host.nic_scan, load_nic_any);
	if (rc == GM_OK)
		rc = expect(&ld, nv ? nv : root, gm_doc_is_map(nv), "an 'nvidia' object");
	if (rc == GM_OK)
		rc = load_nvml_state(&ld, nv, &inv->nvidia.nvml);
	if (rc == GM_OK)
		rc = load_fields(&ld, nv, &inv->nvidia, gm_nvidia_fields);
	if (rc == GM_OK)
		rc = load_list(&ld, nv, "gpus", (void **)&inv->nvidia.gpus, &inv->nvidia.n_gpus,
		               sizeof(struct gm_gpu), NULL, load_gpu_any);
out:
	gm_doc_release(&doc);
	return rc;
}

enum gm_rc gm_inventory_load(struct gm_inventory *inv, const char *path, struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT;
	enum gm_rc rc = gm_fs_read(path, GM_DOC_MAX_BYTES, &text, err);
	if (rc == GM_OK)
		rc = gm_inventory_parse(inv, path, gm_buf_cstr(&text), text.len, err);
	gm_buf_release(&text);
	return rc;
}

/* Unit tests for the manifest layer of `k8s`: the position-keeping YAML tree (ranges of
 * plain, quoted, flow and block nodes; multi-document files; errors), the object and pod
 * spec walker, the rules (image prefixes, boundaries, Docker Hub forms, idempotence), the
 * splicing rewrite (block and flow, indentation, empty maps, JSON) and the line diff. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "k8s/diff.h"
#include "k8s/manifest.h"
#include "k8s/rewrite.h"
#include "k8s/rules.h"
#include "k8s/scan.h"
#include "k8s/yaml.h"

static void parse(struct gm_k8s_file *f, const char *name, const char *text)
{
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_k8s_file_parse(f, name, text, strlen(text), &err);
	if (rc != GM_OK)
		fail_msg("%s", gm_err_msg(&err));
	gm_err_release(&err);
}

static void rules_from(struct gm_k8s_rules *r, const char *text)
{
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_k8s_rules_parse(r, "rules.yaml", text, strlen(text), &err);
	if (rc != GM_OK)
		fail_msg("%s", gm_err_msg(&err));
	gm_err_release(&err);
}

/* Rewrites text by rules and checks the exact result and that a second pass changes nothing. */
static void check_rewrite(const char *rules_text, const char *name, const char *in,
                          const char *want)
{
	struct gm_k8s_rules r;
	struct gm_k8s_file f, g;
	struct gm_buf out = GM_BUF_INIT, again = GM_BUF_INIT, notes = GM_BUF_INIT;
	size_t changes = 0;
	rules_from(&r, rules_text);
	parse(&f, name, in);
	gm_k8s_rewrite(&f, &r, &out, &notes, &changes);
	assert_string_equal(gm_buf_cstr(&out), want);
	parse(&g, name, gm_buf_cstr(&out));
	gm_k8s_rewrite(&g, &r, &again, &notes, &changes);
	assert_string_equal(gm_buf_cstr(&again), want);
	assert_int_equal(changes, 0);
	gm_buf_release(&out);
	gm_buf_release(&again);
	gm_buf_release(&notes);
	gm_k8s_file_release(&f);
	gm_k8s_file_release(&g);
	gm_k8s_rules_release(&r);
}

static void tree_positions(void **state)
{
	(void)state;
	static const char text[] = "# c\na: 1\nb:\n  - x\n  - {k: v, \"q\": 'w'}\nc: [1, 2]\n"
	                           "---\n# Source: chart/x.yaml\nd: é\n";
	struct gm_k8s_file f;
	parse(&f, "t.yaml", text);
	assert_int_equal(f.n_docs, 2);
	struct gm_k8s_node *root = f.docs[0].root;
	assert_true(gm_k8s_is_map(root));
	assert_false(root->flow);
	assert_int_equal(gm_k8s_len(root), 3);
	struct gm_k8s_node *b = gm_k8s_get(root, "b");
	assert_true(gm_k8s_is_seq(b));
	assert_int_equal(b->line, 3);
	assert_int_equal(b->col, 2);
	struct gm_k8s_node *fm = b->kids[1];
	assert_true(fm->flow);
	assert_memory_equal(text + fm->start, "{k: v, \"q\": 'w'}", fm->end - fm->start);
	struct gm_k8s_node *q = fm->kids[2], *w = fm->kids[3];
	assert_int_equal(q->style, GM_K8S_DOUBLE);
	assert_int_equal(q->end - q->start, 3); /* quotes included */
	assert_int_equal(w->style, GM_K8S_SINGLE);
	assert_string_equal(w->value, "w");
	/* a block collection ends at its last value, not at the next document */
	assert_memory_equal(text + root->end - 6, "[1, 2]", 6);
	assert_string_equal(f.docs[1].source, "chart/x.yaml");
	assert_string_equal(gm_k8s_get_str(f.docs[1].root, "d"), "é");
	gm_k8s_file_release(&f);
}

static void tree_errors(void **state)
{
	(void)state;
	struct gm_k8s_file f;
	struct gm_err err = GM_ERR_INIT;
	static const char bad[] = "a: 1\nb: c: d\n";
	assert_int_equal(gm_k8s_file_parse(&f, "x.yaml", bad, strlen(bad), &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "x.yaml:2:5: "));
	gm_err_clear(&err);
	static const char ctl[] = "a: \x01\n";
	assert_int_equal(gm_k8s_file_parse(&f, "y.yaml", ctl, strlen(ctl), &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "y.yaml:1:4: control character"));
	gm_err_release(&err);
}

struct count {
	int specs, containers;
};

static void count_container(void *ctx, struct gm_k8s_node *c)
{
	(void)c;
	((struct count *)ctx)->containers++;
}

static void count_spec(void *ctx, struct gm_k8s_node *spec)
{
	((struct count *)ctx)->specs++;
	gm_k8s_each_container(spec, count_container, ctx);
}

static void walker(void **state)
{
	(void)state;
	static const char text[] =
	        "apiVersion: v1\nkind: List\nitems:\n"
	        "- kind: CronJob\n  metadata: {name: c, namespace: n}\n"
	        "  spec:\n    jobTemplate:\n      spec:\n        template:\n          spec:\n"
	        "            initContainers: [{name: i, image: a}]\n"
	        "            containers: [{name: m, image: b}]\n"
	        "- kind: RayCluster\n  metadata: {name: r}\n  spec:\n"
	        "    headGroupSpec: {template: {spec: {containers: [{name: h, image: c}]}}}\n"
	        "    workerGroupSpecs:\n    - template: {spec: {containers: [{image: d}]}}\n"
	        "    - template: {spec: {containers: [{image: e}]}}\n"
	        "---\napiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\n"
	        "spec:\n  templates:\n  - name: s\n    container: {image: gcr.io/x/y:1}\n";
	struct gm_k8s_file f;
	struct gm_k8s_object *objs = NULL;
	size_t n = 0;
	struct count c = {0, 0};
	parse(&f, "w.yaml", text);
	gm_k8s_objects(&f, &objs, &n);
	assert_int_equal(n, 3);
	assert_string_equal(objs[0].kind, "CronJob");
	assert_string_equal(objs[0].ns, "n");
	assert_string_equal(objs[1].name, "r");
	gm_k8s_each_pod_spec(&objs[0], count_spec, &c);
	assert_int_equal(c.specs, 1);
	assert_int_equal(c.containers, 2);
	c = (struct count){0, 0};
	gm_k8s_each_pod_spec(&objs[1], count_spec, &c);
	assert_int_equal(c.specs, 3);
	assert_int_equal(c.containers, 3);
	c = (struct count){0, 0};
	gm_k8s_each_argo_container(&objs[2], count_container, &c);
	assert_int_equal(c.containers, 1);
	struct gm_k8s_report r;
	gm_k8s_report_init(&r);
	gm_k8s_scan_file(&f, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.findings[0].id, "image-registry");
	assert_int_equal(r.findings[0].line, 27);
	assert_string_equal(r.findings[0].object, "Workflow/wf");
	gm_k8s_report_release(&r);
	free(objs);
	gm_k8s_file_release(&f);
}

static void image_rules(void **state)
{
	(void)state;
	struct gm_k8s_rules r;
	struct gm_buf out = GM_BUF_INIT;
	rules_from(&r, "images:\n- {from: gcr.io/acme, to: harbor.local/acme}\n"
	               "- {from: docker.io/library, to: harbor.local/hub}\n"
	               "- {from: gcr.io, to: harbor.local/gcr}\n");
	assert_true(gm_k8s_rules_map_image(&r, "gcr.io/acme/app:1", &out));
	assert_string_equal(gm_buf_cstr(&out), "harbor.local/acme/app:1");
	assert_true(gm_k8s_rules_map_image(&r, "gcr.io/acme@sha256:ab", &out));
	assert_string_equal(gm_buf_cstr(&out), "harbor.local/acme@sha256:ab");
	/* a prefix matches at a path boundary only: gcr.io/acme-2 falls to the gcr.io rule */
	assert_true(gm_k8s_rules_map_image(&r, "gcr.io/acme-2/app", &out));
	assert_string_equal(gm_buf_cstr(&out), "harbor.local/gcr/acme-2/app");
	assert_true(gm_k8s_rules_map_image(&r, "nginx:1.25", &out));
	assert_string_equal(gm_buf_cstr(&out), "harbor.local/hub/nginx:1.25");
	assert_false(gm_k8s_rules_map_image(&r, "quay.io/x/y", &out));
	assert_false(gm_k8s_rules_map_image(&r, "harbor.local/acme/app:1", &out));
	gm_k8s_rules_release(&r);
	struct gm_err err = GM_ERR_INIT;
	static const char bad[] = "images:\n- {from: gcr.io/}\n";
	assert_int_equal(gm_k8s_rules_parse(&r, "b.yaml", bad, strlen(bad), &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "b.yaml:2:"));
	gm_err_clear(&err);
	static const char plan[] = "schema: gpumigrate.plan/v1\nname: x\n";
	assert_int_equal(gm_k8s_rules_parse(&r, "p.yaml", plan, strlen(plan), &err),
	                 GM_ERR_NOT_FOUND);
	gm_err_release(&err);
	gm_buf_release(&out);
}

static const char RULES[] = "images: [{from: gcr.io/a, to: h.local/a}]\n"
                            "accelerators:\n  nvidia-l4: {nvidia.com/gpu.product: NVIDIA-L4, "
                            "accelerator: nvidia-l4}\n"
                            "annotations: {drop: [\"networking.gke.io/*\", x/y]}\n"
                            "gpuTolerations: true\n";

static void splice_block(void **state)
{
	(void)state;
	/* items indented under their key; a comment and quoting kept; the selector's second
	 * label inserted after the first at the same indentation; the toleration appended */
	check_rewrite(RULES, "d.yaml",
	              "kind: Pod\nmetadata:\n  annotations:\n    networking.gke.io/a: b\n"
	              "    keep: 'me'\nspec:\n  nodeSelector:\n"
	              "    cloud.google.com/gke-accelerator: \"nvidia-l4\" # L4\n"
	              "  containers:\n    - name: m\n      image: 'gcr.io/a/m:1'\n"
	              "      resources: {limits: {nvidia.com/gpu: 1}}\n# end\n",
	              "kind: Pod\nmetadata:\n  annotations:\n"
	              "    keep: 'me'\nspec:\n  nodeSelector:\n"
	              "    nvidia.com/gpu.product: \"NVIDIA-L4\" # L4\n    accelerator: nvidia-l4\n"
	              "  containers:\n    - name: m\n      image: 'h.local/a/m:1'\n"
	              "      resources: {limits: {nvidia.com/gpu: 1}}\n"
	              "  tolerations:\n    - key: nvidia.com/gpu\n      operator: Exists\n"
	              "      effect: NoSchedule\n# end\n");
	/* items at the key's column, an existing toleration list, no final newline, every
	 * annotation dropped */
	check_rewrite(RULES, "e.yaml",
	              "kind: Pod\nmetadata:\n  annotations:\n    x/y: z\nspec:\n  containers:\n"
	              "  - image: x\n    resources:\n      limits:\n        nvidia.com/gpu: 2\n"
	              "  tolerations:\n  - key: other\n    effect: NoSchedule",
	              "kind: Pod\nmetadata:\n  annotations: {}\nspec:\n  containers:\n"
	              "  - image: x\n    resources:\n      limits:\n        nvidia.com/gpu: 2\n"
	              "  tolerations:\n  - key: other\n    effect: NoSchedule\n"
	              "  - key: nvidia.com/gpu\n    operator: Exists\n    effect: NoSchedule\n");
}

static void splice_flow_and_json(void **state)
{
	(void)state;
	check_rewrite(
	        RULES, "f.yaml",
	        "kind: Pod\nspec: {nodeSelector: {cloud.google.com/gke-accelerator: nvidia-l4},"
	        " tolerations: [], containers: [{image: gcr.io/a/b, resources: {requests: "
	        "{nvidia.com/gpu: 1}}}]}\n",
	        "kind: Pod\nspec: {nodeSelector: {nvidia.com/gpu.product: NVIDIA-L4, "
	        "accelerator: nvidia-l4}, tolerations: [{key: nvidia.com/gpu, operator: "
	        "Exists, effect: NoSchedule}], containers: [{image: h.local/a/b, resources: "
	        "{requests: {nvidia.com/gpu: 1}}}]}\n");
	check_rewrite(
	        RULES, "g.json",
	        "{\"kind\": \"Pod\", \"metadata\": {\"annotations\": {\"a\": \"1\", \"x/y\": "
	        "\"2\"}},\n \"spec\": {\"containers\": [{\"image\": \"gcr.io/a/b\", "
	        "\"resources\": {\"limits\": {\"nvidia.com/gpu\": 1}}}]}}\n",
	        "{\"kind\": \"Pod\", \"metadata\": {\"annotations\": {\"a\": \"1\"}},\n "
	        "\"spec\": {\"containers\": [{\"image\": \"h.local/a/b\", \"resources\": "
	        "{\"limits\": {\"nvidia.com/gpu\": 1}}}], \"tolerations\": [{\"key\": "
	        "\"nvidia.com/gpu\", \"operator\": \"Exists\", \"effect\": \"NoSchedule\"}]}}\n");
}

static void render_scalars(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	gm_k8s_render_scalar(&b, "true", GM_K8S_PLAIN);
	gm_k8s_render_scalar(&b, " ", GM_K8S_PLAIN);
	gm_k8s_render_scalar(&b, "it's", GM_K8S_SINGLE);
	gm_k8s_render_scalar(&b, "a\"b", GM_K8S_DOUBLE);
	gm_k8s_render_scalar(&b, "a: b", GM_K8S_PLAIN);
	gm_k8s_render_scalar(&b, "12", GM_K8S_PLAIN);
	gm_k8s_render_scalar(&b, "x/y:1", GM_K8S_PLAIN);
	assert_string_equal(gm_buf_cstr(&b), "\"true\"\" \"'it''s'\"a\\\"b\"\"a: b\"\"12\"x/y:1");
	gm_buf_release(&b);
}

static void edits_overlap(void **state)
{
	(void)state;
	struct gm_k8s_edits e;
	struct gm_buf out = GM_BUF_INIT;
	size_t skipped = 0;
	gm_k8s_edits_init(&e);
	gm_k8s_edits_add(&e, 4, 6, "XY");
	gm_k8s_edits_add(&e, 0, 0, "<");
	gm_k8s_edits_add(&e, 5, 7, "no");
	gm_k8s_edits_add(&e, 10, 10, ">");
	gm_k8s_edits_apply(&e, "0123456789", 10, &out, &skipped);
	assert_string_equal(gm_buf_cstr(&out), "<0123XY6789>");
	assert_int_equal(skipped, 1);
	gm_k8s_edits_release(&e);
	gm_buf_release(&out);
}

static void diff_unified(void **state)
{
	(void)state;
	struct gm_buf out = GM_BUF_INIT;
	static const char a[] = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
	static const char b[] = "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13";
	size_t n = gm_k8s_diff("a", a, strlen(a), "b", b, strlen(b), &out);
	assert_int_equal(n, 3);
	assert_string_equal(gm_buf_cstr(&out), "--- a\n+++ b\n"
	                                       "@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n"
	                                       "@@ -10,3 +10,4 @@\n 10\n 11\n 12\n"
	                                       "+13\n\\ No newline at end of file\n");
	gm_buf_reset(&out);
	assert_int_equal(gm_k8s_diff("a", a, strlen(a), "b", a, strlen(a), &out), 0);
	assert_int_equal(out.len, 0);
	/* insertions into an empty file and removal of everything */
	assert_int_equal(gm_k8s_diff("a", "", 0, "b", "x\ny\n", 4, &out), 2);
	assert_string_equal(gm_buf_cstr(&out), "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
	gm_buf_reset(&out);
	assert_int_equal(gm_k8s_diff("a", "x\n", 2, "b", "", 0, &out), 1);
	assert_string_equal(gm_buf_cstr(&out), "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n");
	gm_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(tree_positions), cmocka_unit_test(tree_errors),
	        cmocka_unit_test(walker),         cmocka_unit_test(image_rules),
	        cmocka_unit_test(splice_block),   cmocka_unit_test(splice_flow_and_json),
	        cmocka_unit_test(render_scalars), cmocka_unit_test(edits_overlap),
	        cmocka_unit_test(diff_unified),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

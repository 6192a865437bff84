/* graph + analyze + plan on hand-built graphs (tests/fixtures/analysis_fixtures.py):
 * each tensor's role, fans, activation, gain and default scheme as expect.json says. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "graph/graph.h"
#include "model/model.h"
#include "oitest.h"
#include "plan/plan.h"

typedef struct {
    oi_model *model;
    oi_graph *graph;
    oi_analysis *analysis;
    oi_plan *plan;
} pipeline;

static int run_pipeline(const char *path, pipeline *p)
{
    oi_error err;
    memset(p, 0, sizeof *p);
    oi_policy policy = oi_policy_default(OI_PRESET_DEFAULT);
    if (oi_model_load(path, &p->model, &err) || oi_graph_build(p->model, &p->graph, &err) ||
        oi_analyze(p->model, p->graph, &p->analysis, &err) ||
        oi_plan_build(p->model, p->analysis, &policy, &p->plan, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void free_pipeline(pipeline *p)
{
    oi_plan_free(p->plan);
    oi_analysis_free(p->analysis);
    oi_graph_free(p->graph);
    oi_model_free(p->model);
}

#define find oi_test_tensor_index

static int mismatches;

static void fail(const char *model, const char *tensor, const char *key, const char *want,
                 const char *got)
{
    fprintf(stderr, "  %s: %s: %s: want %s, got %s\n", model, tensor, key, want, got);
    mismatches++;
}

static void check_str(const char *model, const char *t, json_object *e, const char *key,
                      const char *got, int substring)
{
    json_object *v;
    if (!json_object_object_get_ex(e, key, &v))
        return;
    const char *want = json_object_get_string(v);
    if (substring ? !strstr(got, want) : strcmp(got, want) != 0)
        fail(model, t, key, want, got);
}

static void check_num(const char *model, const char *t, json_object *e, const char *key,
                      double got)
{
    json_object *v;
    if (!json_object_object_get_ex(e, key, &v))
        return;
    double want = json_object_get_double(v);
    /* relative (attributes are float32) and, for expected zeros only, absolute: a
     * tolerance of 1e-6 * (1 + |want|) would accept 0 for an expected 1e-6 */
    if (want == 0 ? fabs(got) > 1e-12 : fabs(want - got) > 1e-6 * fabs(want)) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%.9g", want);
        snprintf(b, sizeof b, "%.9g", got);
        fail(model, t, key, a, b);
    }
}

static void check_tensor(const char *model, pipeline *p, const char *name, json_object *e)
{
    long i = find(p->model, name);
    if (i < 0) {
        fail(model, name, "presence", "found", "missing");
        return;
    }
    const oi_weight *w = oi_analysis_get(p->analysis, (size_t)i);
    const oi_decision *d = oi_plan_get(p->plan, (size_t)i);
    check_str(model, name, e, "role", oi_role_name(w->role), 0);
    check_str(model, name, e, "op", w->op, 0);
    check_str(model, name, e, "act", oi_act_name(w->act), 0);
    check_str(model, name, e, "scheme", d->scheme, 0);
    check_str(model, name, e, "reason", d->reason, 1);
    check_str(model, name, e, "note", w->note, 1);
    check_str(model, name, e, "via", w->via, 1);
    check_num(model, name, e, "fan_in", (double)w->fan_in);
    check_num(model, name, e, "fan_out", (double)w->fan_out);
    check_num(model, name, e, "gain", w->gain);
    if (d->kind == OI_FILL_NORMAL)
        check_num(model, name, e, "std", d->normal.std);
    if (d->kind == OI_FILL_UNIFORM)
        check_num(model, name, e, "bound", d->uniform.high);
    if (d->kind == OI_FILL_CONSTANT)
        check_num(model, name, e, "value", d->constant.value);
}

static void test_expectations(void)
{
    json_object *root = json_object_from_file(oi_test_fixture("analysis", "expect.json"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    int models = 0, tensors = 0;
    json_object_object_foreach(root, model, expect) {
        pipeline p;
        if (run_pipeline(oi_test_fixture("analysis", model), &p)) {
            fail(model, "-", "pipeline", "ok", "error");
            free_pipeline(&p);
            continue;
        }
        json_object_object_foreach(expect, tensor, e) {
            check_tensor(model, &p, tensor, e);
            tensors++;
        }
        free_pipeline(&p);
        models++;
    }
    json_object_put(root);
    fprintf(stderr, "  checked %d tensors in %d models, %d mismatches\n", tensors, models,
            mismatches);
    CU_ASSERT_TRUE(models >= 30);
    CU_ASSERT_EQUAL(mismatches, 0);
}

/* The graph index: an outer weight read inside an If branch has that inner node as consumer. */
static void test_graph_outer_scope(void)
{
    pipeline p;
    CU_ASSERT_EQUAL_FATAL(run_pipeline(oi_test_fixture("analysis", "if_outer_scope.onnx"), &p), 0);
    long t = find(p.model, "outer.w");
    long v = oi_graph_tensor_value(p.graph, (size_t)t);
    CU_ASSERT_TRUE_FATAL(v >= 0);
    const oi_value *val = oi_graph_value(p.graph, (size_t)v);
    CU_ASSERT_EQUAL(val->scope, 0);
    CU_ASSERT_EQUAL_FATAL(val->n_uses, 1);
    const oi_gnode *n = oi_graph_node(p.graph, val->uses[0].node);
    CU_ASSERT_STRING_EQUAL(n->proto->op_type, "MatMul");
    CU_ASSERT_NOT_EQUAL(n->scope, 0);
    CU_ASSERT_EQUAL(val->uses[0].slot, 1);
    /* the Constant inside the else branch is a value of that branch's scope */
    long inner = oi_graph_tensor_value(p.graph, (size_t)find(p.model, "inner.w"));
    CU_ASSERT_TRUE(inner >= 0 && oi_graph_value(p.graph, (size_t)inner)->scope != 0);
    CU_ASSERT_EQUAL(oi_graph_resolve(p.graph, 0, "inner.w"), -1);
    free_pipeline(&p);
}

/* Every read, bound in one walk of the scopes, is the value the scope chain
 * gives; a name defined twice resolves to its innermost enclosing definition. */
static void test_graph_shadowing(void)
{
    pipeline p;
    CU_ASSERT_EQUAL_FATAL(run_pipeline(oi_test_fixture("good", "scopes.onnx"), &p), 0);
    int differ = 0, reads = 0;
    for (size_t i = 0; i < oi_graph_node_count(p.graph); i++) {
        const oi_gnode *n = oi_graph_node(p.graph, i);
        for (size_t s = 0; s < n->proto->n_input; s++, reads++)
            differ += oi_graph_input_value(p.graph, i, s) !=
                      oi_graph_resolve(p.graph, n->scope, n->proto->input[s]);
    }
    CU_ASSERT_EQUAL(reads, 12);
    CU_ASSERT_EQUAL(differ, 0);
    long outer = -1, inner = -1;   /* the two values named w */
    for (size_t v = 0; v < oi_graph_value_count(p.graph); v++) {
        const oi_value *val = oi_graph_value(p.graph, v);
        if (strcmp(val->name, "w") == 0)
            *(val->scope == 0 ? &outer : &inner) = (long)v;
    }
    CU_ASSERT_TRUE_FATAL(outer >= 0 && inner >= 0);
    /* main's w: the else-branch and the node after the If; the then-branch's
     * own w: its MatMul and both branches nested in it */
    CU_ASSERT_EQUAL(oi_graph_value(p.graph, (size_t)outer)->n_uses, 2);
    CU_ASSERT_EQUAL(oi_graph_value(p.graph, (size_t)inner)->n_uses, 3);
    const char *outs[] = {"y", "t", "e", "aa", "ab"};   /* each graph's declared output */
    for (int k = 0; k < 5; k++) {
        int marked = 0;
        for (size_t v = 0; v < oi_graph_value_count(p.graph); v++) {
            const oi_value *val = oi_graph_value(p.graph, v);
            marked += strcmp(val->name, outs[k]) == 0 && val->is_output;
        }
        CU_ASSERT_EQUAL(marked, 1);
    }
    free_pipeline(&p);
}

/* --only / --exclude decide before any scheme; excluded tensors say which glob. */
static void test_only_exclude(void)
{
    pipeline p;
    CU_ASSERT_EQUAL_FATAL(run_pipeline(oi_test_fixture("analysis", "conv_relu.onnx"), &p), 0);
    const char *only[] = {"w", NULL}, *exclude[] = {"*", NULL};
    oi_policy pol = oi_policy_default(OI_PRESET_DEFAULT);
    pol.only = only;
    oi_plan *plan;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(p.model, p.analysis, &pol, &plan, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_plan_get(plan, (size_t)find(p.model, "w"))->kind, OI_FILL_NORMAL);
    CU_ASSERT_EQUAL(oi_plan_get(plan, (size_t)find(p.model, "b"))->kind, OI_FILL_NONE);
    CU_ASSERT_PTR_NOT_NULL(strstr(oi_plan_get(plan, (size_t)find(p.model, "b"))->reason, "an 'only' glob"));
    oi_plan_free(plan);
    pol = oi_policy_default(OI_PRESET_DEFAULT);
    pol.exclude = exclude;
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(p.model, p.analysis, &pol, &plan, &err), OI_OK);
    for (size_t i = 0; i < oi_model_tensor_count(p.model); i++) {
        CU_ASSERT_EQUAL(oi_plan_get(plan, i)->kind, OI_FILL_NONE);
        CU_ASSERT_PTR_NOT_NULL(strstr(oi_plan_get(plan, i)->reason, "excluded by the glob '*'"));
    }
    oi_plan_free(plan);
    free_pipeline(&p);
}

/* torch preset: Linear/Conv weight U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(layer fan_in)). */
static void test_torch_preset_numbers(void)
{
    pipeline p;
    CU_ASSERT_EQUAL_FATAL(run_pipeline(oi_test_fixture("analysis", "conv_relu.onnx"), &p), 0);
    oi_policy pol = oi_policy_default(OI_PRESET_TORCH);
    oi_plan *plan;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(p.model, p.analysis, &pol, &plan, &err), OI_OK);
    const oi_decision *w = oi_plan_get(plan, (size_t)find(p.model, "w"));
    const oi_decision *b = oi_plan_get(plan, (size_t)find(p.model, "b"));
    CU_ASSERT_EQUAL(w->kind, OI_FILL_UNIFORM);
    CU_ASSERT_DOUBLE_EQUAL(w->uniform.high, 1.0 / sqrt(72.0), 1e-12);
    CU_ASSERT_EQUAL(b->kind, OI_FILL_UNIFORM);
    CU_ASSERT_DOUBLE_EQUAL(b->uniform.high, 1.0 / sqrt(72.0), 1e-12);
    oi_plan_free(plan);
    free_pipeline(&p);
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"every hand-built pattern analyzed as expected", test_expectations},
        {"outer-scope weight read inside an If body", test_graph_outer_scope},
        {"a name defined twice: reads bind to the innermost definition", test_graph_shadowing},
        {"--only and --exclude", test_only_exclude},
        {"torch preset numbers", test_torch_preset_numbers},
        {NULL, NULL},
    };
    return oi_test_run("analyze", tests);
}

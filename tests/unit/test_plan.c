/* plan + plan_rules: the --rules file (validation, first match wins) and the
 * numbers of every named scheme, on hand-built fixtures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "graph/graph.h"
#include "model/model.h"
#include "oitest.h"
#include "plan/plan.h"
#include "plan/rules.h"

typedef struct {
    oi_model *model;
    oi_graph *graph;
    oi_analysis *analysis;
} analyzed;

static void analyze_fixture(const char *name, analyzed *a)
{
    oi_error err;
    memset(a, 0, sizeof *a);
    CU_ASSERT_EQUAL_FATAL(oi_model_load(oi_test_fixture("analysis", name), &a->model, &err), OI_OK);
    CU_ASSERT_EQUAL_FATAL(oi_graph_build(a->model, &a->graph, &err), OI_OK);
    CU_ASSERT_EQUAL_FATAL(oi_analyze(a->model, a->graph, &a->analysis, &err), OI_OK);
}

static void release(analyzed *a)
{
    oi_analysis_free(a->analysis);
    oi_graph_free(a->graph);
    oi_model_free(a->model);
}

static size_t index_of(oi_model *m, const char *name)
{
    long i = oi_test_tensor_index(m, name);
    CU_ASSERT_TRUE(i >= 0);
    return i < 0 ? 0 : (size_t)i;
}

/* Plan `fixture` under one rules text; return the decision for `tensor`. */
static oi_decision decide(const char *fixture, const char *rules_text, const char *tensor)
{
    analyzed a;
    analyze_fixture(fixture, &a);
    oi_rules *rules = NULL;
    oi_error err;
    oi_decision out = {0};
    if (oi_rules_parse(rules_text, "rules.json", &rules, &err) != OI_OK) {
        fprintf(stderr, "%s\n", err.msg);
        CU_FAIL("rules did not parse");
    } else {
        oi_policy p = oi_policy_default(OI_PRESET_DEFAULT);
        p.rules = rules;
        oi_plan *plan;
        CU_ASSERT_EQUAL_FATAL(oi_plan_build(a.model, a.analysis, &p, &plan, &err), OI_OK);
        out = *oi_plan_get(plan, index_of(a.model, tensor));
        static char reason[512];   /* the plan's texts go with it */
        snprintf(reason, sizeof reason, "%s", out.reason);
        out.reason = reason;
        out.q = NULL;
        oi_plan_free(plan);
    }
    oi_rules_free(rules);
    release(&a);
    return out;
}

static void expect_error(const char *text, const char *needle)
{
    oi_rules *r = NULL;
    oi_error err;
    oi_error_clear(&err);
    CU_ASSERT_EQUAL(oi_rules_parse(text, "rules.json", &r, &err), OI_ERR_USAGE);
    CU_ASSERT_PTR_NULL(r);
    if (!strstr(err.msg, needle) || !strstr(err.msg, "rules.json")) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", err.msg, needle);
        CU_FAIL("error message");
    }
}

static void test_rules_validation(void)
{
    expect_error("{", "not valid JSON");
    expect_error("{\"r\": []}", "expected");
    expect_error("[{\"scheme\": \"bogus\"}]", "rule 1: unknown scheme 'bogus'");
    expect_error("[{\"role\": \"bias\", \"scheme\": \"zeros\"}, {\"schme\": \"zeros\"}]",
                 "rule 2: unknown key 'schme'");
    expect_error("[{\"role\": \"weights\", \"scheme\": \"zeros\"}]", "unknown role 'weights'");
    expect_error("[{\"activation\": \"relu7\", \"scheme\": \"zeros\"}]", "unknown activation");
    expect_error("[{\"scheme\": \"normal\", \"std\": \"big\"}]", "wants a number for 'std'");
    expect_error("[{\"scheme\": \"kaiming_normal\", \"mode\": \"fan_up\"}]", "mode");
    expect_error("[{\"scheme\": \"sparse\", \"sparsity\": 2}]", "sparsity");
    expect_error("[3]", "rule 1: is not an object");
    expect_error("[{\"name\": 3, \"scheme\": \"zeros\"}]", "wants a string for 'name'");
}

static void test_first_match_wins(void)
{
    const char *rules = "[{\"name\": \"w\", \"scheme\": \"ones\"},"
                        " {\"role\": \"weight\", \"scheme\": \"zeros\"}]";
    oi_decision d = decide("conv_relu.onnx", rules, "w");
    CU_ASSERT_EQUAL(d.kind, OI_FILL_CONSTANT);
    CU_ASSERT_EQUAL(d.constant.value, 1.0);
    /* a rule that does not match leaves the preset's decision */
    d = decide("conv_relu.onnx", "[{\"op\": \"Gemm\", \"scheme\": \"ones\"}]", "w");
    CU_ASSERT_STRING_EQUAL(d.scheme, "he_normal");
    d = decide("conv_relu.onnx", "[{\"role\": \"bias\", \"scheme\": \"keep\"}]", "b");
    CU_ASSERT_EQUAL(d.kind, OI_FILL_NONE);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.reason, "kept by rule 1"));
    d = decide("conv_relu.onnx", "[{\"scheme\": \"torch\"}]", "w");
    CU_ASSERT_DOUBLE_EQUAL(d.uniform.high, 1 / sqrt(72.0), 1e-12);
}

/* conv_relu: W[16, 8, 3, 3], fan_in 72, fan_out 144, followed by Relu. */
static void test_scheme_numbers(void)
{
    struct { const char *rule; oi_fill_kind kind; double a, b; } c[] = {   /* oi_test_decision's */
        {"{\"scheme\": \"xavier_uniform\"}", OI_FILL_UNIFORM, -sqrt(6.0 / 216), sqrt(6.0 / 216)},
        {"{\"scheme\": \"xavier_normal\", \"gain\": 2}", OI_FILL_NORMAL, 0, 2 * sqrt(2.0 / 216)},
        {"{\"scheme\": \"glorot_normal\", \"gain\": \"auto\"}", OI_FILL_NORMAL, 0,
         sqrt(2.0) * sqrt(2.0 / 216)},
        {"{\"scheme\": \"kaiming_uniform\"}", OI_FILL_UNIFORM, -sqrt(6.0 / 72), sqrt(6.0 / 72)},
        {"{\"scheme\": \"kaiming_uniform\", \"a\": 2.2360679774997896}", OI_FILL_UNIFORM,
         -1 / sqrt(72.0), 1 / sqrt(72.0)},
        {"{\"scheme\": \"he_normal\", \"mode\": \"fan_out\"}", OI_FILL_NORMAL, 0, sqrt(2.0 / 144)},
        {"{\"scheme\": \"kaiming_normal\", \"a\": 0.2}", OI_FILL_NORMAL, 0,
         sqrt(2.0 / 1.04) / sqrt(72.0)},
        {"{\"scheme\": \"lecun_uniform\"}", OI_FILL_UNIFORM, -sqrt(3.0 / 72), sqrt(3.0 / 72)},
        {"{\"scheme\": \"lecun_normal\"}", OI_FILL_NORMAL, 0, 1 / sqrt(72.0)},
        {"{\"scheme\": \"uniform\", \"low\": -2, \"high\": 3}", OI_FILL_UNIFORM, -2, 3},
        {"{\"scheme\": \"normal\", \"mean\": 1, \"std\": 0.5}", OI_FILL_NORMAL, 1, 0.5},
        {"{\"scheme\": \"trunc_normal\", \"std\": 0.02}", OI_FILL_TRUNC_NORMAL, 0, 0.02},
        {"{\"scheme\": \"constant\", \"value\": 0.3}", OI_FILL_CONSTANT, 0.3, 0},
        {"{\"scheme\": \"orthogonal\", \"gain\": 1.5}", OI_FILL_ORTHOGONAL, 1.5, 0},
        {"{\"scheme\": \"dirac\"}", OI_FILL_IDENTITY, 1, 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char rules[256];
        snprintf(rules, sizeof rules, "[%s]", c[i].rule);
        oi_decision d = decide("conv_relu.onnx", rules, "w");
        double a, b;
        oi_test_decision_numbers(&d, &a, &b);
        int ok = d.kind == c[i].kind && fabs(a - c[i].a) < 1e-12 && fabs(b - c[i].b) < 1e-12;
        if (!ok)
            fprintf(stderr, "  %s: got %s (%g, %g)\n", c[i].rule, oi_fill_name(d.kind), a, b);
        CU_ASSERT_TRUE(ok);
    }
    oi_decision o = decide("conv_relu.onnx", "[{\"scheme\": \"orthogonal\"}]", "w");
    CU_ASSERT_TRUE(o.matrices == 1 && o.rows == 16 && o.cols == 72);
    /* fan-based schemes on a tensor without fans are refused, not guessed */
    oi_decision b = decide("conv_relu.onnx", "[{\"scheme\": \"xavier_uniform\"}]", "b");
    CU_ASSERT_EQUAL(b.kind, OI_FILL_NONE);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.reason, "needs fans"));
    /* sparse on a 2-D weight */
    oi_decision s = decide("gemm_variants.onnx", "[{\"name\": \"b0\", \"scheme\": \"sparse\", "
                                                 "\"sparsity\": 0.5}]", "b0");
    CU_ASSERT_TRUE(s.kind == OI_FILL_SPARSE && s.rows == 6 && s.cols == 10 && s.sparse.sparsity == 0.5);
    /* recurrent weights: orthogonal per gate block */
    oi_decision r = decide("lstm_native.onnx", "[{\"role\": \"rnn_W\", \"scheme\": \"orthogonal\"}]",
                           "W");
    CU_ASSERT_TRUE(r.matrices == 8 && r.rows == 5 && r.cols == 3);
}

/* Presets side by side on one LSTM: keras orthogonalizes the whole recurrent matrix. */
static void test_presets_on_lstm(void)
{
    analyzed a;
    analyze_fixture("lstm_native.onnx", &a);
    oi_error err;
    oi_plan *plan;
    oi_policy keras = oi_policy_default(OI_PRESET_KERAS), torch = oi_policy_default(OI_PRESET_TORCH),
              nofb = oi_policy_default(OI_PRESET_DEFAULT);
    nofb.no_forget_bias = 1;
    size_t r = index_of(a.model, "R"), b = index_of(a.model, "B"), w = index_of(a.model, "W");
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(a.model, a.analysis, &keras, &plan, &err), OI_OK);
    const oi_decision *d = oi_plan_get(plan, r);
    CU_ASSERT_TRUE(d->kind == OI_FILL_ORTHOGONAL && d->matrices == 2 && d->rows == 20 &&
                   d->cols == 5);
    CU_ASSERT_DOUBLE_EQUAL(oi_plan_get(plan, w)->uniform.high, sqrt(6.0 / (3 + 20)), 1e-12);
    oi_plan_free(plan);
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(a.model, a.analysis, &torch, &plan, &err), OI_OK);
    CU_ASSERT_DOUBLE_EQUAL(oi_plan_get(plan, r)->uniform.high, 1 / sqrt(5.0), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(oi_plan_get(plan, b)->uniform.high, 1 / sqrt(5.0), 1e-12);
    oi_plan_free(plan);
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(a.model, a.analysis, &nofb, &plan, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_plan_get(plan, b)->kind, OI_FILL_CONSTANT);
    oi_plan_free(plan);
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(a.model, a.analysis, NULL, &plan, &err), OI_OK);
    d = oi_plan_get(plan, b);
    CU_ASSERT_TRUE(d->kind == OI_FILL_GATE_BIAS && d->n_ranges == 2 && d->range_start[0] == 10 &&
                   d->range_start[1] == 50 && d->range_len[0] == 5);
    oi_plan_free(plan);
    release(&a);
}

/* No policy and the default policy mean the same: LayerScale 1e-6 (ConvNeXt's), ReZero's
 * scalar 0; a caller's own value is used as given, 0 included. */
static void test_default_policy(void)
{
    analyzed a;
    analyze_fixture("layer_scale_rezero.onnx", &a);
    oi_error err;
    oi_plan *plan;
    size_t gamma = index_of(a.model, "gamma"), alpha = index_of(a.model, "alpha");
    oi_policy dflt = oi_policy_default(OI_PRESET_DEFAULT), zero = dflt;
    zero.layer_scale = 0;
    const oi_policy *policies[] = {NULL, &dflt, &zero};
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL_FATAL(oi_plan_build(a.model, a.analysis, policies[k], &plan, &err), OI_OK);
        const oi_decision *g = oi_plan_get(plan, gamma), *r = oi_plan_get(plan, alpha);
        CU_ASSERT_EQUAL(g->kind, OI_FILL_CONSTANT);
        CU_ASSERT_EQUAL(g->constant.value, k == 2 ? 0.0 : 1e-6);   /* exactly, not within a tolerance */
        CU_ASSERT_EQUAL(r->kind, OI_FILL_CONSTANT);
        CU_ASSERT_EQUAL(r->constant.value, 0.0);
        oi_plan_free(plan);
    }
    release(&a);
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"rules file validation names file, rule and key", test_rules_validation},
        {"first matching rule wins; keep; preset as scheme", test_first_match_wins},
        {"every named scheme's numbers", test_scheme_numbers},
        {"presets and forget bias on a native LSTM", test_presets_on_lstm},
        {"no policy is the default policy: LayerScale 1e-6", test_default_policy},
        {NULL, NULL},
    };
    return oi_test_run("plan", tests);
}

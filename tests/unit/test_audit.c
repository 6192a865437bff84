/* audit: flags on constructed models (zeroed, NaN, tiny, dead norm) and none
 * on a healthy, freshly initialized one. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "readout/audit.h"
#include "fill/fill.h"
#include "graph/graph.h"
#include "model/model.h"
#include "oitest.h"
#include "plan/plan.h"

typedef struct {
    oi_model *m;
    oi_graph *g;
    oi_analysis *a;
    oi_plan *p;
} loaded;

static void load(const char *sub, const char *name, loaded *l)
{
    oi_error err;
    memset(l, 0, sizeof *l);
    CU_ASSERT_EQUAL_FATAL(oi_model_load(oi_test_fixture(sub, name), &l->m, &err), OI_OK);
    CU_ASSERT_EQUAL_FATAL(oi_graph_build(l->m, &l->g, &err), OI_OK);
    CU_ASSERT_EQUAL_FATAL(oi_analyze(l->m, l->g, &l->a, &err), OI_OK);
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(l->m, l->a, NULL, &l->p, &err), OI_OK);
}

static void release(loaded *l)
{
    oi_plan_free(l->p);
    oi_analysis_free(l->a);
    oi_graph_free(l->g);
    oi_model_free(l->m);
}

static oi_tensor *find(oi_model *m, const char *name)
{
    long i = oi_test_tensor_index(m, name);
    return i < 0 ? NULL : oi_model_tensor(m, (size_t)i);
}

/* Rewrite a float tensor with f(i, old value). */
static void rewrite(oi_model *m, const char *name, float (*f)(size_t, float))
{
    oi_tensor *t = find(m, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    float *v = malloc(t->n_bytes);
    oi_error err;
    CU_ASSERT_EQUAL(oi_model_read(m, t, v, &err), OI_OK);
    for (size_t i = 0; i < t->n_elems; i++)
        v[i] = f(i, v[i]);
    CU_ASSERT_EQUAL(oi_model_write(m, t, v, &err), OI_OK);
    free(v);
}

static json_object *audit(loaded *l)
{
    json_object *doc = NULL;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_audit_json(l->m, l->g, l->a, l->p, &doc, &err), OI_OK);
    return doc;
}

static int has_flag(json_object *doc, const char *tensor, const char *flag)
{
    json_object *ts = json_object_object_get(doc, "tensors");
    for (size_t i = 0; i < json_object_array_length(ts); i++) {
        json_object *t = json_object_array_get_idx(ts, i);
        if (strcmp(json_object_get_string(json_object_object_get(t, "name")), tensor) != 0)
            continue;
        json_object *f = json_object_object_get(t, "flags");
        for (size_t k = 0; k < json_object_array_length(f); k++)
            if (strcmp(json_object_get_string(json_object_array_get_idx(f, k)), flag) == 0)
                return 1;
    }
    return 0;
}

static int path_flag(json_object *doc, const char *flag)
{
    json_object *f = json_object_object_get(json_object_object_get(doc, "summary"), "signal");
    return f && json_object_array_length(f) &&
           strcmp(json_object_get_string(json_object_array_get_idx(f, 0)), flag) == 0;
}

static float zero(size_t i, float v) { (void)i; (void)v; return 0; }
static float one_nan(size_t i, float v) { return i == 3 ? NAN : v; }
static float tiny(size_t i, float v) { (void)i; return v * 0.01f; }

static void test_healthy_after_fill(void)
{
    loaded l;
    load("good", "mlp.onnx", &l);
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_fill_model(l.m, l.p, (oi_seed){7, OI_STREAM_LATEST}, 1, (oi_fill_target){0}, NULL, NULL, &err), OI_OK);
    json_object *doc = audit(&l);
    CU_ASSERT_EQUAL(oi_audit_flagged(doc), 0);
    double running = json_object_get_double(
        json_object_object_get(json_object_object_get(doc, "summary"), "output_rms"));
    CU_ASSERT_TRUE(running > 0.3 && running < 3);
    json_object_put(doc);
    release(&l);
}

static void test_zeroed_nan_tiny(void)
{
    loaded l;
    load("good", "mlp.onnx", &l);
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_fill_model(l.m, l.p, (oi_seed){7, OI_STREAM_LATEST}, 1, (oi_fill_target){0}, NULL, NULL, &err), OI_OK);
    rewrite(l.m, "fc1.weight", zero);
    rewrite(l.m, "fc2.weight", one_nan);
    json_object *doc = audit(&l);
    CU_ASSERT_TRUE(has_flag(doc, "fc1.weight", "all_zero"));
    CU_ASSERT_TRUE(has_flag(doc, "fc2.weight", "nan_inf"));
    CU_ASSERT_FALSE(has_flag(doc, "fc1.bias", "all_zero"));   /* zero biases are fine */
    CU_ASSERT_TRUE(oi_audit_flagged(doc) >= 2);
    json_object_put(doc);
    release(&l);

    load("good", "mlp.onnx", &l);
    CU_ASSERT_EQUAL_FATAL(oi_fill_model(l.m, l.p, (oi_seed){7, OI_STREAM_LATEST}, 1, (oi_fill_target){0}, NULL, NULL, &err), OI_OK);
    rewrite(l.m, "fc1.weight", tiny);
    rewrite(l.m, "fc2.weight", tiny);
    doc = audit(&l);
    CU_ASSERT_TRUE(has_flag(doc, "fc1.weight", "std_low"));
    CU_ASSERT_TRUE(path_flag(doc, "vanishing"));
    json_object_put(doc);
    release(&l);
}

static void test_dead_norm(void)
{
    loaded l;
    load("analysis", "norms.onnx", &l);
    rewrite(l.m, "s", zero);
    json_object *doc = audit(&l);
    CU_ASSERT_TRUE(has_flag(doc, "s", "dead_norm"));
    CU_ASSERT_FALSE(has_flag(doc, "is", "dead_norm"));
    json_object_put(doc);
    release(&l);
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"freshly initialized net is not flagged", test_healthy_after_fill},
        {"zeroed, NaN and tiny weights are flagged", test_zeroed_nan_tiny},
        {"a dead norm is flagged", test_dead_norm},
        {NULL, NULL},
    };
    return oi_test_run("audit", tests);
}

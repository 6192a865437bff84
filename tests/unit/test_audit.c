/* readout: the audit's flags on constructed models (zeroed, NaN, tiny, dead
 * norm) and none on a healthy, freshly initialized one; the plan's table. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "readout/audit.h"
#include "readout/format.h"
#include "common/utf8.h"
#include "readout/report.h"
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

/* The table printed into a string (free it). */
static char *table_of(const loaded *l, const oi_plan *p, int all)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    oi_report_plan_table(out, l->m, l->a, p, all);
    fclose(out);
    return text;
}

/* Does some line of text start with `name` followed by a blank? */
static int row_starts(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = text; s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
        if (strncmp(s, name, n) == 0 && (s[n] == ' ' || s[n] == '\n'))
            return 1;
    return 0;
}

/* Every rewritten tensor has a row; kept constants are counted by reason, or
 * listed one by one with all; the summary's counts are the plan's. */
static void test_table_rows_and_summary(void)
{
    loaded l;
    load("good", "lstm_bidir.onnx", &l);
    size_t n = oi_model_tensor_count(l.m), done = 0, learned = 0, kept = 0;
    for (size_t i = 0; i < n; i++) {
        oi_role r = oi_plan_role(oi_analysis_get(l.a, i), oi_plan_get(l.p, i));
        learned += r != OI_ROLE_NONE;
        done += r != OI_ROLE_NONE && oi_plan_get(l.p, i)->kind != OI_FILL_NONE;
        kept += r == OI_ROLE_NONE;
    }
    CU_ASSERT_TRUE_FATAL(done > 0 && kept > 0);
    char *grouped = table_of(&l, l.p, 0), *listed = table_of(&l, l.p, 1);
    CU_ASSERT_EQUAL(strncmp(grouped, "tensor ", 7), 0);
    char want[160];
    snprintf(want, sizeof want, "summary: re-initialized %zu of %zu learned tensors", done, learned);
    CU_ASSERT_PTR_NOT_NULL(strstr(grouped, want));
    snprintf(want, sizeof want, "; kept %zu constants\n", kept);
    CU_ASSERT_PTR_NOT_NULL(strstr(grouped, want));
    snprintf(want, sizeof want, "kept %zu constants (not learned parameters), by reason:", kept);
    CU_ASSERT_PTR_NOT_NULL(strstr(grouped, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(grouped, "a full listing shows them one by one"));
    CU_ASSERT_PTR_NULL(strstr(listed, "a full listing shows them one by one"));
    for (size_t i = 0; i < n; i++) {
        const oi_tensor *t = oi_model_tensor(l.m, i);
        oi_role r = oi_plan_role(oi_analysis_get(l.a, i), oi_plan_get(l.p, i));
        char kept_row[128];
        snprintf(kept_row, sizeof kept_row, "  %s", t->name);
        if (r != OI_ROLE_NONE) {
            CU_ASSERT_TRUE(row_starts(grouped, t->name));
        } else if (strlen(t->name) <= 40) {   /* one by one only when asked */
            CU_ASSERT_TRUE(row_starts(listed, kept_row));
            CU_ASSERT_FALSE(row_starts(grouped, kept_row));
        }
    }
    free(grouped);
    free(listed);
    release(&l);
}

/* A tensor excluded by a glob is listed as learned but left alone, with the
 * glob; a name too long for its column stands on a line of its own. */
static void test_table_left_alone_and_long_names(void)
{
    loaded l;
    load("good", "mlp.onnx", &l);
    const char *exclude[] = {"fc2.*", NULL};
    oi_policy pol = oi_policy_default(OI_PRESET_DEFAULT);
    pol.exclude = exclude;
    oi_plan *p = NULL;
    oi_error err;
    oi_tensor *w = find(l.m, "fc1.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    const char *longname = "encoder.layers.11.self_attention.query_key_value.weight";
    const char *saved = w->name;
    w->name = longname;
    CU_ASSERT_EQUAL_FATAL(oi_plan_build(l.m, l.a, &pol, &p, &err), OI_OK);
    char *text = table_of(&l, p, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nlearned, but left alone as asked:\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "excluded by the glob 'fc2.*'"));
    CU_ASSERT_TRUE(row_starts(text, "  fc2.weight"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "summary: re-initialized 2 of 4 learned tensors"));
    char own_line[160];
    snprintf(own_line, sizeof own_line, "\n%s\n ", longname);   /* then its row, nameless */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, own_line));
    free(text);
    w->name = saved;
    oi_plan_free(p);
    release(&l);
}

/* The plan's text of each kind of decision, where, and names elided: the
 * exact strings the table and JSON print. */
static void test_format_each_kind(void)
{
    struct { oi_decision d; const char *want; } cases[] = {
        {{.kind = OI_FILL_CONSTANT, .constant = {1}}, "1"},
        {{.kind = OI_FILL_UNIFORM, .uniform = {-0.125, 0.125}}, "U(-0.125, 0.125)"},
        {{.kind = OI_FILL_NORMAL, .normal = {0, 0.02}}, "N(0, 0.02^2)"},
        {{.kind = OI_FILL_TRUNC_NORMAL, .normal = {0, 0.02}}, "N(0, 0.02^2) truncated"},
        {{.kind = OI_FILL_ORTHOGONAL, .matrix = {1}, .matrices = 8, .rows = 32, .cols = 16},
         "8x[32x16] gain 1"},
        {{.kind = OI_FILL_GATE_BIAS, .gate_bias = {0, 1}, .n_ranges = 2, .range_start = {10, 50}},
         "0, 1 on 2 ranges from 10"},
        {{.kind = OI_FILL_IDENTITY, .matrix = {2}}, "identity x 2"},
        {{.kind = OI_FILL_SPARSE, .sparse = {0.1, 0.01}}, "sparsity 0.1, N(0, 0.01^2)"},
        {{.kind = OI_FILL_DISTINCT, .normal = {0, 0.5}},
         "N(0, 0.5^2) truncated, once per distinct value"},
        {{.kind = OI_FILL_COPY, .reason = "tied to 'emb.weight'"}, "tied to 'emb.weight'"},
        {{.kind = OI_FILL_NONE}, "-"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oi_format_numbers(&cases[i].d, buf, sizeof buf);
        CU_ASSERT_STRING_EQUAL(buf, cases[i].want);
    }
    Onnx__TensorProto proto = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[2] = {3, 4};
    proto.n_dims = 2;
    proto.dims = dims;
    oi_tensor t = {.proto = &proto, .name = "w", .scope = "", .kind = "initializer"};
    oi_format_where(&t, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "initializer");
    t.scope = "If 'cond' then";
    oi_format_where(&t, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "initializer in If 'cond' then");
    oi_format_shape(&t, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "[3,4]");
    oi_format_shape(&t, buf, 3);   /* cut short, still terminated */
    CU_ASSERT_STRING_EQUAL(buf, "[3");
    oi_format_reason_kind("input 1 of Mul '/a/Mul' is not a weight slot", buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "input 1 of Mul is not a weight slot");
    oi_format_elide("encoder.layers.11.self_attn.weight", 20, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "encoder....tn.weight");
    oi_format_elide("short", 20, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "short");
}

/* Names and paths go into JSON as UTF-8: valid sequences kept, each byte of
 * an invalid one (a stray continuation, overlong forms, surrogates, beyond
 * U+10FFFF, F5-FF leads, a sequence cut short) replaced by U+FFFD. */
static void test_utf8_clean(void)
{
#define R "\xef\xbf\xbd"
    struct { const char *in, *want; } cases[] = {
        {"layer.0.weight", "layer.0.weight"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"a\x80" "b", "a" R "b"},
        {"\xc0\x80", R R},                        /* overlong NUL */
        {"\xe0\x80\x80", R R R},                 /* overlong three */
        {"\xf0\x80\x80\x80", R R R R},          /* overlong four */
        {"\xed\xa0\x80", R R R},                 /* a surrogate */
        {"\xf4\x90\x80\x80", R R R R},          /* beyond U+10FFFF */
        {"\xf5\x80\x80", R R R},                 /* never a lead */
        {"\xff\xfe", R R},
        {"x\xe2\x82", "x" R R},                   /* cut short */
    };
#undef R
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = oi_utf8_clean(cases[i].in);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_STRING_EQUAL(got, cases[i].want);
        free(got);
    }
    char *empty = oi_utf8_clean(NULL);
    CU_ASSERT_STRING_EQUAL(empty, "");
    free(empty);
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"table: rows, kept constants, summary", test_table_rows_and_summary},
        {"table: left alone as asked, long names", test_table_left_alone_and_long_names},
        {"freshly initialized net is not flagged", test_healthy_after_fill},
        {"zeroed, NaN and tiny weights are flagged", test_zeroed_nan_tiny},
        {"a dead norm is flagged", test_dead_norm},
        {"text of each kind of decision, shapes, places, names", test_format_each_kind},
        {"names cleaned to UTF-8 for JSON", test_utf8_clean},
        {NULL, NULL},
    };
    return oi_test_run("audit", tests);
}

/* The public API (onnxinit.h) as an application uses it: NULL err everywhere,
 * sinks that fail, cancellation, clones, parameters out of range, and
 * oi_fill_record giving every re-initialized tensor's bytes (Constants and
 * subgraph tensors included) exactly as the in-memory model holds them. */
#include "onnxinit.h"

#include "common/status.h"
#include "model/model.h"
#include "oitest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t *fixture(const char *sub, const char *name, size_t *len)
{
    uint8_t *d = oi_test_slurp(oi_test_fixture(sub, name), len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    return d;
}

static void test_null_err_everywhere(void)
{
    oi_ctx *ctx = oi_ctx_new();
    CU_ASSERT_EQUAL(oi_reinit_file(ctx, "/nonexistent/a.onnx", "/tmp/x.onnx", NULL, NULL),
                    OI_ERR_IO);
    CU_ASSERT_EQUAL(oi_reinit_file(NULL, NULL, NULL, NULL, NULL), OI_ERR_USAGE);
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    void *out = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(oi_reinit_to_memory(ctx, junk, sizeof junk, &out, &len, NULL, NULL),
                    OI_ERR_FORMAT);
    CU_ASSERT_PTR_NULL(out);
    char *json = NULL;
    CU_ASSERT_EQUAL(oi_plan_json(ctx, junk, sizeof junk, &json, NULL), OI_ERR_FORMAT);
    oi_plan_list *l = NULL;
    CU_ASSERT_EQUAL(oi_plan_records(ctx, junk, sizeof junk, &l, NULL), OI_ERR_FORMAT);
    CU_ASSERT_EQUAL(oi_plan_file(ctx, "/nonexistent/a.onnx", OI_FORMAT_JSON, stdout, NULL),
                    OI_ERR_IO);
    CU_ASSERT_EQUAL(oi_audit_file(ctx, "/nonexistent/a.onnx", OI_FORMAT_JSON, stdout, NULL, NULL),
                    OI_ERR_IO);
    CU_ASSERT_EQUAL(oi_ctx_set_preset(ctx, "nope", NULL), OI_ERR_USAGE);
    CU_ASSERT_EQUAL(oi_ctx_set_rules_json(ctx, "{", NULL), OI_ERR_USAGE);
    CU_ASSERT_EQUAL(oi_fill_record(ctx, NULL, NULL, 0, NULL), OI_ERR_USAGE);
    CU_ASSERT_EQUAL(oi_ctx_set_backup_suffix(ctx, "", NULL), OI_ERR_USAGE);
    CU_ASSERT_EQUAL(oi_ctx_set_backup_suffix(ctx, "/x", NULL), OI_ERR_USAGE);
    oi_ctx_free(ctx);
}

static void test_params_checked(void)
{
    oi_ctx *ctx = oi_ctx_new();
    oi_error err;
    int64_t v = -1;
    CU_ASSERT_EQUAL(oi_ctx_get_param(ctx, OI_P_EXTERNAL_THRESHOLD, &v), OI_OK);
    CU_ASSERT_EQUAL(v, 1024);
    CU_ASSERT_EQUAL(oi_ctx_get_param(ctx, OI_P_FORGET_BIAS, &v), OI_OK);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(oi_ctx_set_param(ctx, OI_P_THREADS, -1, &err), OI_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "threads"));
    CU_ASSERT_EQUAL(oi_ctx_set_param(ctx, OI_P_OVERWRITE, 2, &err), OI_ERR_USAGE);
    CU_ASSERT_EQUAL(oi_ctx_set_param(ctx, (oi_param)999, 1, &err), OI_ERR_USAGE);
    CU_ASSERT_EQUAL(oi_ctx_set_preset(ctx, "keras", &err), OI_OK);
    CU_ASSERT_STRING_EQUAL(oi_ctx_preset(ctx), "keras");
    CU_ASSERT_EQUAL(oi_ctx_add_only(ctx, "", &err), OI_ERR_USAGE);
    CU_ASSERT_EQUAL(oi_version_number(), ONNXINIT_VERSION_NUMBER);
    CU_ASSERT_STRING_EQUAL(oi_version_string(), ONNXINIT_VERSION);
    CU_ASSERT_STRING_EQUAL(oi_status_name(OI_ERR_UNSAFE), "unsafe");
    CU_ASSERT_PTR_NOT_NULL(strstr(oi_status_message(OI_ERR_NOMEM), "memory"));
    oi_ctx_free(ctx);
}

typedef struct {
    oi_sink base;
    size_t calls, fail_at;
} counting_sink;

static int counting_append(oi_sink *self, const void *data, size_t len)
{
    counting_sink *s = (counting_sink *)self;
    (void)data, (void)len;
    return ++s->calls >= s->fail_at ? -1 : 0;
}

static void test_sink_failure_is_an_error(void)
{
    size_t len;
    uint8_t *model = fixture("good", "resnet18.onnx", &len);
    oi_ctx *ctx = oi_ctx_new();
    counting_sink sink = {{counting_append}, 0, 3};
    oi_error err;
    CU_ASSERT_EQUAL(oi_reinit_buffer(ctx, model, len, &sink.base, NULL, &err), OI_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sink"));
    sink = (counting_sink){{counting_append}, 0, (size_t)-1};
    oi_summary sum = OI_SUMMARY_INIT;
    CU_ASSERT_EQUAL(oi_reinit_buffer(ctx, model, len, &sink.base, &sum, &err), OI_OK);
    CU_ASSERT_TRUE(sink.calls > 1);
    CU_ASSERT_TRUE(sum.rewritten > 0 && sum.by_scheme && strstr(sum.by_scheme, "he_"));
    oi_summary_clear(&sum);
    CU_ASSERT_PTR_NULL(sum.by_scheme);
    oi_ctx_free(ctx);
    free(model);
}

static int always(void *p) { return *(int *)p; }

static void test_cancel_and_clone(void)
{
    size_t len;
    uint8_t *model = fixture("good", "mlp.onnx", &len);
    oi_ctx *ctx = oi_ctx_new();
    oi_error err;
    CU_ASSERT_EQUAL(oi_ctx_set_seed(ctx, 9), OI_OK);
    CU_ASSERT_EQUAL(oi_ctx_add_exclude(ctx, "b*", &err), OI_OK);
    CU_ASSERT_EQUAL(oi_ctx_set_rules_json(ctx, "{\"rules\": [{\"name\": \"w1\", \"scheme\": "
                                               "\"normal\", \"std\": 0.5}]}", &err), OI_OK);
    int stop = 1;
    oi_ctx_set_cancel(ctx, always, &stop);
    void *a = NULL, *b = NULL;
    size_t la, lb;
    CU_ASSERT_EQUAL(oi_reinit_to_memory(ctx, model, len, &a, &la, NULL, &err), OI_ERR_CANCELLED);
    CU_ASSERT_STRING_EQUAL(oi_status_name(err.status), "cancelled");
    CU_ASSERT_PTR_NULL(a);
    stop = 0;
    oi_ctx *clone = oi_ctx_clone(ctx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(clone);
    CU_ASSERT_EQUAL(oi_reinit_to_memory(ctx, model, len, &a, &la, NULL, &err), OI_OK);
    oi_ctx_free(ctx);   /* the clone owns its own rules and globs */
    CU_ASSERT_EQUAL(oi_reinit_to_memory(clone, model, len, &b, &lb, NULL, &err), OI_OK);
    CU_ASSERT_TRUE(a && b && la == lb && memcmp(a, b, la) == 0);
    oi_free(a);
    oi_free(b);
    oi_ctx_free(clone);
    free(model);
}

/* Every re-initialized tensor of the fixture: oi_fill_record's bytes are the
 * in-memory model's bytes for it. */
static void check_records(const char *sub, const char *name)
{
    size_t len, out_len;
    uint8_t *model = fixture(sub, name, &len);
    oi_ctx *ctx = oi_ctx_new();
    oi_error err;
    oi_ctx_set_seed(ctx, 77);
    void *out = NULL;
    oi_plan_list *l = NULL;
    CU_ASSERT_EQUAL_FATAL(oi_reinit_to_memory(ctx, model, len, &out, &out_len, NULL, &err), OI_OK);
    CU_ASSERT_EQUAL_FATAL(oi_plan_records(ctx, model, len, &l, &err), OI_OK);
    oi_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(oi_model_load_buffer(out, out_len, NULL, name, &m, &err), OI_OK);
    size_t checked = 0;
    for (size_t i = 0; i < oi_plan_list_count(l); i++) {
        const oi_plan_record *r = oi_plan_list_get(l, i);
        const oi_tensor *t = oi_model_tensor(m, i);
        CU_ASSERT_STRING_EQUAL(r->name, t->name);
        if (strcmp(r->scheme, "none") == 0) {
            char b;
            CU_ASSERT_EQUAL(oi_fill_record(ctx, r, &b, 1, &err), OI_ERR_USAGE);
            continue;
        }
        uint8_t *want = malloc(t->n_bytes + 1), *got = malloc(t->n_bytes + 1);
        CU_ASSERT_EQUAL(oi_model_read(m, t, want, &err), OI_OK);
        oi_plan_record copy = *r;   /* a record copied by value fills the same */
        CU_ASSERT_EQUAL(oi_fill_record(ctx, &copy, got, t->n_bytes, &err), OI_OK);
        CU_ASSERT_EQUAL(memcmp(want, got, t->n_bytes), 0);
        CU_ASSERT_EQUAL(oi_fill_record(ctx, r, got, t->n_bytes + 1, &err), OI_ERR_USAGE);
        checked++;
        free(want);
        free(got);
    }
    CU_ASSERT_TRUE(checked > 0);
    oi_model_free(m);
    oi_plan_list_free(l);
    oi_free(out);
    oi_ctx_free(ctx);
    free(model);
}

static void test_fill_record_matches_model(void)
{
    const char *good[] = {"mlp.onnx", "constants.onnx", "if_body.onnx", "loop_body.onnx",
                          "function.onnx", "lstm_bidir.onnx", "gru_bidir.onnx", "fp16_raw.onnx",
                          "bf16_typed.onnx", "mlp_fp64.onnx", "resnet18.onnx"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        check_records("good", good[i]);
}

/* An in-place run with a backup suffix keeps the original bytes beside the new
 * model; a backup never replaces a file, and a failed run leaves none. */
static void test_backup_suffix(void)
{
    char *dir = oi_test_tmpdir();
    char path[4096], kept[4200];
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    snprintf(kept, sizeof kept, "%s.orig", path);
    size_t len, n2;
    uint8_t *orig = oi_test_slurp(oi_test_fixture("good", "mlp.onnx"), &len);
    CU_ASSERT_FATAL(orig && oi_test_write_file(path, orig, len) == 0);
    oi_ctx *ctx = oi_ctx_new();
    oi_error err;
    CU_ASSERT_EQUAL(oi_ctx_set_backup_suffix(ctx, ".orig", &err), OI_OK);
    /* not in place: the option cannot do what it says */
    char other[4200];
    snprintf(other, sizeof other, "%s/out.onnx", dir);
    CU_ASSERT_EQUAL(oi_reinit_file(ctx, path, other, NULL, &err), OI_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "in place"));
    CU_ASSERT_EQUAL(oi_test_count_names(dir, "out.onnx"), 0);
    CU_ASSERT_EQUAL(oi_ctx_set_param(ctx, OI_P_IN_PLACE, 1, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_ctx_set_param(ctx, OI_P_OVERWRITE, 1, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_reinit_file(ctx, path, path, NULL, &err), OI_OK);
    uint8_t *b = oi_test_slurp(kept, &n2), *now = oi_test_slurp(path, &len);
    CU_ASSERT_TRUE(b && n2 == len && memcmp(b, orig, len) == 0);
    CU_ASSERT_TRUE(now && memcmp(now, orig, len) != 0);
    /* again: the backup exists, so the run stops and changes nothing */
    CU_ASSERT_EQUAL(oi_reinit_file(ctx, path, path, NULL, &err), OI_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "backup"));
    uint8_t *after = oi_test_slurp(path, &n2);
    CU_ASSERT_TRUE(after && n2 == len && memcmp(after, now, len) == 0);
    free(b);
    b = oi_test_slurp(kept, &n2);
    CU_ASSERT_TRUE(b && memcmp(b, orig, len) == 0);
    CU_ASSERT_EQUAL(oi_test_count_names(dir, "oi-tmp"), 0);
    free(after);
    free(b);
    free(now);
    free(orig);
    oi_ctx_free(ctx);
    oi_test_rmtree(dir);
    free(dir);
}

/* A setter given no context fails with a message naming itself; a failed
 * file run leaves the caller's summary zeroed. */
static void test_no_context_named_and_summary_zeroed(void)
{
    oi_error err;
    oi_error_clear(&err);
    CU_ASSERT_EQUAL(oi_ctx_set_preset(NULL, "torch", &err), OI_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "oi_ctx_set_preset: no context"));
    CU_ASSERT_EQUAL(oi_ctx_set_param(NULL, OI_P_THREADS, 1, &err), OI_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "oi_ctx_set_param: no context"));
    CU_ASSERT_EQUAL(oi_ctx_add_only(NULL, "x", &err), OI_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "oi_ctx_add_only: no context"));
    oi_ctx *ctx = oi_ctx_new();
    oi_summary sum;
    memset(&sum, 0xab, sizeof sum);
    sum.size = sizeof sum;
    CU_ASSERT_EQUAL(oi_reinit_file(ctx, "/nonexistent/in.onnx", "/nonexistent/out.onnx", &sum, &err),
                    OI_ERR_IO);
    CU_ASSERT_TRUE(sum.size == sizeof sum && sum.tensors == 0 && sum.by_scheme == NULL &&
                   sum.warning == NULL);
    oi_ctx_free(ctx);
}

/* The summary is versioned by its size: an unset size is refused before any work, a
 * caller built against a newer header (a larger struct) gets the fields this library
 * knows and zeros after them, never a byte past its size. */
static void test_summary_size(void)
{
    oi_ctx *ctx = oi_ctx_new();
    oi_error err;
    const char *in = oi_test_fixture("good", "mlp.onnx");
    char out[512];
    snprintf(out, sizeof out, "%s/oi-summary-%d.onnx", P_tmpdir, (int)getpid());
    oi_summary unset = {0};
    CU_ASSERT_EQUAL(oi_reinit_file(ctx, in, out, &unset, &err), OI_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "OI_SUMMARY_INIT"));
    CU_ASSERT_EQUAL(access(out, F_OK), -1);            /* nothing done */
    struct { oi_summary s; unsigned char newer[24]; unsigned char guard[8]; } big;
    memset(&big, 0xab, sizeof big);
    big.s.size = sizeof big.s + sizeof big.newer;
    CU_ASSERT_EQUAL(oi_reinit_file(ctx, in, out, &big.s, &err), OI_OK);
    CU_ASSERT_EQUAL(big.s.size, sizeof big.s + sizeof big.newer);
    CU_ASSERT_TRUE(big.s.rewritten > 0 && big.s.by_scheme != NULL);
    for (size_t i = 0; i < sizeof big.newer; i++)
        CU_ASSERT_EQUAL(big.newer[i], 0);
    for (size_t i = 0; i < sizeof big.guard; i++)
        CU_ASSERT_EQUAL(big.guard[i], 0xab);
    oi_summary_clear(&big.s);
    CU_ASSERT_TRUE(big.s.by_scheme == NULL && big.s.size == sizeof big.s + sizeof big.newer);
    unlink(out);
    oi_ctx_free(ctx);
}

/* Every status has a stable name and a sentence (scripts match the names);
 * a prefixed message keeps its head when it no longer fits. */
static void test_status_names_and_prefix(void)
{
    static const struct { oi_status s; const char *name; } names[] = {
        {OI_OK, "ok"}, {OI_ERR_IO, "io"}, {OI_ERR_FORMAT, "format"}, {OI_ERR_UNSAFE, "unsafe"},
        {OI_ERR_NOMEM, "nomem"}, {OI_ERR_USAGE, "usage"}, {OI_ERR_UNSUPPORTED, "unsupported"},
        {OI_ERR_CANCELLED, "cancelled"}, {OI_ERR_INTERNAL, "internal"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        CU_ASSERT_STRING_EQUAL(oi_status_name(names[i].s), names[i].name);
        CU_ASSERT_TRUE(strlen(oi_status_message(names[i].s)) > 3);
        CU_ASSERT_STRING_NOT_EQUAL(oi_status_message(names[i].s), "unknown status");
    }
    CU_ASSERT_STRING_EQUAL(oi_status_name((oi_status)99), "unknown");
    CU_ASSERT_STRING_EQUAL(oi_status_message((oi_status)99), "unknown status");
    oi_error err;
    oi_error_clear(&err);
    CU_ASSERT_EQUAL(oi_fail(&err, OI_ERR_FORMAT, "tensor '%s': bad", "w"), OI_ERR_FORMAT);
    CU_ASSERT_EQUAL(oi_fail_prefix(&err, "%s: ", "m.onnx"), OI_ERR_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, "m.onnx: tensor 'w': bad");
    char longname[OI_ERROR_MSG_MAX + 40];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    oi_fail_prefix(&err, "%s: ", longname);   /* longer than the message: its head stays */
    CU_ASSERT_EQUAL(strlen(err.msg), sizeof err.msg - 1);
    CU_ASSERT_EQUAL(strncmp(err.msg, longname, sizeof err.msg - 1), 0);
    CU_ASSERT_EQUAL(oi_fail_prefix(NULL, "x"), OI_ERR_USAGE);
    oi_error_clear(&err);
    CU_ASSERT_TRUE(err.status == OI_OK && err.msg[0] == '\0');
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"status names, messages, prefixes", test_status_names_and_prefix},
        {"NULL err everywhere", test_null_err_everywhere},
        {"summary versioned by its size", test_summary_size},
        {"parameters checked", test_params_checked},
        {"sink failure is an error", test_sink_failure_is_an_error},
        {"cancel and clone", test_cancel_and_clone},
        {"fill_record matches the model", test_fill_record_matches_model},
        {"backup suffix", test_backup_suffix},
        {"no context named, summary zeroed", test_no_context_named_and_summary_zeroed},
        {NULL, NULL},
    };
    return oi_test_run("api", tests);
}

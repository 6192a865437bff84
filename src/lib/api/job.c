/* The whole job for one model: load -> graph -> analyze -> plan -> fill -> save,
 * for files (this file) and for memory (memory.c). */
#include "api/api.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze/analyze.h"
#include "common/arena.h"
#include "graph/graph.h"
#include "readout/audit.h"
#include "readout/report.h"
#include "save/save.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void oi_job_free(oi_job *j)
{
    oi_plan_free(j->plan);
    oi_analysis_free(j->analysis);
    oi_graph_free(j->graph);
    oi_model_free(j->model);
    memset(j, 0, sizeof *j);
}

static oi_status analyze_and_plan(oi_job *j, const oi_policy *policy, oi_error *err)
{
    oi_plan_free(j->plan);
    oi_analysis_free(j->analysis);
    oi_graph_free(j->graph);
    j->plan = NULL;
    j->analysis = NULL;
    j->graph = NULL;
    if (oi_graph_build(j->model, &j->graph, err) ||
        oi_analyze(j->model, j->graph, &j->analysis, err) ||
        oi_plan_build(j->model, j->analysis, policy, &j->plan, err) ||
        oi_plan_preserve_signal(j->plan, j->model, j->graph, j->analysis, policy, err))
        return err->status;
    return OI_OK;
}

/* --materialize: declared weights get data, declared data inputs go back;
 * the model changed shape, so it is analyzed and planned once more. */
static oi_status materialize(oi_job *j, const oi_policy *policy, oi_error *err)
{
    for (size_t i = 0; i < oi_model_tensor_count(j->model); i++) {
        oi_tensor *t = oi_model_tensor(j->model, i);
        if (t->storage == OI_STORE_NONE && oi_plan_get(j->plan, i)->kind != OI_FILL_NONE &&
            oi_model_materialize(j->model, t, err))
            return err->status;
    }
    if (oi_model_settle_declared(j->model, err))
        return err->status;
    return analyze_and_plan(j, policy, err);
}

oi_status oi_job_plan(oi_job *j, oi_model *model, const oi_ctx *ctx, const oi_policy *policy,
                      oi_error *err)
{
    memset(j, 0, sizeof *j);
    j->model = model;
    size_t declared = 0;
    oi_status s = OI_OK;
    if (ctx->materialize)
        s = oi_model_declare_inputs(j->model, &declared, err);
    if (s == OI_OK)
        s = analyze_and_plan(j, policy, err);
    if (s == OI_OK && ctx->materialize)
        s = materialize(j, policy, err);
    if (s != OI_OK)
        oi_job_free(j);
    return s;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

oi_status oi_job_fill(oi_job *j, const oi_ctx *ctx, oi_fill_target target, uint64_t *elements,
                      oi_error *err)
{
    oi_fill_stats fs = {0};
    int threads = ctx->threads > 0 ? ctx->threads : default_threads();
    oi_status s = oi_fill_model(j->model, j->plan, ctx->seed, threads, target, &ctx->cancel, &fs,
                                err);
    if (s == OI_OK && oi_cancelled(&ctx->cancel))
        s = oi_fail(err, OI_ERR_CANCELLED, "%s: interrupted", oi_model_label(j->model));
    if (elements)
        *elements = fs.elements;
    return s;
}

oi_status oi_job_summarize(const oi_job *j, oi_summary *sum, oi_error *err)
{
    size_t n = oi_model_tensor_count(j->model);
    const char **done = calloc(n ? n : 1, sizeof *done), **left = calloc(n ? n : 1, sizeof *left);
    oi_arena *kinds = oi_arena_new();   /* reasons without their quoted names */
    oi_status s = done && left && kinds ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "out of memory");
    sum->tensors = n;
    for (size_t i = 0; s == OI_OK && i < n; i++) {
        const oi_decision *d = oi_plan_get(j->plan, i);
        sum->learned += oi_plan_role(oi_analysis_get(j->analysis, i), d) != OI_ROLE_NONE;
        if (d->kind == OI_FILL_NONE) {
            char kind[160];
            oi_report_reason_kind(d->reason, kind, sizeof kind);
            left[i] = oi_arena_copy(kinds, kind);
            sum->left_alone++;
        } else {
            done[i] = d->scheme;
            sum->rewritten++;
        }
    }
    if (s == OI_OK && oi_arena_failed(kinds))
        s = oi_fail(err, OI_ERR_NOMEM, "out of memory");
    if (s == OI_OK && (!(sum->by_scheme = oi_report_tally(done, n)) ||
                       !(sum->left_why = oi_report_tally(left, n))))
        s = oi_fail(err, OI_ERR_NOMEM, "out of memory");
    const char *warning = oi_plan_warning(j->plan, j->analysis);
    if (s == OI_OK && *warning && !(sum->warning = strdup(warning)))
        s = oi_fail(err, OI_ERR_NOMEM, "out of memory");
    free(done);
    free(left);
    oi_arena_free(kinds);
    return s;
}

static oi_status plan_file(oi_job *j, const oi_ctx *ctx, const char *input, oi_preset preset,
                           oi_error *err)
{
    oi_model *m = NULL;
    oi_policy policy = oi_ctx_policy(ctx, preset);
    if (oi_model_load(input, &m, err))
        return err->status;
    if (oi_job_plan(j, m, ctx, &policy, err))
        return err->status;
    if (oi_model_check_unchanged(j->model, err)) {   /* what was read is what the file holds */
        oi_job_free(j);
        return err->status;
    }
    return OI_OK;
}

static int patch_takes(void *patch, const oi_tensor *t)
{
    return oi_patch_takes(patch, t);
}

static oi_status patch_write(void *patch, const oi_tensor *t, uint64_t at, const void *bytes,
                             size_t len, oi_error *err)
{
    return oi_patch_write(patch, t, at, bytes, len, err);
}

static int same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* The backup of an in-place run, before anything is written. */
static oi_status keep_backup(const oi_ctx *ctx, oi_model *m, const char *input,
                             const char *output, char **bm, char **bd, oi_error *err)
{
    if (!ctx->backup_suffix)
        return OI_OK;
    if (!ctx->in_place || !same_file(input, output))
        return oi_fail(err, OI_ERR_USAGE, "%s: a backup is kept only by a run that replaces "
                       "its input in place", output);
    return oi_job_backup(m, input, ctx->backup_suffix, bm, bd, err);
}

static void drop_backup(char *bm, char *bd, oi_status s)
{
    if (s != OI_OK && bm)
        unlink(bm);   /* the original is intact: its backup is not needed */
    if (s != OI_OK && bd)
        unlink(bd);
    free(bm);
    free(bd);
}

static oi_status reinit_file(const oi_ctx *ctx, const char *input, const char *output,
                             oi_summary *sum, oi_error *err)
{
    double t0 = now();
    oi_job j;
    if (plan_file(&j, ctx, input, ctx->preset, err))
        return err->status;
    char *bm = NULL, *bd = NULL;
    if (keep_backup(ctx, j.model, input, output, &bm, &bd, err)) {
        oi_job_free(&j);
        return err->status;
    }
    double t1 = now();
    /* in place, a model's own data file is rewritten under its own name */
    const char *own = ctx->in_place ? oi_model_data_location(j.model) : NULL;
    if (own && strchr(own, '/'))
        own = NULL;
    oi_save_opts so = {
        .overwrite = ctx->overwrite,
        .allow_same_file = ctx->in_place,
        .external_name = ctx->external_name ? ctx->external_name : own,
        .externalize = ctx->externalize,
        .external_threshold = ctx->external_threshold,
        .no_sync = ctx->no_sync,
    };
    oi_patch *patch = NULL;
    unsigned char *rewrite = oi_fill_selection(j.model, j.plan);
    oi_status s = rewrite ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", input);
    /* Patch when only values change: new payloads go straight into a copy of the input. */
    if (s == OI_OK && !ctx->full_encode && oi_patch_possible(j.model, rewrite, &so))
        s = oi_patch_begin(j.model, output, &so, rewrite, &patch, err);
    double t2 = now();
    oi_fill_target target = {patch ? patch_takes : NULL, patch_write, patch};
    if (s == OI_OK)
        s = oi_job_fill(&j, ctx, target, &sum->elements, err);
    double t3 = now();
    if (s == OI_OK)
        s = patch ? oi_patch_commit(patch, err) : oi_model_save(j.model, output, &so, err);
    oi_patch_free(patch);
    free(rewrite);
    drop_backup(bm, bd, s);
    if (s == OI_OK)
        s = oi_job_summarize(&j, sum, err);
    oi_job_free(&j);
    sum->seconds_load = t1 - t0;
    sum->seconds_work = t3 - t2;
    sum->seconds_save = (t2 - t1) + (now() - t3);
    return s;
}

oi_status oi_reinit_file(const oi_ctx *ctx, const char *input, const char *output,
                         oi_summary *summary, oi_error *err)
{
    oi_error local;
    err = err ? err : &local;
    oi_error_clear(err);
    oi_summary sum = OI_SUMMARY_INIT;
    if (oi_summary_check(summary, "oi_reinit_file", err))
        return err->status;
    oi_status s = ctx && input && output ? reinit_file(ctx, input, output, &sum, err)
        : oi_fail(err, OI_ERR_USAGE, "oi_reinit_file: context, input and output are required");
    oi_summary_deliver(summary, &sum, s);   /* as every call: a summary only of what was done */
    return s;
}

static void print_json(FILE *out, json_object *doc)
{
    fputs(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                              JSON_C_TO_STRING_NOSLASHESCAPE), out);
    fputc('\n', out);
}

oi_status oi_audit_file(const oi_ctx *ctx, const char *input, oi_format format, FILE *out,
                        int *flagged, oi_error *err)
{
    oi_error local;
    err = err ? err : &local;
    oi_error_clear(err);
    if (!ctx || !input || !out)
        return oi_fail(err, OI_ERR_USAGE, "oi_audit_file: context, input and out are required");
    /* measured against the default, activation-aware policy */
    oi_ctx plain = *ctx;
    plain.rules = NULL;
    plain.only.items = plain.exclude.items = NULL;
    oi_job j;
    if (plan_file(&j, &plain, input, OI_PRESET_DEFAULT, err))
        return err->status;
    json_object *doc = NULL;
    oi_status s = oi_audit_json(j.model, j.graph, j.analysis, j.plan, &doc, err);
    if (s == OI_OK)   /* the statistics read every value: from the file that was loaded? */
        s = oi_model_check_unchanged(j.model, err);
    if (s == OI_OK) {
        if (format == OI_FORMAT_JSON)
            print_json(out, doc);
        else
            oi_audit_print(out, doc);
        if (flagged)
            *flagged = oi_audit_flagged(doc);
    }
    json_object_put(doc);
    oi_job_free(&j);
    return s;
}

oi_status oi_plan_file(const oi_ctx *ctx, const char *input, oi_format format, FILE *out,
                       oi_error *err)
{
    oi_error local;
    err = err ? err : &local;
    oi_error_clear(err);
    if (!ctx || !input || !out)
        return oi_fail(err, OI_ERR_USAGE, "oi_plan_file: context, input and out are required");
    oi_job j;
    if (plan_file(&j, ctx, input, ctx->preset, err))
        return err->status;
    if (format == OI_FORMAT_JSON) {
        json_object *doc = oi_report_plan_json(j.model, j.analysis, j.plan,
                                               oi_preset_name(ctx->preset), ctx->seed);
        print_json(out, doc);
        json_object_put(doc);
    } else {
        oi_report_plan_table(out, j.model, j.analysis, j.plan, format == OI_FORMAT_TABLE_ALL);
    }
    oi_job_free(&j);
    return OI_OK;
}

/* The strings of a summary, as offsets: those past a caller's size are not its own. */
static const size_t summary_strings[] = {offsetof(oi_summary, by_scheme),
                                         offsetof(oi_summary, left_why),
                                         offsetof(oi_summary, warning)};

static void free_strings_from(oi_summary *s, size_t from, size_t upto)
{
    for (size_t i = 0; i < sizeof summary_strings / sizeof *summary_strings; i++)
        if (summary_strings[i] >= from && summary_strings[i] + sizeof(char *) <= upto) {
            char **p = (char **)(void *)((char *)s + summary_strings[i]);
            free(*p);
            *p = NULL;
        }
}

oi_status oi_summary_check(const oi_summary *summary, const char *fn, oi_error *err)
{
    if (summary && summary->size < sizeof(oi_summary))   /* 0.3's layout is the smallest */
        return oi_fail(err, OI_ERR_USAGE, "%s: summary->size is %zu, not sizeof(oi_summary) "
                       "(initialize it with OI_SUMMARY_INIT)", fn, summary->size);
    return OI_OK;
}

void oi_summary_deliver(oi_summary *summary, oi_summary *sum, oi_status s)
{
    if (s != OI_OK || !summary)
        free_strings_from(sum, 0, sizeof *sum);
    if (!summary)
        return;
    size_t size = summary->size;
    memset((char *)summary + sizeof *sum, 0, size - sizeof *sum);   /* a newer caller's fields */
    if (s != OI_OK)
        memset(sum, 0, sizeof *sum);
    sum->size = size;
    memcpy(summary, sum, sizeof *sum);
}

void oi_summary_clear(oi_summary *summary)
{
    if (!summary)
        return;
    size_t size = summary->size, own = size < sizeof *summary ? size : sizeof *summary;
    free_strings_from(summary, 0, own);
    memset(summary, 0, own);
    if (own >= sizeof summary->size)
        summary->size = size;
}

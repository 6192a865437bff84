/* The whole job for one model: load -> graph -> analyze -> plan -> fill -> save. */
#include "onnxinit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analyze.h"
#include "audit.h"
#include "fill.h"
#include "graph.h"
#include "model.h"
#include "plan.h"
#include "plan_rules.h"
#include "report.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void oi_options_init(oi_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->external_threshold = 1024;
}

int oi_options_preset(const char *name) { return oi_preset_parse(name); }

/* Everything up to the plan, owned together. */
typedef struct {
    oi_model *model;
    oi_graph *graph;
    oi_analysis *analysis;
    oi_plan *plan;
    oi_rules *rules;
} job;

static void job_free(job *j)
{
    oi_plan_free(j->plan);
    oi_rules_free(j->rules);
    oi_analysis_free(j->analysis);
    oi_graph_free(j->graph);
    oi_model_free(j->model);
}

static oi_status analyze_and_plan(job *j, const oi_policy *policy, oi_error *err)
{
    oi_plan_free(j->plan);
    oi_analysis_free(j->analysis);
    oi_graph_free(j->graph);
    j->plan = NULL;
    j->analysis = NULL;
    j->graph = NULL;
    if (oi_graph_build(j->model, &j->graph, err) ||
        oi_analyze(j->model, j->graph, &j->analysis, err) ||
        oi_plan_build(j->model, j->analysis, policy, &j->plan, err))
        return err->status;
    return OI_OK;
}

/* --materialize: declared weights get data, declared data inputs go back;
 * the model changed shape, so it is analyzed and planned once more. */
static oi_status materialize(job *j, const oi_policy *policy, oi_error *err)
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

static oi_status job_plan(job *j, const char *input, const oi_options *o, oi_error *err)
{
    memset(j, 0, sizeof *j);
    oi_policy policy = {
        .preset = (oi_preset)o->preset,
        .no_forget_bias = o->no_forget_bias,
        .only = o->only,
        .exclude = o->exclude,
        .materialize = o->materialize,
        .residual_scale = o->residual_scale,
    };
    size_t declared = 0;
    oi_status s = OI_OK;
    if (o->rules_path)
        s = oi_rules_load(o->rules_path, &j->rules, err);
    policy.rules = j->rules;
    if (s == OI_OK)
        s = oi_model_load(input, &j->model, err);
    if (s == OI_OK && o->materialize)
        s = oi_model_declare_inputs(j->model, &declared, err);
    if (s == OI_OK)
        s = analyze_and_plan(j, &policy, err);
    if (s == OI_OK && o->materialize)
        s = materialize(j, &policy, err);
    if (s != OI_OK)
        job_free(j);
    return s;
}

oi_status oi_audit_file(const char *input, const oi_options *opts, int json, FILE *out,
                        int *flagged, oi_error *err)
{
    oi_options o = *opts;
    o.preset = 0;   /* measured against the default, activation-aware policy */
    o.only = o.exclude = NULL;
    o.rules_path = NULL;
    job j;
    if (job_plan(&j, input, &o, err))
        return err->status;
    json_object *doc = NULL;
    oi_status s = oi_audit_json(j.model, j.analysis, j.plan, &doc, err);
    if (s == OI_OK) {
        if (json) {
            fputs(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE), out);
            fputc('\n', out);
        } else {
            oi_audit_print(out, doc);
        }
        *flagged = oi_audit_flagged(doc);
    }
    json_object_put(doc);
    job_free(&j);
    return s;
}

oi_status oi_plan_file(const char *input, const oi_options *opts, int json, FILE *out,
                       oi_error *err)
{
    job j;
    if (job_plan(&j, input, opts, err))
        return err->status;
    if (json) {
        json_object *doc = oi_report_plan_json(j.model, j.analysis, j.plan,
                                               oi_preset_name((oi_preset)opts->preset));
        fputs(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE), out);
        fputc('\n', out);
        json_object_put(doc);
    } else {
        oi_report_plan_table(out, j.model, j.analysis, j.plan);
    }
    job_free(&j);
    return OI_OK;
}

static void summarize(const job *j, oi_summary *sum)
{
    size_t n = oi_model_tensor_count(j->model);
    const char **done = calloc(n ? n : 1, sizeof *done), **left = calloc(n ? n : 1, sizeof *left);
    if (!done || !left) {
        free(done);
        free(left);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const oi_decision *d = oi_plan_get(j->plan, i);
        if (d->kind == OI_FILL_NONE) {
            left[i] = d->reason;
            sum->left_alone++;
        } else {
            done[i] = d->scheme;
            sum->rewritten++;
        }
    }
    oi_report_tally(sum->by_scheme, sizeof sum->by_scheme, done, n);
    oi_report_tally(sum->left_why, sizeof sum->left_why, left, n);
    free(done);
    free(left);
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

oi_status oi_reinit_file(const char *input, const char *output, const oi_options *opts,
                         oi_summary *summary, oi_error *err)
{
    oi_summary sum = {0};
    double t0 = now();
    job j;
    if (job_plan(&j, input, opts, err))
        return err->status;
    double t1 = now();
    sum.tensors = oi_model_tensor_count(j.model);
    oi_save_opts so = {
        .overwrite = opts->overwrite,
        .allow_same_file = opts->in_place,
        .external_name = opts->external_name,
        .externalize = opts->externalize,
        .external_threshold = opts->external_threshold,
    };
    oi_fill_stats fs = {0};
    oi_patch *patch = NULL;
    int threads = opts->threads > 0 ? opts->threads : default_threads();
    unsigned char *rewrite = oi_fill_selection(j.model, j.plan);
    oi_status s = rewrite ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", input);
    /* Patch when only values change: new payloads go straight into a copy of the input. */
    if (s == OI_OK && !opts->full_encode && oi_patch_possible(j.model, rewrite, &so))
        s = oi_patch_begin(j.model, output, &so, rewrite, &patch, err);
    double t2 = now();
    if (s == OI_OK)
        s = oi_fill_model(j.model, j.plan, opts->seed, threads, patch, opts->cancel, &fs, err);
    double t3 = now();
    if (s == OI_OK && opts->cancel && atomic_load(opts->cancel))
        s = oi_fail(err, OI_ERR_IO, "%s: interrupted", input);   /* before anything lands */
    if (s == OI_OK)
        s = patch ? oi_patch_commit(patch, err) : oi_model_save(j.model, output, &so, err);
    oi_patch_free(patch);
    free(rewrite);
    if (s == OI_OK) {
        summarize(&j, &sum);
        sum.elements = fs.elements;
    }
    job_free(&j);
    sum.seconds_load = t1 - t0;
    sum.seconds_work = t3 - t2;
    sum.seconds_save = (t2 - t1) + (now() - t3);
    if (summary)
        *summary = sum;
    return s;
}

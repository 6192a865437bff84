/* api — the library's top layer: the context behind oi_ctx and the job that
 * runs the stages for one model.  Internal; onnxinit.h is the contract. */
#ifndef OI_API_H
#define OI_API_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "model/model.h"
#include "fill/fill.h"
#include "plan/plan.h"
#include "plan/rules.h"

typedef struct {
    const char **items;     /* NULL-terminated, owned */
    size_t n;
} oi_glob_list;

struct oi_ctx {
    oi_seed seed;   /* value and stream version */
    oi_preset preset;
    int threads, forget_bias, materialize, residual_scale, full_encode, signal;
    int overwrite, in_place, externalize;
    int no_sync;                  /* OI_P_NO_SYNC */
    uint64_t external_threshold;
    double layer_scale;
    char *external_name, *base_dir, *label;
    char *backup_suffix;          /* in place: keep the original as INPUT+suffix */
    char *rules_text, *rules_label;   /* kept so a clone can parse its own */
    oi_rules *rules;
    oi_glob_list only, exclude;
    oi_cancel cancel;
};

/* Everything up to the plan, owned together. */
typedef struct {
    oi_model *model;
    struct oi_graph *graph;
    struct oi_analysis *analysis;
    oi_plan *plan;
} oi_job;

/* The policy the context describes (borrows from ctx). */
oi_policy oi_ctx_policy(const oi_ctx *ctx, oi_preset preset);
/* Plan an already loaded model (the job takes it, and frees it on failure). */
oi_status oi_job_plan(oi_job *j, oi_model *model, const oi_ctx *ctx, const oi_policy *policy,
                      oi_error *err);
void oi_job_free(oi_job *j);
/* Fill the plan into the model (or straight into target's files). */
oi_status oi_job_fill(oi_job *j, const oi_ctx *ctx, oi_fill_target target, uint64_t *elements,
                      oi_error *err);
/* Keep input (and its one data file) as INPUT+suffix before m replaces it in
 * place: hard links, or a copy of the model pointing at the kept data file.
 * *made_model / *made_data (free) name what was created. */
oi_status oi_job_backup(oi_model *m, const char *input, const char *suffix, char **made_model,
                        char **made_data, oi_error *err);
/* The counts and tallies of a finished job. */
oi_status oi_job_summarize(const oi_job *j, oi_summary *sum, oi_error *err);
/* A caller's summary must say its size (OI_SUMMARY_INIT); NULL is fine. */
oi_status oi_summary_check(const oi_summary *summary, const char *fn, oi_error *err);
/* Hand the library's full summary to the caller's as far as its size reaches:
 * on failure a zeroed one.  sum's strings are given away or freed. */
void oi_summary_deliver(oi_summary *summary, oi_summary *sum, oi_status s);

#endif

/* report — the plan read out for people (a table) and for scripts (JSON). */
#ifndef OI_REPORT_H
#define OI_REPORT_H

#include <json-c/json.h>
#include <stdio.h>

#include "analyze/analyze.h"
#include "model/model.h"
#include "fill/fill.h"
#include "plan/plan.h"

/* The table `onnxinit plan` prints; all: list every kept constant, not just counts. */
void oi_report_plan_table(FILE *out, oi_model *model, const oi_analysis *a, const oi_plan *p,
                          int all);
/* {"model", "preset", "seed", "stream", "tensors": [...], "untouched": [...],
 * "summary": {...}}; caller puts it.  seed and stream: what the bytes would depend on. */
json_object *oi_report_plan_json(oi_model *model, const oi_analysis *a, const oi_plan *p,
                                 const char *preset, oi_seed seed);

typedef struct oi_tally_entry {
    const char *name;
    size_t count, first;
} oi_tally_entry;

/* The distinct names among names[0..n) (NULLs skipped) with their counts, most
 * frequent first, ties in order of first appearance; *out malloc'd. */
size_t oi_report_groups(const char *const *names, size_t n, oi_tally_entry **out);
/* The reason with its quoted names dropped, so like reasons group together. */
void oi_report_reason_kind(const char *reason, char *buf, size_t size);
/* "name count, ..." of the same. */
char *oi_report_tally(const char *const *names, size_t n);

#endif

/* report — the plan read out for people (a table) and for scripts (JSON). */
#ifndef OI_REPORT_H
#define OI_REPORT_H

#include <json-c/json.h>
#include <stdio.h>

#include "analyze/analyze.h"
#include "model/model.h"
#include "plan/plan.h"

void oi_report_plan_table(FILE *out, oi_model *model, const oi_analysis *a, const oi_plan *p);
/* {"model", "preset", "tensors": [...], "untouched": [...], "summary": {...}}; caller puts it. */
json_object *oi_report_plan_json(oi_model *model, const oi_analysis *a, const oi_plan *p,
                                 const char *preset);

/* "name count, ..." for the distinct names among names[0..n) (NULLs skipped). */
char *oi_report_tally(const char *const *names, size_t n);

#endif

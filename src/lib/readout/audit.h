/* audit — a model's current weights next to what their layers want.
 *
 * Per weight: role, fans, activation, the actual mean/std/min/max, the
 * default policy's scheme and its std, and flags:
 *   nan_inf       NaN or Inf values
 *   all_zero      every value 0 (for a weight: symmetry not broken)
 *   constant      every value equal (symmetry not broken)
 *   std_high / std_low   std >= 3x / <= 1/3 of the scheme's
 *   dead_norm     a normalization scale of all zeros
 * and the signal: the mean and second moment of every value propagated from
 * N(0, 1) inputs through the graph with the current weights (signal.h:
 * residual branches add, gates multiply), per layer its output's rms, and
 * the model outputs' rms flagged "vanishing" (< 1e-2) or "exploding" (> 1e2). */
#ifndef OI_AUDIT_H
#define OI_AUDIT_H

#include <json-c/json.h>
#include <stdio.h>

#include "analyze/analyze.h"
#include "common/status.h"
#include "model/model.h"
#include "plan/plan.h"

/* The audit of a loaded, analyzed, planned (default policy) model. */
oi_status oi_audit_json(oi_model *model, const oi_graph *g, const oi_analysis *a,
                        const oi_plan *p, json_object **out, oi_error *err);
/* The same document printed as tables for people. */
void oi_audit_print(FILE *out, json_object *audit);
/* How many tensors (and depth-profile entries) were flagged. */
int oi_audit_flagged(json_object *audit);

#endif

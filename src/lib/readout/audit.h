/* audit — a model's current weights next to what their layers want.
 *
 * Per weight: role, fans, activation, the actual mean/std/min/max, the
 * default policy's scheme and its std, and flags:
 *   nan_inf       NaN or Inf values
 *   all_zero      every value 0 (for a weight: symmetry not broken)
 *   constant      every value equal (symmetry not broken)
 *   std_high / std_low   std >= 3x / <= 1/3 of the scheme's
 *   dead_norm     a normalization scale of all zeros
 * and a depth profile: per layer in node order the forward variance factor
 * fan_in * E[W^2] / gain^2 (1 keeps the signal's scale) and its running
 * product, flagging paths that vanish (< 1e-2) or explode (> 1e2). */
#ifndef OI_AUDIT_H
#define OI_AUDIT_H

#include <json-c/json.h>
#include <stdio.h>

#include "analyze/analyze.h"
#include "common/status.h"
#include "model/model.h"
#include "plan/plan.h"

/* The audit of a loaded, analyzed, planned (default policy) model. */
oi_status oi_audit_json(oi_model *model, const oi_analysis *a, const oi_plan *p,
                        json_object **out, oi_error *err);
/* The same document printed as tables for people. */
void oi_audit_print(FILE *out, json_object *audit);
/* How many tensors (and depth-profile entries) were flagged. */
int oi_audit_flagged(json_object *audit);

#endif

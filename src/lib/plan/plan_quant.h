/* Decisions for quantized tensors, inside plan/ (called by plan.c). */
#ifndef OI_PLAN_QUANT_H
#define OI_PLAN_QUANT_H

#include "plan/plan.h"
#include "common/arena.h"

/* d holds the float scheme w's role gets; for a quantized payload it becomes
 * QUANT (that scheme drawn, then quantized), or untouched where the scheme
 * needs a float shape the codes do not have. */
void oi_plan_quantize(oi_decision *d, const oi_weight *w, oi_arena *arena);
/* A scale / zero point follows its weight (decision wd, named wname). */
void oi_plan_quant_companion(oi_decision *d, const oi_weight *w, const oi_decision *wd,
                             const char *wname, oi_arena *arena);

#endif

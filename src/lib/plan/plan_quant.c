/* A quantized weight gets its role's float scheme, drawn and quantized to its
 * codes; its scale and zero point are refit with it or left alone with it. */
#include "plan/plan_quant.h"
#include "plan/schemes.h"

#include <stdio.h>
#include <string.h>

/* Left alone, nothing of the scheme it had kept. */
static void untouched(oi_decision *d, const char *why)
{
    memset(d, 0, sizeof *d);
    oi_scheme_untouched(d, why);
}

void oi_plan_quantize(oi_decision *d, const oi_weight *w, oi_arena *arena)
{
    if (w->quant->form == OI_QUANT_NONE || d->kind == OI_FILL_NONE)
        return;
    int elementwise = d->kind == OI_FILL_CONSTANT || d->kind == OI_FILL_UNIFORM ||
                      d->kind == OI_FILL_NORMAL || d->kind == OI_FILL_TRUNC_NORMAL ||
                      d->kind == OI_FILL_GATE_BIAS;
    if (!elementwise && w->quant->packed) {
        untouched(d, oi_arena_printf(arena, "%.60s cannot be drawn for a %s weight (its codes "
                                    "are blocks, not the layer's matrix)", d->scheme,
                                    oi_quant_form_name(w->quant->form)));
        return;
    }
    d->draw = d->kind;
    d->kind = OI_FILL_QUANT;
    d->q = w->quant;
}

void oi_plan_quant_companion(oi_decision *d, const oi_weight *w, const oi_decision *wd,
                             const char *wname, oi_arena *arena)
{
    int scale = w->role == OI_ROLE_QSCALE;
    if (wd->kind != OI_FILL_QUANT) {
        untouched(d, oi_arena_printf(arena, "%s of '%.120s', which is left alone",
                                    scale ? "scale" : "zero point", wname));
        return;
    }
    memset(d, 0, sizeof *d);
    d->kind = scale ? OI_FILL_QUANT_SCALE : OI_FILL_QUANT_ZERO;
    d->scheme = scale ? "refit scale" : "refit zero point";
    d->source = w->quant->weight;
    d->q = wd->q;
    d->reason = oi_arena_printf(arena, "fits '%.160s'", wname);
}

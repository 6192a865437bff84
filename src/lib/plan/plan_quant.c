/* A quantized weight gets its role's float scheme, drawn and quantized to its
 * codes; its scale and zero point are refit with it or left alone with it. */
#include "plan/plan_quant.h"

#include <stdio.h>
#include <string.h>

static void untouched(oi_decision *d, const char *why)
{
    memset(d, 0, sizeof *d);
    d->kind = OI_FILL_NONE;
    d->scheme = "untouched";
    snprintf(d->reason, sizeof d->reason, "%s", why);
}

void oi_plan_quantize(oi_decision *d, const oi_weight *w)
{
    if (w->quant.form == OI_QUANT_NONE || d->kind == OI_FILL_NONE)
        return;
    int elementwise = d->kind == OI_FILL_CONSTANT || d->kind == OI_FILL_UNIFORM ||
                      d->kind == OI_FILL_NORMAL || d->kind == OI_FILL_TRUNC_NORMAL ||
                      d->kind == OI_FILL_GATE_BIAS;
    if (!elementwise && w->quant.packed) {
        char why[sizeof d->reason];
        snprintf(why, sizeof why, "%.60s cannot be drawn for a %s weight (its codes are "
                 "blocks, not the layer's matrix)", d->scheme, oi_quant_form_name(w->quant.form));
        untouched(d, why);
        return;
    }
    d->draw = d->kind;
    d->kind = OI_FILL_QUANT;
    d->q = w->quant;
}

void oi_plan_quant_companion(oi_decision *d, const oi_weight *w, const oi_decision *wd,
                             const char *wname)
{
    int scale = w->role == OI_ROLE_QSCALE;
    char why[sizeof d->reason];
    if (wd->kind != OI_FILL_QUANT) {
        snprintf(why, sizeof why, "%s of '%.120s', which is left alone",
                 scale ? "scale" : "zero point", wname);
        untouched(d, why);
        return;
    }
    memset(d, 0, sizeof *d);
    d->kind = scale ? OI_FILL_QUANT_SCALE : OI_FILL_QUANT_ZERO;
    d->scheme = scale ? "refit scale" : "refit zero point";
    d->source = w->quant.weight;
    d->q = wd->q;
    snprintf(d->reason, sizeof d->reason, "fits '%.160s'", wname);
}

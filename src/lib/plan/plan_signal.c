/* Signal-preserving gains (plan.h): the propagation of signal.h, with each
 * weight layer's draw rescaled as the walk reaches it. */
#include "plan/plan.h"
#include "plan/plan_internal.h"
#include "plan/rules.h"
#include "plan/signal.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>


int oi_decision_moments(const oi_decision *d, double *mean, double *msq)
{
    double m = d->normal.mean, s = d->normal.std, lo = d->uniform.low, hi = d->uniform.high;
    switch (d->kind == OI_FILL_QUANT ? d->draw : d->kind) {
    case OI_FILL_CONSTANT: *mean = d->constant.value; *msq = *mean * *mean; return 1;
    case OI_FILL_NORMAL:
    case OI_FILL_TRUNC_NORMAL: *mean = m; *msq = m * m + s * s; return 1;
    case OI_FILL_UNIFORM: *mean = (lo + hi) / 2; *msq = (lo * lo + lo * hi + hi * hi) / 3; return 1;
    default: return 0;
    }
}

/* A zero-mean random draw, which a factor rescales without changing its kind. */
static int rescalable(const oi_decision *d)
{
    oi_fill_kind k = d->kind == OI_FILL_QUANT ? d->draw : d->kind;
    return ((k == OI_FILL_NORMAL || k == OI_FILL_TRUNC_NORMAL) && d->normal.mean == 0) ||
           (k == OI_FILL_UNIFORM && d->uniform.low == -d->uniform.high);
}

static void rescale(oi_decision *d, double s)
{
    oi_fill_kind k = d->kind == OI_FILL_QUANT ? d->draw : d->kind;
    if (k == OI_FILL_UNIFORM) {
        d->uniform.low *= s;
        d->uniform.high *= s;
    } else {
        d->normal.std *= s;   /* (rescalable: normal or truncated normal) */
    }
    d->gain *= s;
}

typedef struct {
    oi_plan *plan;
    oi_model *model;
    const oi_analysis *analysis;
    const oi_policy *policy;
    size_t rescaled;
} gains;

static oi_moment planned_constant(void *opaque, size_t tensor)
{
    gains *g = opaque;
    oi_moment m;
    if (oi_decision_moments(&g->plan->items[tensor], &m.mean, &m.msq)) {
        m.cmsq = m.msq;   /* a constant is the same at every position */
        return m;
    }
    return oi_signal_stored(g->model, tensor);
}

/* Why a layer's decision is not rescaled, or NULL. */
static const char *held(const gains *g, const oi_signal_layer *l)
{
    const oi_decision *d = &g->plan->items[l->tensor];
    const oi_weight *w = oi_analysis_get(g->analysis, l->tensor);
    if (d->kind == OI_FILL_NONE || !rescalable(d) || w->tied_to >= 0)
        return "kept, derived or not a zero-mean draw";
    if (oi_rules_match(g->policy->rules, oi_model_tensor(g->model, l->tensor), w))
        return "set by a rule";
    return NULL;
}

static double layer_gain(void *opaque, const oi_signal_layer *l)
{
    gains *g = opaque;
    oi_decision *d = &g->plan->items[l->tensor];
    double mean, msq;
    if (!oi_decision_moments(d, &mean, &msq))
        return oi_signal_stored(g->model, l->tensor).msq;
    double target = l->branch_end ? OI_SIGNAL_BRANCH * OI_SIGNAL_BRANCH
                    : l->gate ? OI_SIGNAL_GATE * OI_SIGNAL_GATE
                    : l->head ? OI_SIGNAL_HEAD * OI_SIGNAL_HEAD : 1.0;
    double denom = l->terms * l->in.msq * msq;
    if (held(g, l) || !(denom > 0) || !isfinite(denom))
        return msq;
    double s = sqrt(target / denom);
    rescale(d, s);
    d->signal = s;
    d->reason = oi_arena_printf(g->plan->arena,
             "signal-preserving: %s x%.3g (input E[x^2] %.3g, output E[y^2] %s)", d->scheme, s,
             l->in.msq, l->branch_end ? "0.04, a residual branch's end"
                        : l->gate ? "0.01, into a sigmoid gate"
                        : l->head ? "0.25, the model's output" : "1");
    g->rescaled++;
    return msq * s * s;
}

oi_status oi_plan_preserve_signal(oi_plan *plan, oi_model *model, const oi_graph *graph,
                                  const oi_analysis *analysis, const oi_policy *policy,
                                  oi_error *err)
{
    oi_policy none = oi_policy_default(OI_PRESET_DEFAULT);
    const oi_policy *p = policy ? policy : &none;
    int on = p->signal == OI_SIGNAL_ON || p->preset == OI_PRESET_NORMFREE ||
             (p->signal == OI_SIGNAL_AUTO && p->preset == OI_PRESET_DEFAULT &&
              oi_signal_needed(analysis, plan->n));
    if (!on || p->signal == OI_SIGNAL_OFF)
        return OI_OK;
    size_t nv = oi_graph_value_count(graph);
    oi_moment *m = malloc((nv ? nv : 1) * sizeof *m);
    if (!m)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    gains g = {plan, model, analysis, p, 0};
    oi_signal_hooks hooks = {planned_constant, layer_gain, &g};
    oi_status s = oi_signal_propagate(model, graph, analysis, &hooks, m, err);
    free(m);
    plan->signal = s == OI_OK && g.rescaled > 0;
    plan->signal_layers = g.rescaled;
    if (plan->signal)
        snprintf(plan->note, sizeof plan->note,
                 "no normalization in this graph (BatchNorm folded by an eval-mode export, or "
                 "none by design): signal-preserving gains chosen for %zu layers by propagating "
                 "the signal's variance from N(0,1) inputs (each layer's output E[y^2] 1, residual "
                 "branches 0.04), so the re-initialized model neither explodes nor vanishes; "
                 "signal mode 'off' keeps the per-layer schemes alone", g.rescaled);
    return s;
}

const char *oi_plan_warning(const oi_plan *plan, const oi_analysis *analysis)
{
    return plan->signal ? plan->note : oi_analysis_warning(analysis);
}

size_t oi_plan_signal_layers(const oi_plan *plan) { return plan->signal_layers; }

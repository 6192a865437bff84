#include "plan/plan.h"
#include "plan/schemes.h"
#include "plan/plan_internal.h"
#include "plan/rules.h"
#include "plan/plan_quant.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parameters that are not layer weights: positions, tokens, LayerScale,
 * relative position bias.  A folded bias table keeps its structure. */
static int other_parameter(oi_decision *d, const oi_weight *w, const oi_policy *p)
{
    switch (w->role) {
    case OI_ROLE_POSITION: case OI_ROLE_TOKEN:
        oi_scheme_trunc_normal(d, 0.02, "trunc_normal(0.02)");
        if (w->folded) {   /* gathered or expanded, then folded */
            d->kind = OI_FILL_DISTINCT;
            d->scheme = "trunc_normal(0.02) per distinct value";
        }
        return 1;
    case OI_ROLE_REL_POS_BIAS:
        oi_scheme_trunc_normal(d, 0.02, "trunc_normal(0.02)");
        if (w->folded) {
            d->kind = OI_FILL_DISTINCT;
            d->scheme = "trunc_normal(0.02) per distinct value";
        }
        return 1;
    case OI_ROLE_AFFINE_SCALE:
        oi_scheme_constant(d, 1, "ones (learnable affine scale)");
        return 1;
    case OI_ROLE_AFFINE_SHIFT:
        oi_scheme_constant(d, 0, "zeros (learnable affine shift)");
        return 1;
    case OI_ROLE_LAYER_SCALE:
        if (w->scalar_scale)
            oi_scheme_constant(d, 0, "zeros (ReZero)");
        else
            oi_scheme_constant(d, p->layer_scale, "layer_scale");
        return 1;
    default:
        return 0;
    }
}

static int is_he_family(oi_act a)
{
    return a != OI_ACT_LINEAR && a != OI_ACT_SELU && a != OI_ACT_TANH && a != OI_ACT_SIGMOID &&
           a != OI_ACT_HARDSIGMOID && a != OI_ACT_SOFTSIGN;
}

static void norm_roles(oi_decision *d, const oi_weight *w)
{
    int one = w->role == OI_ROLE_NORM_SCALE || w->role == OI_ROLE_NORM_VAR;
    oi_scheme_constant(d, one ? 1.0 : 0.0, one ? "ones" : "zeros");
}

/* R is [D, G*H, H] (or, from torch exports, one direction's [G*H, H] in torch's
 * gate order): either way whole H-row blocks, so the matrix count comes from
 * the tensor itself.  Row order does not matter for orthogonality. */
static void rnn_recurrent(oi_decision *d, const oi_weight *w, const oi_tensor *t,
                          int whole_matrix)
{
    int64_t rows = whole_matrix ? w->gates * w->hidden : w->hidden;
    int64_t per = rows * w->hidden;
    oi_scheme_orthogonal(d, per > 0 ? (int64_t)t->n_elems / per : 0, rows, w->hidden, 1.0);
}

static void decide_default(oi_decision *d, const oi_weight *w, const oi_tensor *t,
                            const oi_policy *p)
{
    switch (w->role) {
    case OI_ROLE_WEIGHT:
        if (w->act == OI_ACT_SELU)
            oi_scheme_normal(d, 0, 1.0 / sqrt((double)w->fan_in), 1.0, "lecun_normal");
        else if (is_he_family(w->act))
            oi_scheme_normal(d, 0, w->gain / sqrt((double)w->fan_in), w->gain, "he_normal");
        else
            oi_scheme_xavier_uniform(d, w->fan_in, w->fan_out, w->gain);
        break;
    case OI_ROLE_RNN_W: oi_scheme_xavier_uniform(d, w->fan_in, w->fan_out, 1.0); break;
    case OI_ROLE_RNN_R: rnn_recurrent(d, w, t, 0); break;
    case OI_ROLE_RNN_B:
        if (strcmp(w->op, "LSTM") == 0)
            oi_scheme_lstm_bias(d, w, p->no_forget_bias ? 0.0 : 1.0);
        else
            oi_scheme_constant(d, 0, "zeros");
        break;
    case OI_ROLE_EMBEDDING: oi_scheme_normal(d, 0, 1, 1, "normal"); break;
    case OI_ROLE_PRELU_SLOPE: oi_scheme_constant(d, 0.25, "constant"); break;
    case OI_ROLE_BIAS: case OI_ROLE_RNN_P: oi_scheme_constant(d, 0, "zeros"); break;
    default:
        if (!other_parameter(d, w, p))
            norm_roles(d, w);
        break;
    }
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

static void decide_torch(oi_decision *d, const oi_weight *w, const oi_tensor *t,
                          const oi_policy *p)
{
    /* nn.MultiheadAttention._reset_parameters: xavier_uniform in_proj, zero
     * biases; exports keep torch's parameter names, which is how we know it */
    if (w->role == OI_ROLE_WEIGHT && ends_with(t->name, "in_proj_weight")) {
        oi_scheme_xavier_uniform(d, w->fan_in, w->fan_out, 1.0);
        return;
    }
    if (w->role == OI_ROLE_BIAS &&
        (ends_with(t->name, "in_proj_bias") || ends_with(t->name, "out_proj.bias"))) {
        oi_scheme_constant(d, 0, "zeros");
        return;
    }
    switch (w->role) {
    case OI_ROLE_WEIGHT:   /* kaiming_uniform(a=sqrt(5)): bound = 1/sqrt(fan_in) */
        oi_scheme_uniform(d, 1.0 / sqrt((double)w->fan_in), sqrt(1.0 / 3.0), "kaiming_uniform(a=sqrt5)");
        break;
    case OI_ROLE_BIAS:
        if (w->fan_in > 0)
            oi_scheme_uniform(d, 1.0 / sqrt((double)w->fan_in), 1.0, "uniform(1/sqrt(fan_in))");
        else
            oi_scheme_constant(d, 0, "zeros");
        break;
    case OI_ROLE_RNN_W: case OI_ROLE_RNN_R: case OI_ROLE_RNN_B: case OI_ROLE_RNN_P:
        oi_scheme_uniform(d, 1.0 / sqrt((double)w->hidden), 1.0, "uniform(1/sqrt(hidden))");
        break;
    case OI_ROLE_POSITION:   /* a gathered table is an nn.Embedding: N(0, 1) */
        if (strcmp(w->op, "Gather") == 0)
            oi_scheme_normal(d, 0, 1, 1, "normal");
        else
            decide_default(d, w, t, p);
        break;
    case OI_ROLE_TOKEN: oi_scheme_constant(d, 0, "zeros"); break;   /* torchvision's ViT class token */
    default: decide_default(d, w, t, p); break;
    }
}

static void decide_keras(oi_decision *d, const oi_weight *w, const oi_tensor *t,
                          const oi_policy *p)
{
    switch (w->role) {
    case OI_ROLE_WEIGHT: oi_scheme_xavier_uniform(d, w->fan_in, w->fan_out, 1.0); break;
    case OI_ROLE_RNN_W: oi_scheme_xavier_uniform(d, w->fan_in, w->gates * w->hidden, 1.0); break;
    case OI_ROLE_RNN_R: rnn_recurrent(d, w, t, 1); break;
    case OI_ROLE_EMBEDDING: oi_scheme_uniform(d, 0.05, 1.0, "uniform(0.05)"); break;
    case OI_ROLE_POSITION:   /* keras.layers.Embedding's default */
        if (strcmp(w->op, "Gather") == 0)
            oi_scheme_uniform(d, 0.05, 1.0, "uniform(0.05)");
        else
            decide_default(d, w, t, p);
        break;
    case OI_ROLE_PRELU_SLOPE: oi_scheme_constant(d, 0, "zeros"); break;
    default: decide_default(d, w, t, p); break;
    }
}

static void decide_transformer(oi_decision *d, const oi_weight *w, const oi_tensor *t,
                                const oi_policy *p)
{
    if (w->role == OI_ROLE_WEIGHT || w->role == OI_ROLE_EMBEDDING) {
        int scaled = p->residual_scale && w->role == OI_ROLE_WEIGHT && w->residual;
        d->kind = OI_FILL_TRUNC_NORMAL;
        d->scheme = scaled ? "trunc_normal(0.02/sqrt(2*layers))" : "trunc_normal(0.02)";
        d->normal.mean = 0;
        d->normal.std = scaled ? 0.02 / sqrt(2.0 * p->residual_layers) : 0.02;
        d->gain = 1;
    } else {
        decide_default(d, w, t, p);
    }
}

static void decide_preset(oi_decision *d, const oi_weight *w, const oi_tensor *t,
                          const oi_policy *p)
{
    if (w->role == OI_ROLE_TEMPERATURE) {
        oi_scheme_untouched(d, "learned temperature (its exp scales computed values): no init "
                     "convention, kept; a rule with \"role\": \"temperature\" sets one");
        return;
    }
    if (w->role == OI_ROLE_UNRECOGNIZED) {
        oi_scheme_untouched(d, "looks learned (parameter-named), but no layer the analysis knows uses it: "
                     "kept; a rule with \"role\": \"unrecognized\" sets one");
        return;
    }
    if (w->role == OI_ROLE_WN_GAIN) {   /* every preset: g = ||v||, so v / ||v|| * g = v */
        d->kind = OI_FILL_NORMS;
        d->scheme = "norms of v";
        d->source = w->norm_of;
        d->gain = 1;
        return;
    }
    switch (p->preset) {
    case OI_PRESET_TORCH: decide_torch(d, w, t, p); break;
    case OI_PRESET_KERAS: decide_keras(d, w, t, p); break;
    case OI_PRESET_TRANSFORMER: decide_transformer(d, w, t, p); break;
    default: decide_default(d, w, t, p); break;
    }
}

/* ---- --rules actions ---- */

static double rule_gain(const oi_rule_action *a, const oi_weight *w, double dflt)
{
    return isnan(a->gain) ? dflt : isinf(a->gain) ? w->gain : a->gain;
}

/* Schemes built on fans; 0 if the tensor has none of its own (a bias only
 * borrows its layer's fans, for torch's bias bound). */
static int fan_scheme(oi_decision *d, const oi_rule_action *a, const oi_weight *w)
{
    double fi = (double)w->fan_in, fo = (double)w->fan_out;
    int matrix = w->role == OI_ROLE_WEIGHT || w->role == OI_ROLE_RNN_W || w->role == OI_ROLE_RNN_R;
    if (!matrix || fi <= 0 || fo <= 0)
        return 0;
    double fan = a->fan_out ? fo : fi, g;
    switch (a->scheme) {
    case OI_SCHEME_XAVIER_UNIFORM:
        g = rule_gain(a, w, 1.0);
        oi_scheme_uniform(d, g * sqrt(6.0 / (fi + fo)), g, a->scheme_name);
        return 1;
    case OI_SCHEME_XAVIER_NORMAL:
        g = rule_gain(a, w, 1.0);
        oi_scheme_normal(d, 0, g * sqrt(2.0 / (fi + fo)), g, a->scheme_name);
        return 1;
    case OI_SCHEME_KAIMING_UNIFORM:
        g = rule_gain(a, w, sqrt(2.0 / (1.0 + a->a * a->a)));
        oi_scheme_uniform(d, g * sqrt(3.0 / fan), g, a->scheme_name);
        return 1;
    case OI_SCHEME_KAIMING_NORMAL:
        g = rule_gain(a, w, sqrt(2.0 / (1.0 + a->a * a->a)));
        oi_scheme_normal(d, 0, g / sqrt(fan), g, a->scheme_name);
        return 1;
    case OI_SCHEME_LECUN_UNIFORM:
        g = rule_gain(a, w, 1.0);
        oi_scheme_uniform(d, g * sqrt(3.0 / fan), g, a->scheme_name);
        return 1;
    case OI_SCHEME_LECUN_NORMAL:
        g = rule_gain(a, w, 1.0);
        oi_scheme_normal(d, 0, g / sqrt(fan), g, a->scheme_name);
        return 1;
    default:
        return 0;
    }
}

/* Matrices an orthogonal/identity/sparse scheme sees: RNN weights per gate
 * block, everything else as torch does (dims[0] x the rest). */
static void as_matrices(const oi_weight *w, const oi_tensor *t, int64_t *count, int64_t *rows,
                        int64_t *cols)
{
    int64_t n = (int64_t)t->n_elems, d0 = t->proto->n_dims ? t->proto->dims[0] : 1;
    if ((w->role == OI_ROLE_RNN_R || w->role == OI_ROLE_RNN_W) && w->hidden > 0 && w->fan_in > 0) {
        *rows = w->hidden;
        *cols = w->fan_in;
    } else {
        *rows = d0 > 0 ? d0 : 1;
        *cols = n / *rows;
    }
    *count = *rows * *cols > 0 ? n / (*rows * *cols) : 0;
}

static void apply_rule(oi_decision *d, const oi_rule_action *a, const oi_weight *w,
                       const oi_tensor *t, const oi_policy *p, oi_arena *arena)
{
    int64_t m, r, c;
    switch (a->scheme) {
    case OI_SCHEME_KEEP:
        oi_scheme_untouched(d, oi_arena_printf(arena, "kept by rule %d", a->index));
        return;
    case OI_SCHEME_PRESET: {
        oi_policy q = *p;
        q.preset = (oi_preset)a->preset;
        decide_preset(d, w, t, &q);
        return;
    }
    case OI_SCHEME_ZEROS: oi_scheme_constant(d, 0, "zeros"); return;
    case OI_SCHEME_ONES: oi_scheme_constant(d, 1, "ones"); return;
    case OI_SCHEME_CONSTANT: oi_scheme_constant(d, a->value, "constant"); return;
    case OI_SCHEME_UNIFORM:
        oi_scheme_uniform(d, 0, 1, "uniform");
        d->uniform.low = a->low;
        d->uniform.high = a->high;
        return;
    case OI_SCHEME_NORMAL: oi_scheme_normal(d, a->mean, a->std, 1, "normal"); return;
    case OI_SCHEME_TRUNC_NORMAL:
        oi_scheme_normal(d, a->mean, a->std, 1, "trunc_normal");
        d->kind = OI_FILL_TRUNC_NORMAL;
        return;
    case OI_SCHEME_ORTHOGONAL:
        as_matrices(w, t, &m, &r, &c);
        oi_scheme_orthogonal(d, m, r, c, rule_gain(a, w, 1.0));
        return;
    case OI_SCHEME_IDENTITY:
        as_matrices(w, t, &m, &r, &c);
        d->kind = OI_FILL_IDENTITY;
        d->scheme = a->scheme_name;
        d->matrix.gain = d->gain = rule_gain(a, w, 1.0);
        return;
    case OI_SCHEME_SPARSE:
        if (t->proto->n_dims != 2) {
            oi_scheme_untouched(d, oi_arena_printf(arena, "rule %d: sparse needs a 2-D tensor", a->index));
            return;
        }
        d->kind = OI_FILL_SPARSE;
        d->scheme = "sparse";
        d->sparse.sparsity = a->sparsity;
        d->sparse.std = a->std;
        d->rows = t->proto->dims[0];
        d->cols = t->proto->dims[1];
        return;
    default:
        if (!fan_scheme(d, a, w)) {
            oi_scheme_untouched(d, oi_arena_printf(arena, "rule %d: %s needs fans, this %s has none",
                                        a->index, a->scheme_name, oi_role_name(w->role)));
        }
        return;
    }
}

/* A glob selects a tensor by its name or by its module path. */
static int matches_any(const oi_tensor *t, const oi_weight *w, const char *const *globs,
                       const char **which)
{
    for (; globs && *globs; globs++)
        if (fnmatch(*globs, t->name, 0) == 0 || (w->module[0] && fnmatch(*globs, w->module, 0) == 0)) {
            *which = *globs;
            return 1;
        }
    return 0;
}

static int gate_ranges_fit(const oi_decision *d, int64_t n)
{
    for (int i = 0; i < d->n_ranges; i++)
        if (d->range_start[i] < 0 || d->range_len[i] < 0 || d->range_start[i] + d->range_len[i] > n)
            return 0;
    return 1;
}

/* Shapes the fill relies on must hold; otherwise leave the tensor alone and say so. */
/* a * b * c == n, with every product checked (attributes like hidden_size can lie). */
static int blocks_fill(int64_t a, int64_t b, int64_t c, int64_t n)
{
    int64_t ab, abc;
    return a > 0 && b > 0 && c > 0 && !__builtin_mul_overflow(a, b, &ab) &&
           !__builtin_mul_overflow(ab, c, &abc) && abc == n;
}

static void check_shape(oi_decision *d, const oi_weight *w, const oi_tensor *t)
{
    int64_t n = (int64_t)t->n_elems;
    if (d->kind == OI_FILL_ORTHOGONAL && !blocks_fill(d->matrices, d->rows, d->cols, n))
        oi_scheme_untouched(d, "shape does not split into the expected gate blocks");
    else if (d->kind == OI_FILL_SPARSE && !blocks_fill(1, d->rows, d->cols, n))
        oi_scheme_untouched(d, "sparse needs a matrix; the shape is not one");
    else if (d->kind == OI_FILL_GATE_BIAS && !gate_ranges_fit(d, n))
        oi_scheme_untouched(d, "forget-gate ranges fall outside the bias");
    else if (w->role == OI_ROLE_WEIGHT && (w->fan_in <= 0 || w->fan_out <= 0) &&
             d->kind != OI_FILL_CONSTANT && d->kind != OI_FILL_NONE)
        oi_scheme_untouched(d, "layout unknown (shape not known past a reshape), fans cannot be computed");
    else if ((d->kind == OI_FILL_UNIFORM || d->kind == OI_FILL_NORMAL) && !isfinite(d->kind == OI_FILL_UNIFORM ? d->uniform.high : d->normal.std))
        oi_scheme_untouched(d, "fans give no finite scale");
}

/* A declared-only tensor in the left operand of Gemm/MatMul is the data the
 * layer multiplies, not a weight: --materialize must not invent it. */
static int declared_data_operand(const oi_weight *w, const oi_tensor *t)
{
    return t->storage == OI_STORE_NONE && w->role == OI_ROLE_WEIGHT && w->slot == 0 &&
           (strcmp(w->op, "Gemm") == 0 || strcmp(w->op, "MatMul") == 0 ||
            strcmp(w->op, "FusedGemm") == 0 || strcmp(w->op, "FusedMatMul") == 0);
}

static void decide(const oi_weight *w, const oi_tensor *t, const oi_policy *p, oi_decision *d,
                   oi_arena *arena)
{
    const char *glob = NULL;
    memset(d, 0, sizeof *d);
    d->reason = "";
    if (declared_data_operand(w, t)) {
        oi_scheme_untouched(d, "declared only, as the data operand of a layer");
        return;
    }
    oi_weight forced;
    if (w->role == OI_ROLE_NONE && w->fixed_role != OI_ROLE_NONE) {
        /* fixed by its values or name: kept unless a rule names it */
        forced = *w;
        forced.role = w->fixed_role;
        if (oi_rules_match(p->rules, t, &forced))
            w = &forced;
    }
    const char *why = w->role == OI_ROLE_NONE ? w->reason
                      : t->storage == OI_STORE_NONE && !p->materialize
                          ? "declared without data (the materialize option creates it)"
                      : p->only && *p->only && !matches_any(t, w, p->only, &glob)
                          ? "not matched by an 'only' glob" : NULL;
    if (why) {
        oi_scheme_untouched(d, why);
        return;
    }
    if (matches_any(t, w, p->exclude, &glob)) {
        oi_scheme_untouched(d, oi_arena_printf(arena, "excluded by the glob '%s'", glob));
        return;
    }
    const oi_rule_action *rule = oi_rules_match(p->rules, t, w);
    if (rule)
        apply_rule(d, rule, w, t, p, arena);
    else
        decide_preset(d, w, t, p);
    check_shape(d, w, t);
    oi_plan_quantize(d, w, arena);
}

/* A tied copy follows its source: written as the source's values (transposed
 * where it is the transpose), or left alone with it. */
static void keep_tie(oi_model *model, const oi_analysis *a, oi_plan *plan, size_t i)
{
    const oi_weight *w = oi_analysis_get(a, i);
    if (w->tied_to < 0 || (size_t)w->tied_to >= plan->n)
        return;
    const oi_decision *src = &plan->items[w->tied_to];
    oi_decision *d = &plan->items[i];
    const char *name = oi_model_tensor(model, (size_t)w->tied_to)->name;
    if (src->kind == OI_FILL_NONE) {
        oi_scheme_untouched(d, oi_arena_printf(plan->arena, "tied with '%s', which is left alone", name));
        return;
    }
    memset(d, 0, sizeof *d);
    d->kind = OI_FILL_COPY;
    d->scheme = w->tied_transposed ? "tied (transposed copy)" : "tied (copy)";
    d->gain = src->gain;
    d->source = w->tied_to;
    d->transposed = w->tied_transposed;
    d->reason = oi_arena_printf(plan->arena, "tied with '%s'%s", name,
                               w->tied_transposed ? " (transposed)" : "");
    oi_plan_quantize(d, w, plan->arena);   /* a quantized copy: the source's values in its own codes */
}

/* Weight norm's g follows its v: the norms of v's new values, or left alone with it. */
static void follow_direction(oi_model *model, oi_plan *plan, size_t i)
{
    oi_decision *d = &plan->items[i];
    if (d->kind != OI_FILL_NORMS || d->source < 0 || (size_t)d->source >= plan->n)
        return;
    const oi_decision *v = &plan->items[d->source];
    const char *name = oi_model_tensor(model, (size_t)d->source)->name;
    const char *why = v->kind == OI_FILL_NONE ? "which is left alone"
                      : v->kind == OI_FILL_QUANT || v->kind == OI_FILL_QUANT_SCALE ||
                                v->kind == OI_FILL_QUANT_ZERO || v->kind == OI_FILL_NORMS
                          ? "which is quantized (or itself derived)" : NULL;
    if (why)
        oi_scheme_untouched(d, oi_arena_printf(plan->arena, "weight norm's g of '%s', %s", name, why));
    else
        d->reason = oi_arena_printf(plan->arena, "weight norm's g: the norms of '%s'", name);
}

oi_policy oi_policy_default(oi_preset preset)
{
    return (oi_policy){.preset = preset, .layer_scale = OI_LAYER_SCALE_DEFAULT,
                       .signal = OI_SIGNAL_AUTO};
}

oi_status oi_plan_build(oi_model *model, const oi_analysis *analysis, const oi_policy *policy,
                        oi_plan **out, oi_error *err)
{
    *out = NULL;
    oi_policy none = oi_policy_default(OI_PRESET_DEFAULT);
    const oi_policy *p = policy ? policy : &none;
    size_t n = oi_model_tensor_count(model);
    oi_plan *plan = calloc(1, sizeof *plan);
    if (plan) {
        plan->items = calloc(n ? n : 1, sizeof *plan->items);
        plan->arena = oi_arena_new();
    }
    if (!plan || !plan->items || !plan->arena) {
        oi_plan_free(plan);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    }
    plan->n = n;
    oi_policy q = *p;   /* GPT-2 style: two residual projections (attention, MLP) per layer */
    int residual = 0;
    for (size_t i = 0; i < n; i++)
        residual += oi_analysis_get(analysis, i)->role == OI_ROLE_WEIGHT &&
                    oi_analysis_get(analysis, i)->residual;
    q.residual_layers = residual / 2 > 1 ? residual / 2 : 1;
    for (size_t i = 0; i < n; i++)
        decide(oi_analysis_get(analysis, i), oi_model_tensor(model, i), &q, &plan->items[i],
               plan->arena);
    for (size_t i = 0; i < n; i++)
        keep_tie(model, analysis, plan, i);
    for (size_t i = 0; i < n; i++)
        follow_direction(model, plan, i);
    for (size_t i = 0; i < n; i++) {   /* after every weight's decision is final */
        const oi_weight *w = oi_analysis_get(analysis, i);
        if (w->role == OI_ROLE_QSCALE || w->role == OI_ROLE_QZERO)
            oi_plan_quant_companion(&plan->items[i], w, &plan->items[w->quant->weight],
                                    oi_model_tensor(model, (size_t)w->quant->weight)->name,
                                    plan->arena);
    }
    if (oi_arena_failed(plan->arena)) {
        oi_plan_free(plan);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    }
    for (const char *const *g = p->only; g && *g; g++) {   /* a glob that selects nothing */
        const char *which = NULL;
        size_t hit = 0;
        const char *one[2] = {*g, NULL};
        for (size_t i = 0; i < n && !hit; i++)
            hit = matches_any(oi_model_tensor(model, i), oi_analysis_get(analysis, i), one, &which);
        if (!hit) {
            oi_plan_free(plan);
            return oi_fail(err, OI_ERR_USAGE, "%s: the 'only' glob '%s' matches no tensor name or "
                           "module", oi_model_label(model), *g);
        }
    }
    *out = plan;
    return OI_OK;
}

oi_role oi_plan_role(const oi_weight *w, const oi_decision *d)
{
    return w->role != OI_ROLE_NONE || d->kind == OI_FILL_NONE ? w->role : w->fixed_role;
}

void oi_plan_free(oi_plan *plan)
{
    if (plan) {
        free(plan->items);
        oi_arena_free(plan->arena);
        free(plan);
    }
}

const oi_decision *oi_plan_get(const oi_plan *plan, size_t i)
{
    return i < plan->n ? &plan->items[i] : NULL;
}

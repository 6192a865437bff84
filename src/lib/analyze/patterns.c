/* Graph patterns the role table asks about: values made only from constants,
 * normalized values (decomposed LayerNorm/RMSNorm, GroupNorm as exporters
 * write them), residual joins, attention logits, position indices; and what a
 * constant's own values say (sinusoidal tables, attention masks).  Each walk
 * is bounded and memoized per value, so the analysis stays near-linear. */
#include "analyze/analyze_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x
#define WALK_DEPTH 12
#define ANCESTOR_VISIT 96

static const Onnx__NodeProto *producer(const oi_actx *x, long v, size_t *node)
{
    if (v < 0)
        return NULL;
    long p = oi_graph_value(x->graph, (size_t)v)->producer;
    if (p < 0)
        return NULL;
    if (node)
        *node = (size_t)p;
    return oi_graph_node(x->graph, (size_t)p)->proto;
}

static long in(const oi_actx *x, size_t node, size_t slot)
{
    return oi_graph_input_value(x->graph, node, slot);
}


/* ---- made only from constants ---- */

static int const_derived(const oi_actx *x, long v, int depth)
{
    if (v < 0)
        return 1;   /* an absent optional input */
    if (oi_is_const(x, v))
        return 1;
    signed char *memo = x->memo_const ? &x->memo_const[v] : NULL;
    if (memo && *memo)
        return *memo > 0;
    size_t node;
    const Onnx__NodeProto *n = producer(x, v, &node);
    /* any deterministic op on constants gives a constant: arithmetic on weights
     * (weight norm's v / ||v||, spectral norm's u W v) computes no activation */
    static const char *const random_ops[] = {"RandomNormal", "RandomUniform", "RandomNormalLike",
                                             "RandomUniformLike", "Bernoulli", "Multinomial",
                                             "Dropout", NULL};
    int yes = n && depth < WALK_DEPTH && !oi_op_in(n, random_ops) &&
              (n->n_input > 0 || oi_op_is(n, "Constant"));
    for (size_t i = 0; yes && !oi_op_is(n, "Constant") && i < n->n_input; i++)
        yes = const_derived(x, in(x, node, i), depth + 1);
    if (memo)
        *memo = yes ? 1 : -1;
    return yes;
}

int oi_is_const_derived(const oi_actx *x, long v) { return const_derived(x, v, 0); }

/* ---- integer layers rescaled to floats ---- */

long oi_rescaled_integer(const oi_actx *x, long v, long *w_scale)
{
    size_t mul, cast, layer;
    const Onnx__NodeProto *m = producer(x, v, &mul);
    if (w_scale)
        *w_scale = -1;
    if (!m || !oi_op_is(m, "Mul") || m->n_input != 2)
        return -1;
    for (size_t s = 0; s < 2; s++) {
        const Onnx__NodeProto *c = producer(x, in(x, mul, s), &cast);
        const Onnx__NodeProto *l = c && oi_op_is(c, "Cast") ? producer(x, in(x, cast, 0), &layer)
                                                             : NULL;
        if (!l || !(oi_op_is(l, "ConvInteger") || oi_op_is(l, "MatMulInteger")))
            continue;
        size_t sn;   /* the scale: Mul(input scale computed at run time, constant weight scale) */
        const Onnx__NodeProto *sp = producer(x, in(x, mul, 1 - s), &sn);
        for (size_t k = 0; w_scale && sp && oi_op_is(sp, "Mul") && sp->n_input == 2 && k < 2; k++)
            if (oi_is_const(x, in(x, sn, k)) && !oi_is_const_derived(x, in(x, sn, 1 - k)))
                *w_scale = in(x, sn, k);
        return (long)layer;
    }
    return -1;
}

/* ---- normalized values ---- */

/* sqrt(mean(d^2) + eps), 1/that, or that + eps: the denominator of a norm. */
static int norm_denominator(const oi_actx *x, long v, int depth)
{
    size_t node;
    const Onnx__NodeProto *n = producer(x, v, &node);
    if (!n || depth > 6)
        return 0;
    if (oi_op_is(n, "ReduceMean") || oi_op_is(n, "ReduceSumSquare") || oi_op_is(n, "ReduceL2"))
        return 1;
    /* Transpose, Reshape: where ORT's transpose optimizer moved a layout change */
    static const char *const steps[] = {"Sqrt", "Reciprocal", "Cast", "Identity", "Transpose",
                                        "Reshape", "Squeeze", "Unsqueeze", NULL};
    if (oi_op_in(n, steps))
        return norm_denominator(x, in(x, node, 0), depth + 1);
    if (oi_op_is(n, "Pow"))   /* (.)^0.5 or (.)^-0.5 */
        return oi_is_const_derived(x, in(x, node, 1)) && norm_denominator(x, in(x, node, 0), depth + 1);
    if (oi_op_is(n, "Add"))   /* ε added under or over the root */
        for (size_t s = 0; s < 2; s++)
            if (oi_is_const_derived(x, in(x, node, 1 - s)))
                return norm_denominator(x, in(x, node, s), depth + 1);
    if (oi_op_is(n, "Div") && oi_is_const_derived(x, in(x, node, 0)))   /* 1 / sqrt(...) */
        return norm_denominator(x, in(x, node, 1), depth + 1);
    return 0;
}

static const char *const full_norms[] = {
    "InstanceNormalization", "LayerNormalization", "GroupNormalization",
    "BatchNormalization", "SimplifiedLayerNormalization", "MeanVarianceNormalization", NULL,
};

int oi_is_normalized(const oi_actx *x, long v)
{
    static const char *const through[] = {"Reshape", "Transpose", "Cast", "Identity",
                                          "Squeeze", "Unsqueeze", NULL};
    for (int depth = 0; depth < 4; depth++) {
        size_t node;
        const Onnx__NodeProto *n = producer(x, v, &node);
        if (!n)
            return 0;
        if (oi_op_in(n, full_norms))
            return 1;
        if (oi_op_is(n, "Div") && n->n_input == 2 && norm_denominator(x, in(x, node, 1), 0))
            return 1;
        if (oi_op_is(n, "Mul") && n->n_input == 2)
            for (size_t s = 0; s < 2; s++)
                if (norm_denominator(x, in(x, node, s), 0) && !oi_is_const_derived(x, in(x, node, 1 - s)))
                    return 1;
        if (!oi_op_in(n, through))
            return 0;
        v = in(x, node, 0);
    }
    return 0;
}

int oi_is_norm_denominator(const oi_actx *x, long v) { return norm_denominator(x, v, 0); }

/* A normalized value already scaled by a constant: γ·x̂ (for the β that follows). */
int oi_is_scaled_normalized(const oi_actx *x, long v)
{
    size_t node;
    const Onnx__NodeProto *n = producer(x, v, &node);
    if (!n || !oi_op_is(n, "Mul") || n->n_input != 2)
        return 0;
    for (size_t s = 0; s < 2; s++)
        if (oi_is_const_derived(x, in(x, node, 1 - s)) && oi_is_normalized(x, in(x, node, s)))
            return 1;
    return 0;
}

/* torch's GroupNorm: Reshape -> InstanceNormalization (unit constants) -> Reshape. */
int oi_is_groupnorm_core(const oi_actx *x, size_t node)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    if (!oi_op_is(n, "InstanceNormalization"))
        return 0;
    const Onnx__NodeProto *p = producer(x, in(x, node, 0), NULL);
    long out = oi_graph_output_value(x->graph, node, 0);
    if (!p || !oi_op_is(p, "Reshape") || out < 0)
        return 0;
    const oi_value *ov = oi_graph_value(x->graph, (size_t)out);
    for (size_t u = 0; u < ov->n_uses; u++)
        if (!oi_op_is(oi_graph_node(x->graph, ov->uses[u].node)->proto, "Reshape"))
            return 0;
    return ov->n_uses > 0;
}

/* ---- residual joins and attention ---- */

/* Is `anc` among the values `v` is computed from (bounded backward walk)? */
static int is_ancestor(const oi_actx *x, long anc, long v)
{
    long queue[ANCESTOR_VISIT];
    size_t head = 0, tail = 0;
    queue[tail++] = v;
    while (head < tail) {
        long cur = queue[head++];
        if (cur == anc)
            return 1;
        size_t node;
        const Onnx__NodeProto *n = producer(x, cur, &node);
        for (size_t i = 0; n && i < n->n_input && tail < ANCESTOR_VISIT; i++) {
            long u = in(x, node, i);
            if (u >= 0 && !oi_is_const(x, u))
                queue[tail++] = u;
        }
    }
    return 0;
}

/* The Mul at `node` scales a branch just before a residual Add: its output is
 * added to a value its own input was computed from. */
/* Does `out` (computed from `branch`) join a residual Add, maybe after a
 * shift by a constant (GRN's gamma·x + beta + x)? */
static int joins_residual(const oi_actx *x, long out, long branch, int hops)
{
    /* layout ops ORT's optimizer may move after the scale (a Transpose) */
    static const char *const layout[] = {"Transpose", "Reshape", "Identity", "Cast", "Dropout",
                                         NULL};
    const oi_value *ov = oi_graph_value(x->graph, (size_t)out);
    for (size_t u = 0; u < ov->n_uses; u++) {
        size_t add = ov->uses[u].node;
        const Onnx__NodeProto *n = oi_graph_node(x->graph, add)->proto;
        long moved = oi_graph_output_value(x->graph, add, 0);
        if (oi_op_in(n, layout) && ov->uses[u].slot == 0 && moved >= 0 && hops < 2 &&
            joins_residual(x, moved, branch, hops + 1))
            return 1;
        if (!oi_op_is(n, "Add"))
            continue;
        long skip = in(x, add, 1 - (ov->uses[u].slot & 1)), next = oi_graph_output_value(x->graph, add, 0);
        if (skip >= 0 && !oi_is_const_derived(x, skip) && is_ancestor(x, skip, branch))
            return 1;
        if (skip >= 0 && oi_is_const_derived(x, skip) && next >= 0 && hops < 2 &&
            joins_residual(x, next, branch, hops + 1))
            return 1;
    }
    return 0;
}

int oi_feeds_residual_add(const oi_actx *x, size_t node, size_t const_slot)
{
    long out = oi_graph_output_value(x->graph, node, 0), branch = in(x, node, 1 - const_slot);
    if (out < 0 || branch < 0)
        return 0;
    return joins_residual(x, out, branch, 0);
}

/* A learned temperature: exp of the value (clamped, cast or reshaped first)
 * multiplies computed values (CLIP's logit_scale, Swin v2's per-head scale). */
int oi_is_temperature(const oi_actx *x, long v, int depth)
{
    static const char *const through[] = {"Clip", "Min", "Max", "Cast", "Identity", "Reshape",
                                          "Unsqueeze", "Squeeze", NULL};
    const oi_value *val = v >= 0 && depth < 6 ? oi_graph_value(x->graph, (size_t)v) : NULL;
    for (size_t u = 0; val && u < val->n_uses; u++) {
        size_t node = val->uses[u].node;
        const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
        long out = oi_graph_output_value(x->graph, node, 0);
        if (oi_op_in(n, through) && val->uses[u].slot == 0 && oi_is_temperature(x, out, depth + 1))
            return 1;
        const oi_value *e = oi_op_is(n, "Exp") && out >= 0 ? oi_graph_value(x->graph, (size_t)out)
                                                           : NULL;
        for (size_t k = 0; e && k < e->n_uses; k++) {
            size_t mul = e->uses[k].node;
            long other = in(x, mul, 1 - (e->uses[k].slot & 1));
            if (oi_op_is(oi_graph_node(x->graph, mul)->proto, "Mul") && other >= 0 &&
                !oi_is_const_derived(x, other))
                return 1;
        }
    }
    return 0;
}

/* MatMul(Q, Kᵀ) of two computed values, maybe scaled by a constant. */
static int is_qk_product(const oi_actx *x, long v, int depth)
{
    size_t node;
    const Onnx__NodeProto *n = producer(x, v, &node);
    if (!n || depth > 3)
        return 0;
    if (oi_op_is(n, "MatMul") || oi_op_is(n, "FusedMatMul"))   /* ORT folds the scale into alpha */
        return !oi_is_const_derived(x, in(x, node, 0)) && !oi_is_const_derived(x, in(x, node, 1));
    static const char *const scale[] = {"Mul", "Div", NULL};
    static const char *const through[] = {"Reshape", "Cast", "Identity", "Add", NULL};
    if (oi_op_in(n, scale) && oi_is_const_derived(x, in(x, node, 1)))
        return is_qk_product(x, in(x, node, 0), depth + 1);
    if (oi_op_in(n, through))
        for (size_t s = 0; s < (oi_op_is(n, "Add") ? 2u : 1u); s++)
            if (is_qk_product(x, in(x, node, s), depth + 1))
                return 1;
    return 0;
}

static int reaches_softmax(const oi_actx *x, long v, int depth)
{
    if (v < 0 || depth > 5)
        return 0;
    static const char *const through[] = {"Add", "Reshape", "Cast", "Where", "Mul", "Div",
                                          "Identity", "Sub", NULL};
    const oi_value *val = oi_graph_value(x->graph, (size_t)v);
    for (size_t u = 0; u < val->n_uses; u++) {
        size_t node = val->uses[u].node;
        const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
        if (oi_op_is(n, "Softmax") || oi_op_is(n, "LogSoftmax"))
            return 1;
        if (oi_op_in(n, through) && reaches_softmax(x, oi_graph_output_value(x->graph, node, 0),
                                                 depth + 1))
            return 1;
    }
    return 0;
}

/* An Add at `node` whose other operand is attention logits (before Softmax). */
int oi_adds_to_logits(const oi_actx *x, size_t node, size_t const_slot)
{
    return is_qk_product(x, in(x, node, 1 - const_slot), 0) &&
           reaches_softmax(x, oi_graph_output_value(x->graph, node, 0), 0);
}

/* Does v flow (through layout ops) into an Add onto attention logits? */
int oi_flows_to_logits(const oi_actx *x, long v, int depth)
{
    if (v < 0 || depth > 6)
        return 0;
    static const char *const through[] = {"Reshape", "Transpose", "Unsqueeze", "Squeeze",
                                          "Cast", "Identity", "Expand", "Slice", NULL};
    const oi_value *val = oi_graph_value(x->graph, (size_t)v);
    for (size_t u = 0; u < val->n_uses; u++) {
        size_t node = val->uses[u].node;
        const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
        if (oi_op_is(n, "Add") && oi_adds_to_logits(x, node, val->uses[u].slot & 1))
            return 1;
        if (oi_op_in(n, through) && val->uses[u].slot == 0 &&
            oi_flows_to_logits(x, oi_graph_output_value(x->graph, node, 0), depth + 1))
            return 1;
    }
    return 0;
}

/* Is v (a layer's data input) a normalized signal, seen through activations,
 * reshapes, a norm's own scale and shift, and residual joins? */
static int normalized_input(const oi_actx *x, long v, int depth)
{
    if (v < 0 || depth > 6 || oi_is_const_derived(x, v))
        return 0;
    if (oi_is_normalized(x, v) || oi_is_scaled_normalized(x, v))
        return 1;
    size_t node;
    const Onnx__NodeProto *n = producer(x, v, &node);
    static const char *const layers[] = {"Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU",
                                         "RNN", "Attention", "Gather", "Softmax", NULL};
    if (!n || oi_op_in(n, layers))
        return 0;
    for (size_t i = 0; i < n->n_input && i < 2; i++)
        if (normalized_input(x, in(x, node, i), depth + 1))
            return 1;
    return 0;
}

int oi_input_normalized(const oi_actx *x, size_t layer, size_t weight_slot)
{
    return normalized_input(x, in(x, layer, weight_slot == 0 ? 1 : 0), 0);
}

/* ---- positions ---- */

/* Indices that are positions, not data: made from constants, shapes and
 * Range, never from a graph input's values. */
static int positional(const oi_actx *x, long v, int depth)
{
    if (v < 0 || oi_is_const(x, v))
        return 1;
    signed char *memo = x->memo_pos ? &x->memo_pos[v] : NULL;
    if (memo && *memo)
        return *memo > 0;
    size_t node;
    const Onnx__NodeProto *n = producer(x, v, &node);
    int yes;
    if (!n || depth > WALK_DEPTH)
        yes = 0;   /* a graph input's values: data */
    else if (oi_op_is(n, "Shape") || oi_op_is(n, "Size") || oi_op_is(n, "Constant") ||
             oi_op_is(n, "ConstantOfShape"))
        yes = 1;
    else {
        yes = n->n_input > 0;
        for (size_t i = 0; yes && i < n->n_input; i++)
            yes = positional(x, in(x, node, i), depth + 1);
    }
    if (memo)
        *memo = yes ? 1 : -1;
    return yes;
}

int oi_is_positional(const oi_actx *x, long v) { return positional(x, v, 0); }

/* ---- what a constant's values say ---- */

/* Every column of a [T, D] table follows s[p+1] + s[p-1] = 2cos(f) s[p] with
 * |s| <= 1: sin/cos of position times a frequency.  Learned tables do not. */
static int sinusoid_columns(const float *v, int64_t rows, int64_t cols)
{
    if (rows < 4 || cols < 1)
        return 0;
    for (int64_t c = 0; c < cols; c++) {
        double num = 0, den = 0;
        for (int64_t p = 1; p + 1 < rows; p++) {
            double s = v[p * cols + c];
            num += (v[(p + 1) * cols + c] + v[(p - 1) * cols + c]) * s;
            den += 2 * s * s;
        }
        double k = den > 1e-12 ? num / den : 1.0;
        for (int64_t p = 0; p < rows; p++)
            if (!(fabs(v[p * cols + c]) <= 1.0 + 1e-5))
                return 0;
        for (int64_t p = 1; p + 1 < rows; p++) {
            double r = v[(p + 1) * cols + c] + v[(p - 1) * cols + c] - 2 * k * v[p * cols + c];
            if (fabs(r) > 1e-3)
                return 0;
        }
    }
    return 1;
}

int oi_values_sinusoidal(const oi_tensor *t, const float *v)
{
    int64_t rows = -1, cols = 1;
    /* positions run along the first axis longer than 1; the rest are columns */
    for (size_t i = 0; i < t->proto->n_dims; i++) {
        int64_t d = t->proto->dims[i];
        if (rows < 0 && d > 1)
            rows = d;
        else if (rows > 0)
            cols *= d;
    }
    return rows > 0 && sinusoid_columns(v, rows, cols);
}

/* Only 0 and strongly negative values (Swin -100, -1e4, -inf): an additive
 * attention mask; a learned bias has values of both signs, all small. */
int oi_values_mask(const float *v, uint64_t n)
{
    int negative = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (v[i] == 0.0f)
            continue;
        if (!(v[i] <= -10.0f))
            return 0;
        negative = 1;
    }
    return negative;
}

/* Only 0 and 1, both present: a multiplicative mask (pruning). */
int oi_values_binary(const float *v, uint64_t n)
{
    int zero = 0, one = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (v[i] != 0.0f && v[i] != 1.0f)
            return 0;
        zero |= v[i] == 0.0f;
        one |= v[i] == 1.0f;
    }
    return zero && one;
}

/* All elements equal to `want`. */
int oi_values_all(const float *v, uint64_t n, float want)
{
    for (uint64_t i = 0; i < n; i++)
        if (v[i] != want)
            return 0;
    return 1;
}

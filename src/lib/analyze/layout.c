/* Layouts through shape ops: the static shape of values made from constants by
 * layout-only ops, and which elements of a constant arrive where at its layer. */
#include "analyze/analyze_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append_via(char *via, size_t size, const char *op)
{
    size_t len = strlen(via);
    snprintf(via + len, size - len, "%s%s", len ? ">" : "", op);
}

/* ---- layout through shape ops ---- */

/* Constants arrive as doubles: only whole numbers in [lo, hi] become ints
 * (a cast of anything else is undefined behaviour). */
static int whole_in(double v, double lo, double hi)
{
    return v >= lo && v <= hi && v == (double)(int64_t)v;
}

typedef oi_shape shape;

/* Element count, or -1 if it does not fit (declared-only tensors may claim anything). */
static int64_t numel(const shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        if (s->d[i] < 0 || __builtin_mul_overflow(n, s->d[i], &n))
            return -1;
    return n;
}

static int transpose_shape(const Onnx__NodeProto *n, shape *s)
{
    const Onnx__AttributeProto *perm = oi_attr(n, "perm");
    int64_t d[OI_MAX_RANK];
    for (int i = 0; i < s->rank; i++) {
        int64_t p = perm ? (i < (int)perm->n_ints ? perm->ints[i] : -1) : s->rank - 1 - i;
        if (p < 0 || p >= s->rank)
            return -1;
        d[i] = s->d[p];
    }
    memcpy(s->d, d, sizeof d);
    return 0;
}

/* A Reshape's or Expand's target shape (input 1), as numbers. */
static int target_shape(const oi_actx *x, size_t node, double *want, size_t *n)
{
    return oi_const_values(x, oi_graph_input_value(x->graph, node, 1), want, OI_MAX_RANK, n);
}

static int reshape_shape(const oi_actx *x, size_t node, shape *s)
{
    double want[OI_MAX_RANK];
    size_t n;
    if (target_shape(x, node, want, &n))
        return -1;
    int64_t total = numel(s), known = 1, d[OI_MAX_RANK];
    int minus = -1;
    for (size_t i = 0; i < n; i++) {
        if (!whole_in(want[i], -1, 4611686018427387904.0))
            return -1;
        d[i] = (int64_t)want[i];
        if (d[i] == 0 && (int)i < s->rank)
            d[i] = s->d[i];
        if (d[i] == -1 && minus < 0)
            minus = (int)i;
        else if (d[i] <= 0 || __builtin_mul_overflow(known, d[i], &known))
            return -1;
    }
    /* a Reshape keeps the element count: this bounds every later product */
    if (total < 0 || (minus >= 0 ? known == 0 || total % known != 0 : known != total))
        return -1;
    if (minus >= 0)
        d[minus] = total / known;
    s->rank = (int)n;
    memcpy(s->d, d, n * sizeof *d);
    return 0;
}

/* Axes from the attribute (old opsets) or the constant second input. */
static int axes_of(const oi_actx *x, size_t node, double *axes, size_t *na)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    const Onnx__AttributeProto *a = oi_attr(n, "axes");
    *na = 0;
    if (a) {
        for (size_t i = 0; i < a->n_ints && i < OI_MAX_RANK; i++)
            axes[(*na)++] = (double)a->ints[i];
        return 0;
    }
    if (n->n_input < 2)
        return 0;
    return oi_const_values(x, oi_graph_input_value(x->graph, node, 1), axes, OI_MAX_RANK, na);
}

static int squeeze_shape(const oi_actx *x, size_t node, shape *s, int unsqueeze)
{
    double axes[OI_MAX_RANK];
    size_t na;
    if (axes_of(x, node, axes, &na))
        return -1;
    for (size_t i = 0; i < na; i++)
        if (!whole_in(axes[i], -2 * OI_MAX_RANK, 2 * OI_MAX_RANK))
            return -1;
    int64_t d[OI_MAX_RANK];
    int out = unsqueeze ? s->rank + (int)na : 0;
    if (out > OI_MAX_RANK)
        return -1;
    if (unsqueeze) {
        int flag[OI_MAX_RANK] = {0};
        for (size_t i = 0; i < na; i++) {
            int ax = (int)axes[i] < 0 ? (int)axes[i] + out : (int)axes[i];
            if (ax < 0 || ax >= out || flag[ax])   /* a repeated axis: read past the input's dims */
                return -1;
            flag[ax] = 1;
        }
        for (int i = 0, k = 0; i < out; i++)
            d[i] = flag[i] ? 1 : s->d[k++];
    } else {
        for (int i = 0; i < s->rank; i++) {
            int drop = na == 0 && s->d[i] == 1;
            for (size_t k = 0; k < na; k++)
                drop |= ((int)axes[k] < 0 ? (int)axes[k] + s->rank : (int)axes[k]) == i;
            if (!drop)
                d[out++] = s->d[i];
        }
    }
    s->rank = out;
    memcpy(s->d, d, (size_t)out * sizeof *d);
    return 0;
}

static int flatten_shape(const Onnx__NodeProto *n, shape *s)
{
    int64_t axis = oi_attr_int(n, "axis", 1), a = 1, b = 1;
    if (axis < -s->rank || axis > s->rank)
        return -1;
    if (axis < 0)
        axis += s->rank;
    for (int i = 0; i < s->rank; i++) {   /* declared dims may claim anything */
        int64_t *side = i < axis ? &a : &b;
        if (s->d[i] < 0 || __builtin_mul_overflow(*side, s->d[i], side))
            return -1;
    }
    s->rank = 2;
    s->d[0] = a;
    s->d[1] = b;
    return 0;
}

/* A Slice along one axis with step 1: that axis and [start, end) (clamped). */
static int slice_params(const oi_actx *x, size_t node, const shape *s, int *axis, int64_t *lo,
                        int64_t *hi)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    double st[OI_MAX_RANK], en[OI_MAX_RANK], ax[OI_MAX_RANK] = {0}, step[OI_MAX_RANK] = {1};
    size_t ns, ne, na = 1, nst = 1;
    if (n->n_input < 3 || oi_const_values(x, oi_graph_input_value(x->graph, node, 1), st, OI_MAX_RANK, &ns) ||
        oi_const_values(x, oi_graph_input_value(x->graph, node, 2), en, OI_MAX_RANK, &ne) ||
        (n->n_input > 3 && oi_const_values(x, oi_graph_input_value(x->graph, node, 3), ax, OI_MAX_RANK, &na)) ||
        (n->n_input > 4 && oi_const_values(x, oi_graph_input_value(x->graph, node, 4), step, OI_MAX_RANK, &nst)))
        return -1;
    if (ns != 1 || ne != 1 || na != 1 || nst != 1 || step[0] != 1 ||
        !whole_in(ax[0], -s->rank, s->rank - 1) || st[0] != st[0] || en[0] != en[0])
        return -1;
    *axis = (int)ax[0] < 0 ? (int)ax[0] + s->rank : (int)ax[0];
    if (*axis < 0 || *axis >= s->rank)
        return -1;
    int64_t dim = s->d[*axis];
    double a = st[0] < 0 ? st[0] + (double)dim : st[0], b = en[0] < 0 ? en[0] + (double)dim : en[0];
    *lo = a < 0 ? 0 : a > (double)dim ? dim : (int64_t)a;
    *hi = b < (double)*lo ? *lo : b > (double)dim ? dim : (int64_t)b;
    return 0;
}

static int value_shape(const oi_actx *x, long v, shape *s, int depth);

static int concat_shape(const oi_actx *x, size_t node, shape *s, int depth)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    int64_t axis = oi_attr_int(n, "axis", 0), sum = 0;
    if (n->n_input == 0)
        return -1;   /* nothing to concatenate: no shape (and no axis to trust) */
    for (size_t i = 0; i < n->n_input; i++) {
        if (value_shape(x, oi_graph_input_value(x->graph, node, i), s, depth + 1))
            return -1;
        if (axis < -s->rank || axis >= s->rank)
            return -1;
        int ax = (int)(axis < 0 ? axis + s->rank : axis);
        if (__builtin_add_overflow(sum, s->d[ax], &sum) || numel(s) < 0)
            return -1;
    }
    s->d[axis < 0 ? (int)axis + s->rank : (int)axis] = sum;
    return numel(s) < 0 ? -1 : 0;
}

static int value_shape_uncached(const oi_actx *x, long v, shape *s, int depth);

static int elementwise_op(const Onnx__NodeProto *n)
{
    return n->n_input == 2 && (oi_op_is(n, "Mul") || oi_op_is(n, "Div") || oi_op_is(n, "Add") ||
                               oi_op_is(n, "Sub"));
}

/* Does b broadcast into a without growing it (numpy rules, aligned right)? */
static int fits_into(const shape *a, const shape *b)
{
    if (b->rank > a->rank)
        return 0;
    for (int i = 1; i <= b->rank; i++)
        if (b->d[b->rank - i] != 1 && b->d[b->rank - i] != a->d[a->rank - i])
            return 0;
    return 1;
}

/* A Reduce*: the axes listed (attribute, or input 1 from opset 18) go to 1,
 * or away without keepdims; none listed is all of them. */
static int reduce_shape(const oi_actx *x, size_t node, shape *s, int depth)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    if (value_shape(x, oi_graph_input_value(x->graph, node, 0), s, depth + 1))
        return -1;
    double axes[OI_MAX_RANK];
    size_t na = 0;
    const Onnx__AttributeProto *a = oi_attr(n, "axes");
    if (a && a->n_ints <= OI_MAX_RANK)
        for (na = 0; na < a->n_ints; na++)
            axes[na] = (double)a->ints[na];
    else if (a || (n->n_input > 1 &&
                   oi_const_values(x, oi_graph_input_value(x->graph, node, 1), axes, OI_MAX_RANK, &na)))
        return -1;
    if (na == 0 && oi_attr_int(n, "noop_with_empty_axes", 0))
        return 0;
    int reduced[OI_MAX_RANK] = {0};
    for (size_t i = 0; i < na; i++) {
        if (!whole_in(axes[i], -s->rank, s->rank - 1))
            return -1;
        reduced[axes[i] < 0 ? (int)axes[i] + s->rank : (int)axes[i]] = 1;
    }
    int keep = oi_attr_int(n, "keepdims", 1) != 0, k = 0;
    for (int i = 0; i < s->rank; i++) {
        int gone = na == 0 || reduced[i];
        if (!gone || keep)
            s->d[k++] = gone ? 1 : s->d[i];
    }
    s->rank = k;
    return 0;
}

/* Elementwise functions of one value (Clip's bounds are scalars). */
static int same_shape_op(const Onnx__NodeProto *n)
{
    static const char *const ops[] = {"Clip", "Sqrt", "Exp", "Abs", "Neg", "Reciprocal", "Tanh",
                                      "Sigmoid", "Relu", "Log", NULL};
    return oi_op_in(n, ops);
}

/* Expand: the input broadcast with the target shape (a constant, or the
 * Shape of one: F.normalize expands the norms to the weight's own shape). */
static int expand_shape(const oi_actx *x, size_t node, shape *s)
{
    double want[OI_MAX_RANK];
    size_t n;
    if (target_shape(x, node, want, &n))
        return -1;
    shape t = {.rank = (int)n};
    for (size_t i = 0; i < n; i++) {
        if (!whole_in(want[i], 0, (double)INT64_MAX / 2))
            return -1;
        t.d[i] = (int64_t)want[i];
    }
    shape out = t.rank >= s->rank ? t : *s;
    for (int i = 1; i <= s->rank && i <= t.rank; i++) {
        int64_t a = s->d[s->rank - i], b = t.d[t.rank - i];
        if (a != b && a != 1 && b != 1)
            return -1;
        out.d[out.rank - i] = a == 1 ? b : a;
    }
    *s = out;
    return 0;
}

/* An elementwise op's output: the larger input, when the other fits into it. */
static int broadcast_shape(const oi_actx *x, size_t node, shape *s, int depth)
{
    shape b;
    if (value_shape(x, oi_graph_input_value(x->graph, node, 0), s, depth + 1) ||
        value_shape(x, oi_graph_input_value(x->graph, node, 1), &b, depth + 1))
        return -1;
    if (fits_into(s, &b))
        return 0;
    if (!fits_into(&b, s))
        return -1;
    *s = b;
    return 0;
}

/* The static shape of a value: constants, declared inputs, and layout ops on
 * them.  Memoized per value: a chain of wide Concats must not walk
 * exponentially many paths. */
static int value_shape(const oi_actx *x, long v, shape *s, int depth)
{
    s->rank = -1;
    if (v < 0 || depth > 24)
        return -1;
    if (x->memo_shape && x->memo_shape[v]) {
        if (x->memo_shape[v] < 0)
            return -1;
        *s = x->shapes[v];
        return 0;
    }
    int rc = value_shape_uncached(x, v, s, depth);
    if (x->memo_shape) {
        x->memo_shape[v] = rc == 0 ? 1 : -1;
        if (rc == 0)
            x->shapes[v] = *s;
    }
    return rc;
}

static int value_shape_uncached(const oi_actx *x, long v, shape *s, int depth)
{
    const oi_value *val = oi_graph_value(x->graph, (size_t)v);
    if (val->tensor >= 0) {
        const Onnx__TensorProto *t = oi_model_tensor(x->model, (size_t)val->tensor)->proto;
        if (t->n_dims > OI_MAX_RANK)
            return -1;
        s->rank = (int)t->n_dims;
        for (int i = 0; i < s->rank; i++)
            s->d[i] = t->dims[i];
        return 0;
    }
    if (val->producer < 0)
        return -1;
    size_t node = (size_t)val->producer;
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    if (oi_op_is(n, "Concat"))
        return concat_shape(x, node, s, depth);
    if (elementwise_op(n))
        return broadcast_shape(x, node, s, depth);
    if (strncmp(n->op_type ? n->op_type : "", "Reduce", 6) == 0)
        return reduce_shape(x, node, s, depth);
    if (value_shape(x, oi_graph_input_value(x->graph, node, 0), s, depth + 1))
        return -1;
    int rc = -1;
    if (oi_op_is(n, "Identity") || oi_op_is(n, "Cast") || oi_op_is(n, "DequantizeLinear") ||
        same_shape_op(n))
        rc = 0;
    else if (oi_op_is(n, "Expand"))
        rc = expand_shape(x, node, s);
    else if (oi_op_is(n, "Transpose"))
        rc = transpose_shape(n, s);
    else if (oi_op_is(n, "Reshape"))
        rc = reshape_shape(x, node, s);
    else if (oi_op_is(n, "Squeeze") || oi_op_is(n, "Unsqueeze"))
        rc = squeeze_shape(x, node, s, oi_op_is(n, "Unsqueeze"));
    else if (oi_op_is(n, "Flatten"))
        rc = flatten_shape(n, s);
    else if (oi_op_is(n, "Slice")) {
        int axis;
        int64_t lo, hi;
        rc = slice_params(x, node, s, &axis, &lo, &hi);
        if (rc == 0)
            s->d[axis] = hi - lo;
    }
    if (rc)
        s->rank = -1;
    return rc;
}

/* Only axes after all-1 leading axes keep a slice/concat contiguous in flat order. */
static int leading_ones(const shape *s, int axis)
{
    for (int i = 0; i < axis; i++)
        if (s->d[i] != 1)
            return 0;
    return 1;
}

/* Update the element correspondence of r for passing node (entered at slot). */
static void track_flat(const oi_actx *x, size_t node, size_t slot, long in_value, oi_reach *r)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    shape s;
    if (!r->flat_ok)
        return;
    if (oi_op_is(n, "Transpose")) {
        r->flat_ok = 0;
    } else if (oi_op_is(n, "Slice")) {
        int axis;
        int64_t lo, hi;
        if (value_shape(x, in_value, &s, 0) || numel(&s) < 0 ||
            slice_params(x, node, &s, &axis, &lo, &hi) || !leading_ones(&s, axis)) {
            r->flat_ok = 0;
            return;
        }
        int64_t row = 1;   /* row * dim <= numel: no overflow */
        for (int i = axis + 1; i < s.rank; i++)
            row *= s.d[i];
        int64_t keep_lo = lo * row, keep_hi = hi * row, len = r->src_hi - r->src_lo;
        int64_t a = r->dst_lo > keep_lo ? r->dst_lo : keep_lo;
        int64_t b = r->dst_lo + len < keep_hi ? r->dst_lo + len : keep_hi;
        if (b <= a) {               /* none of this chunk survives the slice */
            r->src_hi = r->src_lo;
            return;
        }
        r->src_lo += a - r->dst_lo;
        r->src_hi = r->src_lo + (b - a);
        r->dst_lo = a - keep_lo;
    } else if (oi_op_is(n, "Concat")) {
        int64_t axis = oi_attr_int(n, "axis", 0), before = 0;
        if (value_shape(x, oi_graph_output_value(x->graph, node, 0), &s, 0) ||
            axis < -s.rank || axis >= s.rank || !leading_ones(&s, (int)(axis < 0 ? axis + s.rank : axis))) {
            r->flat_ok = 0;
            return;
        }
        for (size_t i = 0; i < slot; i++) {
            shape in;
            if (value_shape(x, oi_graph_input_value(x->graph, node, i), &in, 0) || numel(&in) < 0 ||
                __builtin_add_overflow(before, numel(&in), &before)) {
                r->flat_ok = 0;
                return;
            }
        }
        r->dst_lo += before;
    }
}

/* Ops a constant passes through to reach its layer.  A Concat only when every
 * input is made of constants (torch's gate reordering); a constant joined to
 * computed values is a token (roles.c). */
static int is_layout_op(const oi_actx *x, size_t node, const Onnx__NodeProto *n, size_t slot)
{
    if (oi_op_is(n, "Concat")) {
        for (size_t i = 0; i < n->n_input; i++)
            if (!oi_is_const_derived(x, oi_graph_input_value(x->graph, node, i)))
                return 0;
        return 1;
    }
    return slot == 0 && (oi_op_is(n, "Identity") || oi_op_is(n, "Cast") ||
                         oi_op_is(n, "DequantizeLinear") ||
                         oi_op_is(n, "Transpose") || oi_op_is(n, "Reshape") ||
                         oi_op_is(n, "Squeeze") || oi_op_is(n, "Unsqueeze") ||
                         oi_op_is(n, "Flatten") || oi_op_is(n, "Slice"));
}

/* The stored tensor a value is, through ops that keep its values (-1: none). */
static long stored_source(const oi_actx *x, long value)
{
    static const char *const same_values[] = {"Cast", "Identity", "Reshape", "Transpose",
                                              "Squeeze", "Unsqueeze", "Flatten", NULL};
    for (int depth = 0; value >= 0 && depth < 8; depth++) {
        const oi_value *v = oi_graph_value(x->graph, (size_t)value);
        if (v->tensor >= 0)
            return v->tensor;
        const Onnx__NodeProto *p = v->producer >= 0
                                       ? oi_graph_node(x->graph, (size_t)v->producer)->proto : NULL;
        if (!oi_op_in(p, same_values))
            return -1;
        value = oi_graph_input_value(x->graph, (size_t)v->producer, 0);
    }
    return -1;
}

static int values_zero(const float *v, uint64_t n) { return oi_values_all(v, n, 0.0f); }

/* Do the stored values behind `value` pass `test`? (No: not a stored tensor.) */
static int stored_values_are(const oi_actx *x, long value, int (*test)(const float *, uint64_t))
{
    long t = stored_source(x, value);
    float *v = t >= 0 ? oi_const_floats(x, (size_t)t) : NULL;
    int yes = v && test(v, oi_model_tensor(x->model, (size_t)t)->n_elems);
    free(v);
    return yes;
}

/* Zeros the exporter joins to learned values (BEiT's q bias, zeros, v bias):
 * a fixed block, not part of the parameter. */
static int fixed_zero_block(const oi_actx *x, size_t node, const Onnx__NodeProto *n, long value)
{
    if (!oi_op_is(n, "Concat") || !stored_values_are(x, value, values_zero))
        return 0;
    for (size_t i = 0; i < n->n_input; i++)
        if (!stored_values_are(x, oi_graph_input_value(x->graph, node, i), values_zero))
            return 1;
    return 0;
}

/* Weight arithmetic a constant passes through to its layer: scaled by values
 * made of constants that fit into its shape (weight norm's v / ||v|| * g,
 * spectral norm's W / sigma).  A 0/1 mask (pruning) is a buffer, not a weight. */
static int scaled_weight(const oi_actx *x, size_t node, const Onnx__NodeProto *n, size_t slot,
                         long value)
{
    if (!(oi_op_is(n, "Mul") && n->n_input == 2 && slot <= 1) &&
        !(oi_op_is(n, "Div") && n->n_input == 2 && slot == 0))
        return 0;
    long other = oi_graph_input_value(x->graph, node, 1 - slot);
    shape me, by;
    if (other < 0 || !oi_is_const_derived(x, other) || value_shape(x, value, &me, 0) ||
        value_shape(x, other, &by, 0) || !fits_into(&me, &by))
        return 0;
    return !(oi_op_is(n, "Mul") && stored_values_are(x, value, oi_values_binary));
}

/* Steps one constant's walk may take: a graph that reuses a value many times
 * per level (a Concat of K copies, K Identities writing one name) has K^depth
 * paths, and the places worth finding are near. */
#define FOLLOW_STEPS 4096

static void follow(const oi_actx *x, long value, oi_reach cur, oi_reach *out, size_t *n_out,
                   int depth, size_t *steps)
{
    const oi_value *v = oi_graph_value(x->graph, (size_t)value);
    for (size_t u = 0; u < v->n_uses && *n_out < OI_MAX_REACH && ++*steps <= FOLLOW_STEPS; u++) {
        size_t node = v->uses[u].node, slot = v->uses[u].slot;
        const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
        oi_reach r = cur;
        r.node = node;
        r.slot = slot;
        long next = depth < 8 && ((is_layout_op(x, node, n, slot) &&
                                   !fixed_zero_block(x, node, n, value)) ||
                                  scaled_weight(x, node, n, slot, value) ||
                                  oi_op_is(n, "Tanh"))   /* tanh(0) = 0: a gate stays a gate */
                        ? oi_graph_output_value(x->graph, node, 0) : -1;
        if (next < 0) {
            shape s;
            value_shape(x, value, &s, 0);
            r.rank = s.rank;
            memcpy(r.dims, s.d, sizeof r.dims);
            out[(*n_out)++] = r;
            continue;
        }
        track_flat(x, node, slot, value, &r);
        if (oi_op_is(n, "DequantizeLinear"))
            r.dq = (long)node;
        if (r.flat_ok && r.src_hi == r.src_lo)
            continue;
        append_via(r.via, sizeof r.via, n->op_type);
        follow(x, next, r, out, n_out, depth + 1, steps);
    }
}

void oi_follow_constant(const oi_actx *x, long value, oi_reach start, oi_reach *out,
                        size_t *n_out)
{
    size_t steps = 0;
    *n_out = 0;
    follow(x, value, start, out, n_out, 0, &steps);
}

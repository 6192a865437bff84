/* The activation that follows a layer: a bounded breadth-first walk forward
 * through ops that keep the signal's scale (or only shift it), recognising
 * plain activation ops, fused ones, and the decomposed patterns exporters emit. */
#include "analyze/analyze_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_VISIT 256

static const char *const transparent_ops[] = {
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
    "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Cast",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "Pad", "Resize",
    "Upsample", "Concat", "Split", "Slice", "DepthToSpace", "SpaceToDepth", "Expand", "Tile",
    "SkipLayerNormalization", "SimplifiedLayerNormalization", "QuantizeLinear",
    "DequantizeLinear", NULL,
};

static const struct { const char *op; oi_act act; } plain_acts[] = {
    {"Relu", OI_ACT_RELU}, {"PRelu", OI_ACT_PRELU}, {"Elu", OI_ACT_ELU},
    {"Celu", OI_ACT_CELU}, {"Selu", OI_ACT_SELU}, {"Gelu", OI_ACT_GELU},
    {"FastGelu", OI_ACT_GELU}, {"BiasGelu", OI_ACT_GELU}, {"QuickGelu", OI_ACT_GELU},
    {"HardSwish", OI_ACT_HARDSWISH}, {"Mish", OI_ACT_MISH}, {"Tanh", OI_ACT_TANH},
    {"Softsign", OI_ACT_SOFTSIGN}, {"ThresholdedRelu", OI_ACT_RELU}, {"Erf", OI_ACT_GELU},
};

typedef struct {
    oi_act act;
    double param;
    const char *how;      /* "", "x*Sigmoid(x)", ... for the note */
} found_act;

static int in_list(const char *op, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(op, *list) == 0)
            return 1;
    return 0;
}

static long out0(const oi_actx *x, size_t node) { return oi_graph_output_value(x->graph, node, 0); }

/* Is `value` consumed by a Mul whose other operand is `other`? (x * f(x) patterns) */
static int mul_with(const oi_actx *x, long value, long other)
{
    const oi_value *v = oi_graph_value(x->graph, (size_t)value);
    for (size_t u = 0; u < v->n_uses; u++) {
        const oi_gnode *n = oi_graph_node(x->graph, v->uses[u].node);
        if (oi_op_is(n->proto, "Mul") &&
            oi_graph_input_value(x->graph, v->uses[u].node, 1 - (v->uses[u].slot & 1)) == other)
            return 1;
    }
    return 0;
}

static int feeds_op(const oi_actx *x, long value, const char *op)
{
    const oi_value *v = oi_graph_value(x->graph, (size_t)value);
    for (size_t u = 0; u < v->n_uses; u++)
        if (oi_op_is(oi_graph_node(x->graph, v->uses[u].node)->proto, op))
            return 1;
    return 0;
}

static double scalar_input(const oi_actx *x, size_t node, size_t slot, double dflt)
{
    double val;
    size_t n;
    if (oi_const_values(x, oi_graph_input_value(x->graph, node, slot), &val, 1, &n) == 0 && n == 1)
        return val;
    return dflt;
}

/* Map an activation op (or decomposed pattern rooted at it) reached from `v`. */
static int classify(const oi_actx *x, long v, size_t node, found_act *f)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    long y = out0(x, node);
    *f = (found_act){OI_ACT_LINEAR, 0, ""};
    for (size_t i = 0; i < sizeof plain_acts / sizeof plain_acts[0]; i++)
        if (oi_op_is(n, plain_acts[i].op)) {
            f->act = plain_acts[i].act;
            if (f->act == OI_ACT_PRELU)
                f->param = 0.25;
            if (oi_op_is(n, "Erf"))
                f->how = "x*0.5*(1+Erf(x/sqrt2))";
            return 1;
        }
    if (oi_op_is(n, "LeakyRelu")) {
        *f = (found_act){OI_ACT_LEAKY_RELU, oi_attr_float(n, "alpha", 0.01), ""};
        return 1;
    }
    if (oi_op_is(n, "Sigmoid")) {
        int silu = y >= 0 && mul_with(x, y, v);
        *f = silu ? (found_act){OI_ACT_SILU, 0, "x*Sigmoid(x)"} : (found_act){OI_ACT_SIGMOID, 0, ""};
        return 1;
    }
    if (oi_op_is(n, "HardSigmoid")) {
        int hs = y >= 0 && mul_with(x, y, v);
        *f = hs ? (found_act){OI_ACT_HARDSWISH, 0, "x*HardSigmoid(x)"}
                : (found_act){OI_ACT_HARDSIGMOID, 0, ""};
        return 1;
    }
    if (oi_op_is(n, "Softplus")) {
        int mish = y >= 0 && feeds_op(x, y, "Tanh");
        *f = mish ? (found_act){OI_ACT_MISH, 0, "x*Tanh(Softplus(x))"}
                  : (found_act){OI_ACT_SOFTPLUS, 0, ""};
        return 1;
    }
    if (oi_op_is(n, "Clip")) {
        double lo = n->n_input > 1 ? scalar_input(x, node, 1, -INFINITY)
                                   : oi_attr_float(n, "min", -INFINITY);
        if (lo == 0.0) {
            *f = (found_act){OI_ACT_RELU6, 0, "Clip(min=0)"};
            return 1;
        }
        return 0;
    }
    if (oi_op_is(n, "Max") && n->n_input == 2) {
        /* Max(x, a*x) with 0 < a < 1 is LeakyReLU(a). */
        for (size_t s = 0; s < 2; s++) {
            long o = oi_graph_input_value(x->graph, node, s);
            const oi_value *ov = o >= 0 ? oi_graph_value(x->graph, (size_t)o) : NULL;
            if (!ov || ov->producer < 0 || o == v)
                continue;
            const Onnx__NodeProto *p = oi_graph_node(x->graph, (size_t)ov->producer)->proto;
            if (!oi_op_is(p, "Mul"))
                continue;
            for (size_t k = 0; k < 2; k++)
                if (oi_graph_input_value(x->graph, (size_t)ov->producer, k) == v) {
                    double a = scalar_input(x, (size_t)ov->producer, 1 - k, -1);
                    if (a > 0 && a < 1) {
                        *f = (found_act){OI_ACT_LEAKY_RELU, a, "Max(x, a*x)"};
                        return 1;
                    }
                }
        }
    }
    return 0;
}

/* GELU's tanh approximation starts with Pow(x, 3) on the layer's output. */
static int tanh_gelu_at(const oi_actx *x, long v)
{
    const oi_value *val = oi_graph_value(x->graph, (size_t)v);
    for (size_t u = 0; u < val->n_uses; u++) {
        size_t node = val->uses[u].node;
        if (oi_op_is(oi_graph_node(x->graph, node)->proto, "Pow") && val->uses[u].slot == 0 &&
            scalar_input(x, node, 1, 0) == 3.0)
            return 1;
    }
    return 0;
}

/* May the walk continue through this node (entered at `slot`)? */
static int passes(const oi_actx *x, size_t node, size_t slot, int *residual)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    if (in_list(n->op_type ? n->op_type : "", transparent_ops))
        return slot == 0 || oi_op_is(n, "Concat") || oi_op_is(n, "SkipLayerNormalization");
    if (oi_op_is(n, "Clip"))
        return slot == 0;
    int add = oi_op_is(n, "Add") || oi_op_is(n, "Sub");
    if (add || oi_op_is(n, "Mul") || oi_op_is(n, "Div")) {
        if (n->n_input != 2)
            return 0;
        long other = oi_graph_input_value(x->graph, node, 1 - (slot & 1));
        if (other >= 0 && oi_is_const_derived(x, other))   /* γ via Unsqueeze: still constant */
            return !(oi_op_is(n, "Div") && slot == 1);
        if (!add && oi_is_norm_denominator(x, other) && !(oi_op_is(n, "Div") && slot == 1))
            return 1;   /* a decomposed norm's division keeps the walk going */
        if (oi_op_is(n, "Mul") && oi_rescaled_integer(x, out0(x, node), NULL) >= 0)
            return 1;   /* an integer layer's output brought back to floats */
        const Onnx__NodeProto *p = other >= 0 && oi_graph_value(x->graph, (size_t)other)->producer >= 0
            ? oi_graph_node(x->graph, (size_t)oi_graph_value(x->graph, (size_t)other)->producer)->proto
            : NULL;
        if (oi_op_is(n, "Sub") && p && oi_op_is(p, "ReduceMean"))
            return slot == 0;   /* x - mean(x): centring, not a residual join */
        if (add) {
            *residual = 1;   /* a residual join keeps the scale: walk on */
            return 1;
        }
    }
    return 0;
}

static void set_act(oi_weight *w, found_act f)
{
    w->act = f.act;
    w->act_param = f.param;
    w->gain = oi_act_gain(f.act, f.param);
}

static int fused_activation(const oi_actx *x, const Onnx__NodeProto *n, oi_weight *w)
{
    const Onnx__AttributeProto *a = oi_attr(n, "activation");
    if (!a || !a->has_s || !a->s.len)
        return 0;
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)a->s.len, (const char *)a->s.data);
    found_act f = {OI_ACT_LINEAR, 0, ""};
    if (strcmp(name, "Relu") == 0)
        f.act = OI_ACT_RELU;
    else if (strcmp(name, "LeakyRelu") == 0) {
        const Onnx__AttributeProto *p = oi_attr(n, "activation_params");
        f = (found_act){OI_ACT_LEAKY_RELU, p && p->n_floats ? p->floats[0]
                                                             : oi_attr_float(n, "activation_alpha", 0.01), ""};
    } else if (strcmp(name, "Tanh") == 0)
        f.act = OI_ACT_TANH;
    else if (strcmp(name, "Sigmoid") == 0)
        f.act = OI_ACT_SIGMOID;
    else if (strcmp(name, "HardSigmoid") == 0)
        f.act = OI_ACT_HARDSIGMOID;
    else
        return 0;
    set_act(w, f);
    w->note = oi_arena_printf(x->arena, "activation fused into %s", n->op_type);
    return 1;
}

/* Keep the first activation found (nearest, then node order) and one that disagrees. */
static void record(found_act *first, found_act *other, int *found_depth, found_act f, int d)
{
    if (*found_depth < 0) {
        *first = f;
        *found_depth = d;
    } else if (f.act != first->act && other->act == OI_ACT_LINEAR) {
        *other = f;
    }
}

void oi_find_activation(const oi_actx *x, size_t layer, oi_weight *w)
{
    set_act(w, (found_act){OI_ACT_LINEAR, 0, ""});
    if (fused_activation(x, oi_graph_node(x->graph, layer)->proto, w))
        return;
    long queue[MAX_VISIT];
    int depth[MAX_VISIT];
    size_t head = 0, tail = 0;
    long start = out0(x, layer);
    if (start < 0)
        return;
    queue[tail] = start;
    depth[tail++] = 0;
    found_act first = {OI_ACT_LINEAR, 0, ""}, other = first;
    int found_depth = -1, residual = 0;
    while (head < tail) {
        long v = queue[head];
        int d = depth[head++];
        if (found_depth >= 0 && d > found_depth)
            break;
        found_act f = {OI_ACT_LINEAR, 0, ""};
        const oi_value *val = oi_graph_value(x->graph, (size_t)v);
        int hit = 0;
        if (tanh_gelu_at(x, v)) {
            f = (found_act){OI_ACT_GELU, 0, "tanh approximation of GELU"};
            hit = 1;
        }
        if (hit)
            record(&first, &other, &found_depth, f, d);
        for (size_t u = 0; u < val->n_uses && !hit; u++) {
            size_t node = val->uses[u].node;
            found_act g;
            if (classify(x, v, node, &g)) {
                record(&first, &other, &found_depth, g, d);
                continue;
            }
            if (d < OI_ACT_MAX_DEPTH && passes(x, node, val->uses[u].slot, &residual))
                for (size_t o = 0; o < oi_graph_node(x->graph, node)->proto->n_output; o++) {
                    long next = oi_graph_output_value(x->graph, node, o);
                    int seen = next < 0;
                    for (size_t q = 0; q < tail && !seen; q++)
                        seen = queue[q] == next;
                    if (!seen && tail < MAX_VISIT) {
                        queue[tail] = next;
                        depth[tail++] = d + 1;
                    }
                }
        }
    }
    w->residual = residual;
    if (found_depth < 0)
        return;
    set_act(w, first);
    char note[192];
    int n = 0;
    if (*first.how)
        n = snprintf(note, sizeof note, "%s recognised as %s", first.how, oi_act_name(first.act));
    if (residual && n >= 0 && (size_t)n < sizeof note)
        n += snprintf(note + n, sizeof note - (size_t)n, "%swalked through a residual Add",
                      n ? "; " : "");
    if (other.act != OI_ACT_LINEAR && n >= 0 && (size_t)n < sizeof note)
        n += snprintf(note + n, sizeof note - (size_t)n,
                      "%sbranches disagree: took %s (nearest, first in node order) over %s",
                      n ? "; " : "", oi_act_name(first.act), oi_act_name(other.act));
    if (n > 0)
        w->note = oi_arena_copy(x->arena, note);
}

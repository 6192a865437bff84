/* Moment propagation through a graph (signal.h).  Each op's rule is a row of
 * a table; ops without a row pass their first input's moments on. */
#include "plan/signal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"   /* node attribute helpers */

/* ---- activations, by quadrature over N(mean, var) ---- */

typedef double (*act_fn)(double x, double p);

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
static double f_relu(double x, double p) { return x > 0 ? x : p * x; }
static double f_elu(double x, double p) { return x > 0 ? x : p * expm1(x); }
static double f_selu(double x, double p)
{
    (void)p;
    return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * expm1(x));
}
static double f_gelu(double x, double p) { (void)p; return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double f_quickgelu(double x, double p) { (void)p; return x * sigm(1.702 * x); }
static double f_silu(double x, double p) { (void)p; return x * sigm(x); }
static double f_sigmoid(double x, double p) { (void)p; return sigm(x); }
static double f_hardsigmoid(double x, double p) { return fmax(0, fmin(1, p * x + 0.5)); }
static double f_hardswish(double x, double p) { (void)p; return x * fmax(0, fmin(1, x / 6 + 0.5)); }
static double f_softplus(double x, double p) { (void)p; return x > 30 ? x : log1p(exp(x)); }
static double f_mish(double x, double p) { return x * tanh(f_softplus(x, p)); }
static double f_tanh(double x, double p) { (void)p; return tanh(x); }
static double f_softsign(double x, double p) { (void)p; return x / (1 + fabs(x)); }
static double f_erf(double x, double p) { (void)p; return erf(x); }
static double f_relu6(double x, double p) { return fmin(fmax(x, 0), p); }
static double f_thresholded(double x, double p) { return x > p ? x : 0; }

/* op -> function, the attribute holding its parameter, and its default. */
static const struct act_row {
    const char *op;
    act_fn f;
    const char *attr;
    double dflt;
} act_table[] = {
    {"Relu", f_relu, NULL, 0},              {"LeakyRelu", f_relu, "alpha", 0.01},
    {"Elu", f_elu, "alpha", 1},             {"Celu", f_elu, "alpha", 1},
    {"Selu", f_selu, NULL, 0},              {"Gelu", f_gelu, NULL, 0},
    {"FastGelu", f_gelu, NULL, 0},          {"BiasGelu", f_gelu, NULL, 0},
    {"QuickGelu", f_quickgelu, NULL, 0},    {"Silu", f_silu, NULL, 0},
    {"Swish", f_silu, NULL, 0},             {"Sigmoid", f_sigmoid, NULL, 0},
    {"HardSigmoid", f_hardsigmoid, "alpha", 0.2}, {"HardSwish", f_hardswish, NULL, 0},
    {"Softplus", f_softplus, NULL, 0},      {"Mish", f_mish, NULL, 0},
    {"Tanh", f_tanh, NULL, 0},              {"Softsign", f_softsign, NULL, 0},
    {"Erf", f_erf, NULL, 0},                {"ThresholdedRelu", f_thresholded, "alpha", 1},
};

static const struct act_row *act_row(const char *op)
{
    for (size_t i = 0; op && i < sizeof act_table / sizeof *act_table; i++)   /* op may be NULL */
        if (strcmp(op, act_table[i].op) == 0)
            return &act_table[i];
    return NULL;
}

#define QUAD_STEPS 400
#define QUAD_SPAN 8.0

static double std_of(oi_moment m) { return sqrt(fmax(0, m.msq - m.mean * m.mean)); }

#define OUTER_STEPS 32

/* E[g(x)] and E[g(x)^2] for x ~ N(mu, s^2), g(x) = f(x) (gate 0) or x f(x). */
static void inner(act_fn f, double p, double mu, double s, int gate, double *g1, double *g2)
{
    double w_sum = 0, m1 = 0, m2 = 0;
    for (int k = 0; k <= QUAD_STEPS; k++) {
        double z = -QUAD_SPAN + 2 * QUAD_SPAN * k / QUAD_STEPS, w = exp(-0.5 * z * z);
        double x = mu + s * z, y = gate ? x * f(x, p) : f(x, p);
        w_sum += w;
        m1 += w * y;
        m2 += w * y * y;
    }
    *g1 = m1 / w_sum;
    *g2 = m2 / w_sum;
}

/* Channel means mu_c ~ N(mean, cmsq - mean^2), positions within a channel
 * N(mu_c, msq - cmsq): the moments of g over both. */
static oi_moment quadrature(act_fn f, double p, oi_moment in, int gate)
{
    double between = sqrt(fmax(0, in.cmsq - in.mean * in.mean));
    double within = sqrt(fmax(0, in.msq - fmax(in.cmsq, in.mean * in.mean)));
    double w_sum = 0, m1 = 0, m2 = 0, c2 = 0;
    int steps = between > 0 ? OUTER_STEPS : 0;
    for (int k = 0; k <= steps; k++) {
        double z = steps ? -QUAD_SPAN / 2 + QUAD_SPAN * k / steps : 0, w = exp(-0.5 * z * z);
        double g1, g2;
        inner(f, p, in.mean + between * z, within, gate, &g1, &g2);
        w_sum += w;
        m1 += w * g1;
        m2 += w * g2;
        c2 += w * g1 * g1;
    }
    return (oi_moment){m1 / w_sum, m2 / w_sum, c2 / w_sum};
}

/* ---- the walk ---- */

typedef struct {
    oi_model *model;
    const oi_graph *graph;
    const oi_analysis *analysis;
    const oi_signal_hooks *hooks;
    oi_moment *m;           /* per value */
    char *known;            /* per value: moments computed */
    long *weight_of;        /* per node: catalogue index of its layer weight, or -1 */
} walk;

static const oi_moment unit = {0, 1, 0};

static oi_moment value_moment(walk *w, long v)
{
    if (v < 0)
        return unit;
    if (!w->known[v]) {
        const oi_value *val = oi_graph_value(w->graph, (size_t)v);
        w->m[v] = val->tensor >= 0 ? w->hooks->constant(w->hooks->opaque, (size_t)val->tensor)
                                   : unit;
        w->known[v] = 1;
    }
    return w->m[v];
}

static oi_moment in_m(walk *w, size_t node, size_t slot)
{
    return value_moment(w, oi_graph_input_value(w->graph, node, slot));
}

static int is_const(walk *w, long v)
{
    return v >= 0 && oi_graph_value(w->graph, (size_t)v)->tensor >= 0;
}

static const Onnx__NodeProto *producer(walk *w, long v)
{
    long p = v >= 0 ? oi_graph_value(w->graph, (size_t)v)->producer : -1;
    return p >= 0 ? oi_graph_node(w->graph, (size_t)p)->proto : NULL;
}

static size_t n_inputs(walk *w, size_t node) { return oi_graph_node(w->graph, node)->proto->n_input; }

static oi_moment sum2(oi_moment a, oi_moment b, double sign)
{
    double cross = 2 * sign * a.mean * b.mean;
    return (oi_moment){a.mean + sign * b.mean, a.msq + b.msq + cross, a.cmsq + b.cmsq + cross};
}

static oi_moment rule_add(walk *w, size_t node)
{
    oi_moment r = in_m(w, node, 0);
    for (size_t s = 1; s < n_inputs(w, node); s++)
        r = sum2(r, in_m(w, node, s), 1);
    return r;
}

static oi_moment rule_sub(walk *w, size_t node) { return sum2(in_m(w, node, 0), in_m(w, node, 1), -1); }

/* x * f(x) where one operand is an activation of the other: joint, not independent. */
static int gate_of(walk *w, size_t node, oi_moment *out)
{
    for (size_t s = 0; s < 2; s++) {
        long x = oi_graph_input_value(w->graph, node, s), g = oi_graph_input_value(w->graph, node, 1 - s);
        const Onnx__NodeProto *p = producer(w, g);
        const struct act_row *r = p ? act_row(p->op_type) : NULL;
        if (r && p->n_input && oi_graph_value(w->graph, (size_t)g)->producer >= 0 &&
            oi_graph_input_value(w->graph, (size_t)oi_graph_value(w->graph, (size_t)g)->producer, 0) == x) {
            *out = quadrature(r->f, r->attr ? oi_attr_float(p, r->attr, r->dflt) : r->dflt,
                              value_moment(w, x), 1);
            return 1;
        }
    }
    return 0;
}

static oi_moment rule_mul(walk *w, size_t node)
{
    oi_moment r;
    if (gate_of(w, node, &r))
        return r;
    r = in_m(w, node, 0);
    for (size_t s = 1; s < n_inputs(w, node); s++) {
        oi_moment b = in_m(w, node, s);
        r = (oi_moment){r.mean * b.mean, r.msq * b.msq, r.cmsq * b.cmsq};
    }
    return r;
}

/* a / b: by a constant, a rescale; by a computed value, a normalization's
 * quotient (x - mean) / std, which comes out with unit second moment. */
static oi_moment rule_div(walk *w, size_t node)
{
    oi_moment a = in_m(w, node, 0), b = in_m(w, node, 1);
    if (!is_const(w, oi_graph_input_value(w->graph, node, 1)))
        return (oi_moment){0, 1, a.msq > 0 ? fmin(1, a.cmsq / a.msq) : 0};
    if (!(b.msq > 1e-30))
        return a;
    return (oi_moment){a.mean / sqrt(b.msq), a.msq / b.msq, a.cmsq / b.msq};
}

static oi_moment rule_act(walk *w, size_t node)
{
    const Onnx__NodeProto *n = oi_graph_node(w->graph, node)->proto;
    const struct act_row *r = act_row(n->op_type);
    double p = r->attr ? oi_attr_float(n, r->attr, r->dflt) : r->dflt;
    return quadrature(r->f, p, in_m(w, node, 0), 0);
}

/* PRelu: a leaky ReLU with the slope's mean. */
static oi_moment rule_prelu(walk *w, size_t node)
{
    return quadrature(f_relu, in_m(w, node, 1).mean, in_m(w, node, 0), 0);
}

/* Clip(min, max) from inputs (opset >= 11) or attributes: ReLU6 when [0, 6]. */
static oi_moment rule_clip(walk *w, size_t node)
{
    const Onnx__NodeProto *n = oi_graph_node(w->graph, node)->proto;
    double lo = oi_attr_float(n, "min", -INFINITY), hi = oi_attr_float(n, "max", INFINITY);
    if (n_inputs(w, node) > 1 && is_const(w, oi_graph_input_value(w->graph, node, 1)))
        lo = in_m(w, node, 1).mean;
    if (n_inputs(w, node) > 2 && is_const(w, oi_graph_input_value(w->graph, node, 2)))
        hi = in_m(w, node, 2).mean;
    if (lo == 0 && isfinite(hi) && hi > 0)
        return quadrature(f_relu6, hi, in_m(w, node, 0), 0);
    return in_m(w, node, 0);
}

/* Averages over k positions: channel means stay, the spread within a
 * channel shrinks as if positions were independent. */
static oi_moment averaged(oi_moment m, double k)
{
    double within = fmax(0, m.msq - m.cmsq);
    return (oi_moment){m.mean, m.cmsq + within / (k > 1 ? k : 1), m.cmsq};
}

static double kernel_size(const Onnx__NodeProto *n)
{
    const Onnx__AttributeProto *a = oi_attr(n, "kernel_shape");
    double k = 1;
    for (size_t i = 0; a && i < a->n_ints; i++)
        k *= a->ints[i] > 0 ? (double)a->ints[i] : 1;
    return k;
}

static oi_moment rule_avgpool(walk *w, size_t node)
{
    return averaged(in_m(w, node, 0), kernel_size(oi_graph_node(w->graph, node)->proto));
}

/* A global average keeps the channel means and a little of the spread
 * within (taken over GLOBAL_SPAN positions: a 7 x 7 map, about). */
#define GLOBAL_SPAN 49.0
static oi_moment rule_global(walk *w, size_t node) { return averaged(in_m(w, node, 0), GLOBAL_SPAN); }

/* The maximum of k Gaussians N(mean, var): its moments by quadrature over
 * the density k phi(z) Phi(z)^(k-1). */
static oi_moment max_of(oi_moment m, double k)
{
    double s = std_of(m), w_sum = 0, m1 = 0, m2 = 0;
    for (int i = 0; i <= QUAD_STEPS; i++) {
        double z = -QUAD_SPAN + 2 * QUAD_SPAN * i / QUAD_STEPS;
        double dens = k * exp(-0.5 * z * z) * pow(0.5 * erfc(-z / sqrt(2.0)), k - 1);
        double x = m.mean + s * z;
        w_sum += dens;
        m1 += dens * x;
        m2 += dens * x * x;
    }
    return w_sum > 0 ? (oi_moment){m1 / w_sum, m2 / w_sum, m.cmsq * (m2 / w_sum) / fmax(m.msq, 1e-30)} : m;
}

/* MaxPool after a ReLU is ReLU after MaxPool: take the max before the ReLU.
 * Neighbours under one window are correlated (their receptive fields
 * overlap), so the max is of about sqrt(k) independent values, not k. */
static oi_moment rule_maxpool(walk *w, size_t node)
{
    double k = sqrt(kernel_size(oi_graph_node(w->graph, node)->proto));
    long v = oi_graph_input_value(w->graph, node, 0);
    const Onnx__NodeProto *p = producer(w, v);
    if (p && oi_op_is(p, "Relu")) {
        long pv = oi_graph_input_value(w->graph, (size_t)oi_graph_value(w->graph, (size_t)v)->producer, 0);
        return quadrature(f_relu, 0, max_of(value_moment(w, pv), k), 0);
    }
    return max_of(value_moment(w, v), k);
}

static oi_moment rule_concat(walk *w, size_t node)
{
    oi_moment r = {0, 0, 0};
    size_t k = 0;
    for (size_t s = 0; s < n_inputs(w, node); s++) {
        oi_moment m = in_m(w, node, s);
        r.mean += m.mean;
        r.msq += m.msq;
        r.cmsq += m.cmsq;
        k++;
    }
    return k ? (oi_moment){r.mean / (double)k, r.msq / (double)k, r.cmsq / (double)k} : unit;
}

/* Pow(x, 2) of a Gaussian: mean E[x^2], second moment 3 E[x^2]^2 (the
 * variance of a decomposed norm); Sqrt of such: mean sqrt(E), E[.^2] = E. */
static oi_moment rule_pow(walk *w, size_t node)
{
    oi_moment a = in_m(w, node, 0), e = in_m(w, node, 1);
    if (e.mean == 2 && e.msq == 4)
        return (oi_moment){a.msq, 3 * a.msq * a.msq, a.msq * a.msq};
    return a;
}

static oi_moment rule_sqrt(walk *w, size_t node)
{
    oi_moment a = in_m(w, node, 0);
    return (oi_moment){sqrt(fmax(0, a.mean)), fmax(0, a.mean), fmax(0, a.mean)};
}

/* MatMul of two computed values: attention.  Softmax(.) @ V keeps V's
 * moments (a weighted average); Q @ K^T feeds a softmax, whose output is
 * taken as bounded (its own rule). */
static oi_moment rule_matmul(walk *w, size_t node)
{
    for (size_t s = 0; s < 2; s++) {
        const Onnx__NodeProto *p = producer(w, oi_graph_input_value(w->graph, node, s));
        if (p && oi_op_is(p, "Softmax"))
            return in_m(w, node, 1 - s);
    }
    oi_moment a = in_m(w, node, 0), b = in_m(w, node, 1);
    return (oi_moment){a.mean * b.mean, a.msq * b.msq, a.cmsq * b.cmsq};
}

/* A normalization: the signal comes out with its scale's and shift's moments. */
static oi_moment rule_norm(walk *w, size_t node)
{
    oi_moment g = in_m(w, node, 1), b = n_inputs(w, node) > 2 ? in_m(w, node, 2) : (oi_moment){0, 0, 0};
    return (oi_moment){b.mean, g.msq + b.msq, b.msq};
}

static oi_moment rule_softmax(walk *w, size_t node) { (void)w; (void)node; return unit; }

typedef oi_moment (*rule_fn)(walk *w, size_t node);

static const struct {
    const char *op;
    rule_fn rule;
} op_table[] = {
    {"Add", rule_add}, {"Sum", rule_add}, {"Sub", rule_sub}, {"Mul", rule_mul},
    {"Div", rule_div}, {"PRelu", rule_prelu}, {"Clip", rule_clip},
    {"AveragePool", rule_avgpool}, {"GlobalAveragePool", rule_global},
    {"ReduceMean", rule_global}, {"MaxPool", rule_maxpool}, {"GlobalMaxPool", rule_global},
    {"Concat", rule_concat}, {"Pow", rule_pow}, {"Sqrt", rule_sqrt}, {"MatMul", rule_matmul},
    {"Softmax", rule_softmax},
    {"BatchNormalization", rule_norm}, {"LayerNormalization", rule_norm},
    {"InstanceNormalization", rule_norm}, {"GroupNormalization", rule_norm},
    {"SimplifiedLayerNormalization", rule_norm}, {"SkipLayerNormalization", rule_norm},
    {"SkipSimplifiedLayerNormalization", rule_norm},
};

/* ---- weight layers ---- */

static const char *const conv_ops[] = {"Conv", "FusedConv", "NhwcConv", NULL};
static const char *const layer_ops[] = {"Conv", "FusedConv", "NhwcConv", "ConvTranspose", "Gemm",
                                        "FusedGemm", "MatMul", "FusedMatMul", NULL};

/* Terms summed per output: fan_in, except ConvTranspose (each output sees
 * 1/stride of the kernel along each axis). */
static double layer_terms(const Onnx__NodeProto *n, const oi_weight *wt)
{
    double terms = (double)wt->fan_in;
    if (oi_op_is(n, "ConvTranspose") && wt->rank >= 3) {
        const Onnx__AttributeProto *st = oi_attr(n, "strides");
        double in_ch = (double)wt->dims[0] / (double)(oi_attr_int(n, "group", 1) > 0 ? oi_attr_int(n, "group", 1) : 1);
        terms = in_ch;
        for (int d = 2; d < wt->rank; d++)
            terms *= (double)wt->dims[d];
        for (size_t i = 0; st && i < st->n_ints; i++)
            terms /= st->ints[i] > 1 ? (double)st->ints[i] : 1;
    }
    return terms > 0 ? terms : 1;
}

/* Its output ends a residual branch: it reaches a residual Add before any
 * activation, and neither its input nor its output forks.  A layer reading
 * a fork is a projection shortcut (ResNet's downsample); one whose output
 * forks starts the next block's skip (a stage's first block). */
static int branch_end(walk *w, const oi_weight *wt, long data, size_t node)
{
    long out = oi_graph_output_value(w->graph, node, 0);
    return wt->residual && data >= 0 && out >= 0 &&
           oi_graph_value(w->graph, (size_t)data)->n_uses < 2 &&
           oi_graph_value(w->graph, (size_t)out)->n_uses < 2;
}

/* Its output is the model's (logits): directly, or through a bias Add or
 * shape-only ops, each the value's only use. */
static int model_head(walk *w, size_t node)
{
    static const char *const through[] = {"Add", "Identity", "Reshape", "Flatten", "Squeeze", NULL};
    long v = oi_graph_output_value(w->graph, node, 0);
    for (int step = 0; v >= 0 && step < 4; step++) {
        const oi_value *val = oi_graph_value(w->graph, (size_t)v);
        if (val->is_output && val->scope == 0)
            return 1;
        if (val->n_uses != 1 || !oi_op_in(oi_graph_node(w->graph, val->uses[0].node)->proto, through))
            return 0;
        v = oi_graph_output_value(w->graph, val->uses[0].node, 0);
    }
    return 0;
}

static oi_moment fused_activation(walk *w, const Onnx__NodeProto *n, oi_moment y)
{
    const Onnx__AttributeProto *a = oi_attr(n, "activation");
    char name[32];
    if (!a || !a->s.len || a->s.len >= sizeof name)
        return y;
    memcpy(name, a->s.data, a->s.len);
    name[a->s.len] = '\0';
    const struct act_row *r = act_row(name);
    const Onnx__AttributeProto *ap = oi_attr(n, "activation_params");
    double p = ap && ap->n_floats ? ap->floats[0] : r ? r->dflt : 0;
    (void)w;
    return r ? quadrature(r->f, p, y, 0) : y;
}

static oi_moment rule_layer(walk *w, size_t node, size_t tensor)
{
    const Onnx__NodeProto *n = oi_graph_node(w->graph, node)->proto;
    const oi_weight *wt = oi_analysis_get(w->analysis, tensor);
    int conv = oi_op_in(n, conv_ops) || oi_op_is(n, "ConvTranspose");
    size_t data_slot = conv ? 0 : 1 - (wt->slot & 1);
    long data = oi_graph_input_value(w->graph, node, data_slot);
    oi_signal_layer l = {.node = node, .tensor = tensor, .in = value_moment(w, data),
                         .terms = layer_terms(n, wt), .branch_end = branch_end(w, wt, data, node),
                         .gate = wt->act == OI_ACT_SIGMOID || wt->act == OI_ACT_HARDSIGMOID,
                         .head = model_head(w, node)};
    double wsq = w->hooks->layer(w->hooks->opaque, &l);
    double alpha = oi_attr_float(n, "alpha", 1.0);
    double k = l.terms * wsq * (conv ? 1 : alpha * alpha);
    oi_moment y = {0, k * l.in.msq, k * l.in.cmsq};
    if (n_inputs(w, node) > 2 && !oi_op_is(n, "FusedMatMul"))
        y = sum2(y, in_m(w, node, 2), 1);   /* the bias (Conv B, Gemm C) */
    return fused_activation(w, n, y);
}

static oi_moment node_rule(walk *w, size_t node)
{
    const Onnx__NodeProto *n = oi_graph_node(w->graph, node)->proto;
    if (w->weight_of[node] >= 0)
        return rule_layer(w, node, (size_t)w->weight_of[node]);
    if (act_row(n->op_type))
        return rule_act(w, node);
    for (size_t i = 0; i < sizeof op_table / sizeof *op_table; i++)
        if (oi_op_is(n, op_table[i].op))
            return op_table[i].rule(w, node);
    return n->n_input ? in_m(w, node, 0) : unit;
}

static int by_order(const void *a, const void *b, void *g)
{
    size_t x = oi_graph_node(g, *(const size_t *)a)->order, y = oi_graph_node(g, *(const size_t *)b)->order;
    return (x > y) - (x < y);
}

static void index_layers(walk *w, size_t nodes)
{
    for (size_t i = 0; i < nodes; i++)
        w->weight_of[i] = -1;
    for (size_t t = 0; t < oi_model_tensor_count(w->model); t++) {
        const oi_weight *wt = oi_analysis_get(w->analysis, t);
        if (wt->role == OI_ROLE_WEIGHT && wt->layer_node < nodes && wt->fan_in > 0 &&
            wt->quant->form == OI_QUANT_NONE && w->weight_of[wt->layer_node] < 0 &&
            oi_op_in(oi_graph_node(w->graph, wt->layer_node)->proto, layer_ops) && wt->slot < 2)
            w->weight_of[wt->layer_node] = (long)t;
    }
}

oi_status oi_signal_propagate(oi_model *model, const oi_graph *graph, const oi_analysis *analysis,
                              const oi_signal_hooks *hooks, oi_moment *moments, oi_error *err)
{
    size_t nodes = oi_graph_node_count(graph), nv = oi_graph_value_count(graph);
    walk w = {model, graph, analysis, hooks, moments, calloc(nv ? nv : 1, 1),
              malloc((nodes ? nodes : 1) * sizeof(long))};
    size_t *order = malloc((nodes ? nodes : 1) * sizeof *order);
    if (!w.known || !w.weight_of || !order) {
        free(w.known);
        free(w.weight_of);
        free(order);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    }
    index_layers(&w, nodes);
    for (size_t i = 0; i < nodes; i++)
        order[i] = i;
    qsort_r(order, nodes, sizeof *order, by_order, (void *)graph);
    for (size_t k = 0; k < nodes; k++) {
        size_t node = order[k];
        oi_moment m = node_rule(&w, node);
        if (!isfinite(m.msq) || !isfinite(m.mean))
            m = (oi_moment){0, INFINITY, INFINITY};
        m.msq = fmax(m.msq, m.mean * m.mean);   /* a difference may round below its mean */
        m.cmsq = fmin(fmax(m.cmsq, m.mean * m.mean), m.msq);
        for (size_t o = 0; o < oi_graph_node(graph, node)->proto->n_output; o++) {
            long v = oi_graph_output_value(graph, node, o);
            if (v >= 0 && oi_graph_value(graph, (size_t)v)->tensor < 0) {   /* not a Constant's */
                moments[v] = m;
                w.known[v] = 1;
            }
        }
    }
    for (size_t v = 0; v < nv; v++)
        value_moment(&w, (long)v);
    free(w.known);
    free(w.weight_of);
    free(order);
    return OI_OK;
}

int oi_signal_outputs(const oi_graph *graph, const oi_moment *moments, double *rms_max,
                      double *rms_min)
{
    int n = 0;
    *rms_max = 0;
    *rms_min = INFINITY;
    for (size_t v = 0; v < oi_graph_value_count(graph); v++) {
        const oi_value *val = oi_graph_value(graph, v);
        if (!val->is_output || val->scope != 0 || val->producer < 0)
            continue;
        double r = sqrt(fmax(0, moments[v].msq));
        *rms_max = fmax(*rms_max, r);
        *rms_min = fmin(*rms_min, r);
        n++;
    }
    if (!n)
        *rms_min = 0;
    return n;
}

int oi_signal_needed(const oi_analysis *analysis, size_t tensors)
{
    size_t layers = 0;
    for (size_t i = 0; i < tensors; i++) {
        const oi_weight *w = oi_analysis_get(analysis, i);
        if (w->role == OI_ROLE_NORM_SCALE || w->role == OI_ROLE_NORM_BIAS ||
            w->role == OI_ROLE_NORM_MEAN || w->role == OI_ROLE_NORM_VAR || w->input_normalized)
            return 0;
        layers += w->role == OI_ROLE_WEIGHT && w->tied_to < 0;
    }
    return layers >= 8;
}

#define STORED_MAX (1u << 24)   /* elements read to measure a stored constant */

oi_moment oi_signal_stored(oi_model *model, size_t tensor)
{
    const oi_tensor *t = oi_model_tensor(model, tensor);
    if (!oi_dtype_is_float(t->dtype) || t->n_elems == 0 || t->n_elems > STORED_MAX)
        return unit;
    oi_error err = {0};
    float *v = oi_model_read_floats(model, t, &err);
    if (!v)
        return unit;
    double s1 = 0, s2 = 0;
    for (uint64_t i = 0; i < t->n_elems; i++) {
        s1 += v[i];
        s2 += (double)v[i] * v[i];
    }
    free(v);
    /* a constant is the same at every position: its spread is between channels */
    return (oi_moment){s1 / (double)t->n_elems, s2 / (double)t->n_elems, s2 / (double)t->n_elems};
}

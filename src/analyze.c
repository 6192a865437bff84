/* Roles, layouts and fans: each constant followed to the layer that uses it. */
#include "analyze_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

struct oi_analysis {
    oi_weight *items;
    size_t n;
};

/* A place a constant reaches: node + slot, with the layout seen there. */
typedef struct {
    size_t node, slot;
    int rank;
    int64_t dims[OI_MAX_RANK];
    char via[64];
} reach;

#define MAX_REACH 32

/* ---- small helpers ---- */

int oi_op_is(const Onnx__NodeProto *n, const char *op)
{
    return n->op_type && strcmp(n->op_type, op) == 0;
}

const Onnx__AttributeProto *oi_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t oi_attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = oi_attr(n, name);
    return a && a->has_i ? a->i : dflt;
}

double oi_attr_float(const Onnx__NodeProto *n, const char *name, double dflt)
{
    const Onnx__AttributeProto *a = oi_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

int oi_dtype_is_float(int32_t dtype)
{
    return dtype == DT(FLOAT) || dtype == DT(FLOAT16) || dtype == DT(BFLOAT16) ||
           dtype == DT(DOUBLE);
}

int oi_is_const(const oi_actx *x, long value)
{
    return value >= 0 && oi_graph_value(x->graph, (size_t)value)->tensor >= 0;
}

static double half_to_double(uint16_t h, int bf16)
{
    if (bf16) {
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

int oi_const_values(const oi_actx *x, long value, double *out, size_t max, size_t *n)
{
    if (!oi_is_const(x, value))
        return -1;
    oi_tensor *t = oi_model_tensor(x->model, (size_t)oi_graph_value(x->graph, (size_t)value)->tensor);
    if (t->n_elems > max || t->storage == OI_STORE_NONE || !t->elem_size)
        return -1;
    uint8_t buf[8 * 64];
    if (t->n_bytes > sizeof buf || oi_model_read(x->model, t, buf, NULL))
        return -1;
    for (size_t i = 0; i < t->n_elems; i++) {
        const uint8_t *p = buf + i * t->elem_size;
        float f; double d; int32_t i32; int64_t i64; uint16_t h;
        switch (t->dtype) {
        case DT(FLOAT): memcpy(&f, p, 4); out[i] = f; break;
        case DT(DOUBLE): memcpy(&d, p, 8); out[i] = d; break;
        case DT(INT32): memcpy(&i32, p, 4); out[i] = i32; break;
        case DT(INT64): memcpy(&i64, p, 8); out[i] = (double)i64; break;
        case DT(FLOAT16): case DT(BFLOAT16):
            memcpy(&h, p, 2);
            out[i] = half_to_double(h, t->dtype == DT(BFLOAT16));
            break;
        default: return -1;
        }
    }
    *n = (size_t)t->n_elems;
    return 0;
}

static void append_via(char *via, size_t size, const char *op)
{
    size_t len = strlen(via);
    snprintf(via + len, size - len, "%s%s", len ? ">" : "", op);
}

/* ---- layout through shape ops ---- */

static int transpose_dims(const Onnx__NodeProto *n, reach *r)
{
    const Onnx__AttributeProto *perm = oi_attr(n, "perm");
    int64_t d[OI_MAX_RANK];
    for (int i = 0; i < r->rank; i++) {
        int64_t p = perm ? (i < (int)perm->n_ints ? perm->ints[i] : -1) : r->rank - 1 - i;
        if (p < 0 || p >= r->rank)
            return -1;
        d[i] = r->dims[p];
    }
    memcpy(r->dims, d, sizeof d);
    return 0;
}

static int reshape_dims(const oi_actx *x, size_t node, reach *r)
{
    double shape[OI_MAX_RANK];
    size_t n;
    if (oi_const_values(x, oi_graph_input_value(x->graph, node, 1), shape, OI_MAX_RANK, &n))
        return -1;
    int64_t total = 1, known = 1, d[OI_MAX_RANK];
    int minus = -1;
    for (int i = 0; i < r->rank; i++)
        total *= r->dims[i];
    for (size_t i = 0; i < n; i++) {
        d[i] = (int64_t)shape[i];
        if (d[i] == 0 && (int)i < r->rank)
            d[i] = r->dims[i];
        if (d[i] == -1)
            minus = (int)i;
        else if (d[i] > 0)
            known *= d[i];
        else
            return -1;
    }
    if (minus >= 0)
        d[minus] = known ? total / known : 0;
    r->rank = (int)n;
    memcpy(r->dims, d, n * sizeof *d);
    return 0;
}

static int squeeze_dims(const oi_actx *x, size_t node, reach *r, int unsqueeze)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    double axes[OI_MAX_RANK];
    size_t na = 0;
    const Onnx__AttributeProto *a = oi_attr(n, "axes");
    if (a) {
        for (size_t i = 0; i < a->n_ints && i < OI_MAX_RANK; i++)
            axes[na++] = (double)a->ints[i];
    } else if (n->n_input > 1 &&
               oi_const_values(x, oi_graph_input_value(x->graph, node, 1), axes, OI_MAX_RANK, &na)) {
        return -1;
    }
    int64_t d[OI_MAX_RANK];
    int out_rank = unsqueeze ? r->rank + (int)na : 0;
    if (unsqueeze) {
        if (out_rank > OI_MAX_RANK)
            return -1;
        int flags[OI_MAX_RANK] = {0};
        for (size_t i = 0; i < na; i++) {
            int ax = (int)axes[i] < 0 ? (int)axes[i] + out_rank : (int)axes[i];
            if (ax < 0 || ax >= out_rank)
                return -1;
            flags[ax] = 1;
        }
        for (int i = 0, k = 0; i < out_rank; i++)
            d[i] = flags[i] ? 1 : r->dims[k++];
    } else {
        for (int i = 0; i < r->rank; i++) {
            int drop = na == 0 && r->dims[i] == 1;
            for (size_t k = 0; k < na; k++)
                drop |= ((int)axes[k] < 0 ? (int)axes[k] + r->rank : (int)axes[k]) == i;
            if (!drop)
                d[out_rank++] = r->dims[i];
        }
    }
    r->rank = out_rank;
    memcpy(r->dims, d, (size_t)out_rank * sizeof *d);
    return 0;
}

static int flatten_dims(const Onnx__NodeProto *n, reach *r)
{
    int64_t axis = oi_attr_int(n, "axis", 1);
    if (axis < 0)
        axis += r->rank;
    int64_t a = 1, b = 1;
    for (int i = 0; i < r->rank; i++)
        *(i < axis ? &a : &b) *= r->dims[i];
    r->rank = 2;
    r->dims[0] = a;
    r->dims[1] = b;
    return 0;
}

/* Follow a constant's value to the nodes using it, through layout-only ops. */
static void follow(const oi_actx *x, long value, reach cur, reach *out, size_t *n_out, int depth)
{
    const oi_value *v = oi_graph_value(x->graph, (size_t)value);
    for (size_t u = 0; u < v->n_uses && *n_out < MAX_REACH; u++) {
        size_t node = v->uses[u].node, slot = v->uses[u].slot;
        const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
        reach r = cur;
        r.node = node;
        r.slot = slot;
        int shape_op = slot == 0 && depth < 6 &&
                       (oi_op_is(n, "Identity") || oi_op_is(n, "Cast") || oi_op_is(n, "Transpose") ||
                        oi_op_is(n, "Reshape") || oi_op_is(n, "Squeeze") ||
                        oi_op_is(n, "Unsqueeze") || oi_op_is(n, "Flatten"));
        long next = shape_op ? oi_graph_output_value(x->graph, node, 0) : -1;
        if (next < 0) {
            out[(*n_out)++] = r;
            continue;
        }
        int ok = 0;
        if (r.rank >= 0) {
            if (oi_op_is(n, "Transpose"))
                ok = transpose_dims(n, &r);
            else if (oi_op_is(n, "Reshape"))
                ok = reshape_dims(x, node, &r);
            else if (oi_op_is(n, "Squeeze") || oi_op_is(n, "Unsqueeze"))
                ok = squeeze_dims(x, node, &r, oi_op_is(n, "Unsqueeze"));
            else if (oi_op_is(n, "Flatten"))
                ok = flatten_dims(n, &r);
        }
        if (ok)
            r.rank = -1;   /* layout unknown past this op */
        append_via(r.via, sizeof r.via, n->op_type);
        follow(x, next, r, out, n_out, depth + 1);
    }
}

/* ---- per tensor ---- */

static int by_node_order(const void *a, const void *b)
{
    const reach *x = a, *y = b;
    return x->node < y->node ? -1 : x->node > y->node;
}

static void note_tied(oi_weight *w, const oi_actx *x, const reach *r, size_t n, size_t first)
{
    size_t others = 0, example = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == first || r[i].node == r[first].node)
            continue;
        oi_weight probe = *w;
        probe.rank = r[i].rank;
        memcpy(probe.dims, r[i].dims, sizeof probe.dims);
        if (oi_classify_use(x, r[i].node, r[i].slot, &probe) && !others++)
            example = i;
    }
    if (others) {
        const Onnx__NodeProto *e = oi_graph_node(x->graph, r[example].node)->proto;
        snprintf(w->note, sizeof w->note, "tied: also used by %zu other layer%s (%s '%s'); "
                 "role from the first use", others, others > 1 ? "s" : "", e->op_type,
                 e->name ? e->name : "");
    }
}

static void analyze_tensor(const oi_actx *x, size_t ti, oi_weight *w)
{
    const oi_tensor *t = oi_model_tensor(x->model, ti);
    memset(w, 0, sizeof *w);
    w->op = w->layer = "";
    w->gates = 1;
    w->gain = 1.0;
    long value = oi_graph_tensor_value(x->graph, ti);
    if (value < 0) {
        snprintf(w->reason, sizeof w->reason, "tensor attribute of a node, not a weight");
        return;
    }
    reach start = {.rank = (int)t->proto->n_dims};
    if (t->proto->n_dims > OI_MAX_RANK)
        start.rank = -1;
    for (int i = 0; i < start.rank; i++)
        start.dims[i] = t->proto->dims[i];
    reach r[MAX_REACH];
    size_t n = 0;
    follow(x, value, start, r, &n, 0);
    qsort(r, n, sizeof *r, by_node_order);
    if (n == 0) {
        snprintf(w->reason, sizeof w->reason, "not used by any node");
        return;
    }
    int is_float = oi_dtype_is_float(t->dtype);
    for (size_t i = 0; i < n; i++) {
        w->rank = r[i].rank;
        memcpy(w->dims, r[i].dims, sizeof w->dims);
        snprintf(w->via, sizeof w->via, "%s", r[i].via);
        if (is_float && start.rank > 0 && oi_classify_use(x, r[i].node, r[i].slot, w)) {
            note_tied(w, x, r, n, i);
            return;
        }
        const Onnx__NodeProto *node = oi_graph_node(x->graph, r[i].node)->proto;
        if (!is_float && oi_op_is(node, "DequantizeLinear"))
            break;
    }
    /* Not a weight anywhere: say why, from its first use. */
    w->role = OI_ROLE_NONE;
    w->via[0] = '\0';
    const Onnx__NodeProto *first = oi_graph_node(x->graph, r[0].node)->proto;
    if (!is_float && oi_op_is(first, "DequantizeLinear"))
        snprintf(w->reason, sizeof w->reason, "%s", r[0].slot == 0
                 ? "quantized weight (DequantizeLinear), left as is"
                 : "quantization scale/zero-point, left as is");
    else if (!is_float)
        snprintf(w->reason, sizeof w->reason, "%s tensor, not a float weight",
                 oi_dtype_name(t->dtype));
    else if (start.rank == 0)
        snprintf(w->reason, sizeof w->reason, "scalar used by %s", first->op_type);
    else if (!w->reason[0])
        snprintf(w->reason, sizeof w->reason, "used by %s input %zu, not a weight slot",
                 first->op_type, r[0].slot);
}

oi_status oi_analyze(oi_model *model, const oi_graph *graph, oi_analysis **out, oi_error *err)
{
    *out = NULL;
    oi_analysis *a = calloc(1, sizeof *a);
    size_t n = oi_model_tensor_count(model);
    if (a)
        a->items = calloc(n ? n : 1, sizeof *a->items);
    if (!a || !a->items) {
        free(a);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    }
    a->n = n;
    oi_actx x = {.model = model, .graph = graph};
    for (size_t i = 0; i < n; i++)
        analyze_tensor(&x, i, &a->items[i]);
    *out = a;
    return OI_OK;
}

void oi_analysis_free(oi_analysis *a)
{
    if (a) {
        free(a->items);
        free(a);
    }
}

const oi_weight *oi_analysis_get(const oi_analysis *a, size_t i)
{
    return i < a->n ? &a->items[i] : NULL;
}

const char *oi_role_name(oi_role r)
{
    static const char *const names[] = {
        "none", "weight", "bias", "rnn_W", "rnn_R", "rnn_B", "rnn_P", "norm_scale",
        "norm_bias", "norm_mean", "norm_var", "embedding", "prelu_slope",
    };
    return (size_t)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

const char *oi_act_name(oi_act a)
{
    static const char *const names[] = {
        "linear", "relu", "relu6", "leaky_relu", "prelu", "elu", "celu", "gelu", "silu",
        "hardswish", "mish", "softplus", "selu", "tanh", "sigmoid", "hardsigmoid", "softsign",
    };
    return (size_t)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

double oi_act_gain(oi_act a, double param)
{
    switch (a) {
    case OI_ACT_TANH: return 5.0 / 3.0;
    case OI_ACT_SELU: return 0.75;
    case OI_ACT_LEAKY_RELU: case OI_ACT_PRELU: return sqrt(2.0 / (1.0 + param * param));
    case OI_ACT_RELU: case OI_ACT_RELU6: case OI_ACT_ELU: case OI_ACT_CELU: case OI_ACT_GELU:
    case OI_ACT_SILU: case OI_ACT_HARDSWISH: case OI_ACT_MISH: case OI_ACT_SOFTPLUS:
        return sqrt(2.0);
    default: return 1.0;
    }
}

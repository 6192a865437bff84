/* Small vectors read as numbers: a constant's values, or arithmetic the
 * exporter left unfolded on constants and their shapes.  torch without
 * constant folding slices a packed bias at Shape(b)/3 * k; a Slice's bounds
 * are only known once that is evaluated.  Below layout.c and roles.c. */
#include "analyze/analyze_internal.h"

#include <math.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x
#define FOLD_MAX 64     /* numbers per vector: shapes, indices, bounds */
#define FOLD_NODES 48   /* nodes evaluated per question: a hostile graph stays cheap */

typedef struct {
    double v[FOLD_MAX];
    size_t n;
    int is_int;
} vec;

typedef struct {
    const oi_actx *x;
    int budget;
} folder;

static int fold(folder *f, long value, vec *out);

static int is_int_type(int64_t dtype)
{
    return dtype == DT(INT8) || dtype == DT(INT16) || dtype == DT(INT32) || dtype == DT(INT64) ||
           dtype == DT(UINT8) || dtype == DT(UINT16) || dtype == DT(UINT32) ||
           dtype == DT(UINT64) || dtype == DT(BOOL);
}

static int read_constant(const oi_actx *x, long value, vec *out)
{
    oi_tensor *t = oi_model_tensor(x->model, (size_t)oi_graph_value(x->graph, (size_t)value)->tensor);
    if (t->n_elems > FOLD_MAX || t->storage == OI_STORE_NONE || !t->elem_size)
        return -1;
    uint8_t buf[8 * FOLD_MAX];
    if (t->n_bytes > sizeof buf || oi_model_read(x->model, t, buf, NULL))
        return -1;
    for (size_t i = 0; i < t->n_elems; i++) {
        const uint8_t *p = buf + i * t->elem_size;
        float fl; double d; int32_t i32; int64_t i64; uint16_t h;
        switch (t->dtype) {
        case DT(FLOAT): memcpy(&fl, p, 4); out->v[i] = fl; break;
        case DT(DOUBLE): memcpy(&d, p, 8); out->v[i] = d; break;
        case DT(INT32): memcpy(&i32, p, 4); out->v[i] = i32; break;
        case DT(INT64): memcpy(&i64, p, 8); out->v[i] = (double)i64; break;
        case DT(FLOAT16): case DT(BFLOAT16):
            memcpy(&h, p, 2);
            out->v[i] = t->dtype == DT(BFLOAT16) ? oi_bf16_to_f32(h) : oi_f16_to_f32(h);
            break;
        default: return -1;
        }
    }
    out->n = (size_t)t->n_elems;
    out->is_int = is_int_type(t->dtype);
    return 0;
}

/* ---- one evaluator per op, looked up in the table below ---- */

typedef int (*fold_fn)(folder *f, size_t node, const Onnx__NodeProto *n, vec *out);

static long input(const folder *f, size_t node, size_t slot)
{
    return oi_graph_input_value(f->x->graph, node, slot);
}

/* The values pass unchanged (flat order is all a 1-D question needs). */
static int fold_same(folder *f, size_t node, const Onnx__NodeProto *n, vec *out)
{
    (void)n;
    return fold(f, input(f, node, 0), out);
}

static int fold_cast(folder *f, size_t node, const Onnx__NodeProto *n, vec *out)
{
    if (fold(f, input(f, node, 0), out))
        return -1;
    out->is_int = is_int_type(oi_attr_int(n, "to", 0));
    for (size_t i = 0; out->is_int && i < out->n; i++)
        out->v[i] = trunc(out->v[i]);
    return 0;
}

/* Shape of a constant (or of its dequantized or cast values): its declared
 * dims (opset 15's start/end respected). */
static int fold_shape(folder *f, size_t node, const Onnx__NodeProto *n, vec *out)
{
    long v = input(f, node, 0);
    for (int hop = 0; hop < 4 && v >= 0 && !oi_is_const(f->x, v); hop++) {
        long p = oi_graph_value(f->x->graph, (size_t)v)->producer;
        const Onnx__NodeProto *pn = p >= 0 ? oi_graph_node(f->x->graph, (size_t)p)->proto : NULL;
        if (!pn || !(oi_op_is(pn, "DequantizeLinear") || oi_op_is(pn, "Cast") ||
                     oi_op_is(pn, "Identity")))
            return -1;
        v = input(f, (size_t)p, 0);
    }
    if (!oi_is_const(f->x, v))
        return -1;
    const oi_tensor *t = oi_model_tensor(f->x->model, (size_t)oi_graph_value(f->x->graph, (size_t)v)->tensor);
    int64_t rank = (int64_t)t->proto->n_dims;
    int64_t lo = oi_attr_int(n, "start", 0), hi = oi_attr_int(n, "end", rank);
    lo = lo < 0 ? lo + rank : lo;
    hi = hi < 0 ? hi + rank : hi;
    lo = lo < 0 ? 0 : lo > rank ? rank : lo;
    hi = hi < lo ? lo : hi > rank ? rank : hi;
    if (hi - lo > FOLD_MAX)
        return -1;
    out->n = 0;
    out->is_int = 1;
    for (int64_t i = lo; i < hi; i++)
        out->v[out->n++] = (double)t->proto->dims[i];
    return 0;
}

/* Gather on axis 0 of a vector: the one form shape arithmetic uses. */
static int fold_gather(folder *f, size_t node, const Onnx__NodeProto *n, vec *out)
{
    vec data, idx;
    if (oi_attr_int(n, "axis", 0) != 0 || fold(f, input(f, node, 0), &data) ||
        fold(f, input(f, node, 1), &idx))
        return -1;
    for (size_t i = 0; i < idx.n; i++) {
        double k = idx.v[i] < 0 ? idx.v[i] + (double)data.n : idx.v[i];
        if (!(k >= 0 && k < (double)data.n) || k != floor(k))
            return -1;
        out->v[i] = data.v[(size_t)k];
    }
    out->n = idx.n;
    out->is_int = data.is_int;
    return 0;
}

static int fold_arith(folder *f, size_t node, const Onnx__NodeProto *n, vec *out)
{
    vec a, b;
    if (fold(f, input(f, node, 0), &a) || fold(f, input(f, node, 1), &b))
        return -1;
    if (a.n != b.n && a.n != 1 && b.n != 1)
        return -1;
    char op = oi_op_is(n, "Add") ? '+' : oi_op_is(n, "Sub") ? '-' : oi_op_is(n, "Mul") ? '*' : '/';
    out->n = a.n > b.n ? a.n : b.n;
    out->is_int = a.is_int && b.is_int;
    for (size_t i = 0; i < out->n; i++) {
        double p = a.v[a.n == 1 ? 0 : i], q = b.v[b.n == 1 ? 0 : i];
        if (op == '/' && q == 0)
            return -1;
        double r = op == '+' ? p + q : op == '-' ? p - q : op == '*' ? p * q : p / q;
        out->v[i] = out->is_int && op == '/' ? trunc(r) : r;   /* integer Div truncates */
    }
    return 0;
}

static int fold_concat(folder *f, size_t node, const Onnx__NodeProto *n, vec *out)
{
    out->n = 0;
    out->is_int = 1;
    for (size_t i = 0; i < n->n_input; i++) {
        vec part;
        if (fold(f, input(f, node, i), &part) || out->n + part.n > FOLD_MAX)
            return -1;
        memcpy(out->v + out->n, part.v, part.n * sizeof *part.v);
        out->n += part.n;
        out->is_int &= part.is_int;
    }
    return n->n_input ? 0 : -1;
}

static const struct {
    const char *op;
    fold_fn eval;
} fold_table[] = {
    {"Identity", fold_same}, {"Squeeze", fold_same}, {"Unsqueeze", fold_same},
    {"Reshape", fold_same}, {"Flatten", fold_same}, {"Cast", fold_cast},
    {"Shape", fold_shape}, {"Gather", fold_gather}, {"Concat", fold_concat},
    {"Add", fold_arith}, {"Sub", fold_arith}, {"Mul", fold_arith}, {"Div", fold_arith},
};

static int fold(folder *f, long value, vec *out)
{
    if (value < 0)
        return -1;
    if (oi_is_const(f->x, value))
        return read_constant(f->x, value, out);
    long p = oi_graph_value(f->x->graph, (size_t)value)->producer;
    if (p < 0 || f->budget-- <= 0)
        return -1;
    const Onnx__NodeProto *n = oi_graph_node(f->x->graph, (size_t)p)->proto;
    for (size_t i = 0; i < sizeof fold_table / sizeof *fold_table; i++)
        if (oi_op_is(n, fold_table[i].op))
            return fold_table[i].eval(f, (size_t)p, n, out);
    return -1;
}

int oi_const_values(const oi_actx *x, long value, double *out, size_t max, size_t *n)
{
    folder f = {.x = x, .budget = FOLD_NODES};
    vec v;
    if (fold(&f, value, &v) || v.n > max)
        return -1;
    memcpy(out, v.v, v.n * sizeof *v.v);
    *n = v.n;
    return 0;
}

/* Quantized weights: which scale and zero point belong to each, at what
 * granularity (per tensor, per axis, per block), whether the zero point sits
 * at the centre, and whether they are the weight's own to refit.  The weight
 * itself was classified as its float layer's (fans, activation) by the role
 * table, reached through DequantizeLinear or an integer layer's slot. */
#include "analyze/analyze_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

static const struct { const char *op; oi_quant_form form; } integer_layers[] = {
    {"ConvInteger", OI_QUANT_INTEGER}, {"MatMulInteger", OI_QUANT_INTEGER},
    {"QLinearConv", OI_QUANT_QLINEAR}, {"QLinearMatMul", OI_QUANT_QLINEAR},
    {"MatMulNBits", OI_QUANT_NBITS},
};

oi_quant_form oi_quant_form_of(const Onnx__NodeProto *n)
{
    for (size_t i = 0; i < sizeof integer_layers / sizeof *integer_layers; i++)
        if (oi_op_is(n, integer_layers[i].op))
            return integer_layers[i].form;
    return OI_QUANT_NONE;
}

const char *oi_quant_form_name(oi_quant_form f)
{
    static const char *const names[] = {"", "QDQ", "integer", "QLinear", "MatMulNBits"};
    return (size_t)f < sizeof names / sizeof *names ? names[f] : "?";
}

void oi_quant_granularity(const oi_quant *q, char *out, size_t size)
{
    if (q->axis < 0)
        snprintf(out, size, "per-tensor");
    else if (q->block > 0)
        snprintf(out, size, "blocks of %lld (axis %d)", (long long)q->block, q->axis);
    else
        snprintf(out, size, "per-channel (axis %d)", q->axis);
}

uint64_t oi_quant_groups(const oi_quant *q)
{
    if (q->axis < 0)
        return 1;
    if (q->block > 0)
        return (uint64_t)(q->outer * ((q->len + q->block - 1) / q->block) * q->inner);
    return (uint64_t)q->len;
}

uint64_t oi_quant_group_of(const oi_quant *q, uint64_t i)
{
    if (q->axis < 0)
        return 0;
    uint64_t inner = (uint64_t)q->inner, len = (uint64_t)q->len;
    uint64_t a = i / inner % len;
    if (q->block <= 0)
        return a;
    uint64_t o = i / (inner * len), nb = (len + (uint64_t)q->block - 1) / (uint64_t)q->block;
    return (o * nb + a / (uint64_t)q->block) * inner + i % inner;
}

uint64_t oi_quant_zero_index(const oi_quant *q, uint64_t g)
{
    if (q->form != OI_QUANT_NBITS || q->zero_row <= 0)
        return g;
    uint64_t nb = (uint64_t)(q->len / q->block);
    return g / nb * (uint64_t)q->zero_row + g % nb;
}

int64_t oi_quant_centre(int32_t codes)
{
    int64_t lo, hi;
    oi_dtype_int_range(codes, &lo, &hi);
    return lo < 0 ? 0 : (hi + 1) / 2;
}

/* The catalogue index of a constant input, or -1. */
static long input_tensor(const oi_actx *x, size_t node, size_t slot)
{
    long v = oi_graph_input_value(x->graph, node, slot);
    return v >= 0 ? oi_graph_value(x->graph, (size_t)v)->tensor : -1;
}

static size_t uses_of_tensor(const oi_actx *x, long t)
{
    long v = oi_graph_tensor_value(x->graph, (size_t)t);
    return v >= 0 ? oi_graph_value(x->graph, (size_t)v)->n_uses : 0;
}

static int fail(oi_weight *w, const char *why)
{
    w->role = OI_ROLE_NONE;
    w->quant.form = OI_QUANT_NONE;
    snprintf(w->reason, sizeof w->reason, "quantized weight: %s; kept", why);
    return -1;
}

/* Stored layout around `axis` (-1: per tensor) with `scales` scale values. */
static int set_geometry(oi_quant *q, const oi_tensor *t, int axis, int64_t block, uint64_t scales)
{
    const Onnx__TensorProto *p = t->proto;
    int r = (int)p->n_dims;
    q->outer = q->inner = 1;
    q->len = (int64_t)t->n_elems;
    q->axis = -1;
    q->block = 0;
    if (scales == 1 && block == 0)
        return 0;
    if (axis < 0)
        axis += r;
    if (axis < 0 || axis >= r || p->dims[axis] <= 0)
        return -1;
    q->axis = axis;
    q->block = block > 0 ? block : 0;
    q->len = p->dims[axis];
    for (int i = 0; i < axis; i++)
        q->outer *= p->dims[i];
    for (int i = axis + 1; i < r; i++)
        q->inner *= p->dims[i];
    return oi_quant_groups(q) == scales ? 0 : -1;
}

/* Does the zero-point tensor hold one code of the weight's type per group? */
static int zero_fits(const oi_quant *q, const oi_tensor *z)
{
    return q->form == OI_QUANT_NBITS   /* checked by nbits(): packed codes per row */
           || (z->dtype == q->codes && z->n_elems == oi_quant_groups(q) && oi_tensor_sized(z));
}

/* Is every group's zero point at the centre of the code range? */
static int zero_centred(oi_model *m, const oi_quant *q, const oi_tensor *z)
{
    int64_t centre = oi_quant_centre(q->codes);
    if (!z)
        return centre == 0 || q->form == OI_QUANT_NBITS;   /* absent: 0 (NBITS: 2^(b-1)) */
    if (oi_dtype_is_float8(z->dtype))
        return 1;   /* float8 zero points are 0 by definition */
    if (z->n_bytes > (1u << 26) || z->storage == OI_STORE_NONE)
        return 0;
    uint8_t *buf = malloc(z->n_bytes ? z->n_bytes : 1);
    int yes = buf && oi_model_read(m, z, buf, NULL) == OI_OK;
    for (uint64_t g = 0; yes && g < oi_quant_groups(q); g++)
        yes = oi_code_get(q->codes, buf, oi_quant_zero_index(q, g)) == centre;
    free(buf);
    return yes;
}

static int qdq(const oi_actx *x, const oi_tensor *t, oi_weight *w)
{
    oi_quant *q = &w->quant;
    const Onnx__NodeProto *n = oi_graph_node(x->graph, q->node)->proto;
    q->scale = input_tensor(x, q->node, 1);
    q->zero = n->n_input > 2 ? input_tensor(x, q->node, 2) : -1;
    if (q->scale < 0)
        return fail(w, "its scale is computed, not a constant");
    const oi_tensor *s = oi_model_tensor(x->model, (size_t)q->scale);
    if (set_geometry(q, t, (int)oi_attr_int(n, "axis", 1), oi_attr_int(n, "block_size", 0),
                     s->n_elems))
        return fail(w, "the scale's shape does not fit the weight's axis or blocks");
    return 0;
}

/* The output channel axis of an integer / QLinear layer's weight (Conv: 0; MatMul: last). */
static int channel_axis(const Onnx__NodeProto *n, const oi_tensor *t)
{
    return strstr(n->op_type, "Conv") ? 0 : (int)t->proto->n_dims - 1;
}

/* The rescale Mul after Cast(ConvInteger|MatMulInteger): its constant weight scale. */
static long integer_scale(const oi_actx *x, size_t layer)
{
    long out = oi_graph_output_value(x->graph, layer, 0);
    const oi_value *v = out >= 0 ? oi_graph_value(x->graph, (size_t)out) : NULL;
    for (size_t u = 0; v && u < v->n_uses; u++) {
        size_t cast = v->uses[u].node;
        long cv = oi_graph_output_value(x->graph, cast, 0);
        if (!oi_op_is(oi_graph_node(x->graph, cast)->proto, "Cast") || cv < 0)
            continue;
        const oi_value *c = oi_graph_value(x->graph, (size_t)cv);
        for (size_t k = 0; k < c->n_uses; k++) {
            long ws, mul_out = oi_graph_output_value(x->graph, c->uses[k].node, 0);
            if (mul_out >= 0 && oi_rescaled_integer(x, mul_out, &ws) == (long)layer && ws >= 0)
                return oi_graph_value(x->graph, (size_t)ws)->tensor;
        }
    }
    return -1;
}

static int integer_layer(const oi_actx *x, const oi_tensor *t, oi_weight *w)
{
    oi_quant *q = &w->quant;
    const Onnx__NodeProto *n = oi_graph_node(x->graph, q->node)->proto;
    int qlinear = q->form == OI_QUANT_QLINEAR;
    if (qlinear && w->role == OI_ROLE_BIAS) {   /* int32 bias: scale = input's x weight's */
        q->weight = input_tensor(x, q->node, 3);
        q->in_scale = input_tensor(x, q->node, 1);
        const oi_tensor *in = q->in_scale >= 0 ? oi_model_tensor(x->model, (size_t)q->in_scale)
                                               : NULL;
        return q->weight >= 0 && in && in->n_elems == 1 && oi_dtype_is_float(in->dtype) ? 0
               : fail(w, "the layer's weight or input scale is not a constant");
    }
    q->scale = qlinear ? input_tensor(x, q->node, 4) : integer_scale(x, q->node);
    size_t zslot = qlinear ? 5 : 3;
    q->zero = n->n_input > zslot ? input_tensor(x, q->node, zslot) : -1;
    if (q->scale < 0)
        return fail(w, qlinear ? "its scale is computed, not a constant"
                               : "no separate constant weight scale in the rescale after it");
    const oi_tensor *s = oi_model_tensor(x->model, (size_t)q->scale);
    if (set_geometry(q, t, channel_axis(n, t), 0, s->n_elems))
        return fail(w, "the scale's shape does not fit the weight's channels");
    return 0;
}

static int nbits(const oi_actx *x, const oi_tensor *t, oi_weight *w)
{
    oi_quant *q = &w->quant;
    const Onnx__NodeProto *n = oi_graph_node(x->graph, q->node)->proto;
    int64_t k = oi_attr_int(n, "K", 0), nn = oi_attr_int(n, "N", 0);
    int64_t bits = oi_attr_int(n, "bits", 4), bs = oi_attr_int(n, "block_size", 0);
    const Onnx__TensorProto *p = t->proto;
    if ((bits != 4 && bits != 8) || bs <= 0 || bs > (1 << 20) || bs * bits % 8 ||
        k > (INT64_C(1) << 40) || nn > (INT64_C(1) << 40))
        return fail(w, "MatMulNBits bits or block_size not supported (4 or 8 bits)");
    int64_t nb = (k + bs - 1) / bs;
    if (p->n_dims != 3 || p->dims[0] != nn || p->dims[1] != nb || p->dims[2] != bs * bits / 8)
        return fail(w, "B's shape is not [N, blocks, block bytes]");
    q->codes = bits == 4 ? OI_DT_UINT4 : DT(UINT8);
    q->axis = 1;
    q->block = bs;
    q->outer = nn;
    q->len = nb * bs;
    q->inner = 1;
    q->valid = k;
    q->scale = input_tensor(x, q->node, 2);
    q->zero = n->n_input > 3 ? input_tensor(x, q->node, 3) : -1;
    q->zero_row = (nb * bits + 7) / 8 * 8 / bits;
    if (q->scale < 0 || oi_model_tensor(x->model, (size_t)q->scale)->n_elems != (uint64_t)(nn * nb))
        return fail(w, "scales are not one constant per block");
    if (q->zero >= 0) {
        const oi_tensor *z = oi_model_tensor(x->model, (size_t)q->zero);
        if (z->dtype != DT(UINT8) || z->n_elems * 8 != (uint64_t)(nn * q->zero_row * bits))
            return fail(w, "zero points are not packed codes per block (float ones are kept)");
    }
    return 0;
}

/* A companion tensor (scale / zero point) is the weight's own to rewrite. */
static int own_companion(const oi_actx *x, const oi_analysis *a, long c)
{
    return c >= 0 && uses_of_tensor(x, c) == 1 && a->items[c].role == OI_ROLE_NONE &&
           a->items[c].quant.weight < 0;
}

static void claim(oi_analysis *a, long c, size_t weight, oi_role role)
{
    oi_weight *cw = &a->items[c];
    const oi_weight *w = &a->items[weight];
    cw->role = role;
    cw->reason[0] = '\0';
    cw->op = w->op;
    cw->layer = w->layer;
    cw->layer_node = w->layer_node;
    cw->quant = w->quant;
    cw->quant.weight = (long)weight;
    memmove(cw->module, w->module, sizeof cw->module);
}

static void complete(const oi_actx *x, oi_analysis *a, size_t i)
{
    oi_weight *w = &a->items[i];
    const oi_tensor *t = oi_model_tensor(x->model, i);
    oi_quant *q = &w->quant;
    q->codes = t->dtype;
    int rc = q->form == OI_QUANT_QDQ ? qdq(x, t, w)
             : q->form == OI_QUANT_NBITS ? nbits(x, t, w) : integer_layer(x, t, w);
    if (rc || q->weight >= 0)
        return;   /* failed, or a QLinear bias (its scale follows the weight) */
    const oi_tensor *s = oi_model_tensor(x->model, (size_t)q->scale);
    const oi_tensor *z = q->zero >= 0 ? oi_model_tensor(x->model, (size_t)q->zero) : NULL;
    if (z && !zero_fits(q, z))
        return (void)fail(w, "its zero point's shape or type does not match its scale");
    q->symmetric = zero_centred(x->model, q, z);
    if (!q->symmetric && !z)
        return (void)fail(w, "unsigned codes with no zero point cannot hold signed weights");
    /* A bias's scale is the input's times the weight's: keep it, quantize with it. */
    q->keep_scale = w->role == OI_ROLE_BIAS || !oi_dtype_is_float(s->dtype) ||
                    !own_companion(x, a, q->scale) ||
                    (z && !q->symmetric && !own_companion(x, a, q->zero));
    if (q->keep_scale) {
        oi_weight *sw = &a->items[q->scale];
        if (sw->role == OI_ROLE_NONE && uses_of_tensor(x, q->scale) > 1)
            snprintf(sw->reason, sizeof sw->reason, "quantization scale shared by %zu uses: "
                     "kept, the weights quantize with it", uses_of_tensor(x, q->scale));
        return;
    }
    claim(a, q->scale, i, OI_ROLE_QSCALE);
    if (z && own_companion(x, a, q->zero))
        claim(a, q->zero, i, OI_ROLE_QZERO);
}

void oi_find_quant(const oi_actx *x, oi_analysis *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->items[i].quant.form != OI_QUANT_NONE && a->items[i].role != OI_ROLE_QSCALE &&
            a->items[i].role != OI_ROLE_QZERO)
            complete(x, a, i);
    for (size_t i = 0; i < a->n; i++) {   /* a QLinear bias: in its weight's scales */
        oi_weight *w = &a->items[i];
        if (w->role != OI_ROLE_BIAS || w->quant.weight < 0)
            continue;
        const oi_quant *wq = &a->items[w->quant.weight].quant;
        if (wq->form == OI_QUANT_NONE || a->items[w->quant.weight].role != OI_ROLE_WEIGHT) {
            fail(w, "its layer's weight is not a recognized quantized weight");
            continue;
        }
        oi_quant own = w->quant;
        w->quant = *wq;
        w->quant.weight = own.weight;
        w->quant.in_scale = own.in_scale;
        w->quant.node = own.node;
    }
}

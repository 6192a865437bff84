/* Quantized weights: which scale and zero point belong to each, at what
 * granularity (per tensor, per axis, per block), whether the zero point sits
 * at the centre, and whether they are the weight's own to refit.  The weight
 * itself was classified as its float layer's (fans, activation) by the role
 * table, reached through DequantizeLinear or an integer layer's slot. */
#include "analyze/analyze_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

static const struct { const char *op; oi_quant_form form; } packed_layers[] = {
    {"MatMulNBits", OI_QUANT_NBITS}, {"GatherBlockQuantized", OI_QUANT_GATHER},
};

oi_quant_form oi_quant_form_of(const Onnx__NodeProto *n)
{
    const oi_qlayer *l = oi_qlayer_of(n);
    if (l)
        return l->form;
    for (size_t i = 0; i < sizeof packed_layers / sizeof *packed_layers; i++)
        if (oi_op_is(n, packed_layers[i].op))
            return packed_layers[i].form;
    return OI_QUANT_NONE;
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

static int fail(const oi_actx *x, oi_weight *w, const char *why)
{
    w->role = OI_ROLE_NONE;
    if (w->quant != x->analysis->no_quant)   /* its other fields still name its companions */
        w->quant->form = OI_QUANT_NONE;
    w->reason = oi_arena_printf(x->arena, "quantized weight: %s; kept", why);
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
    q->len = p->dims[axis];
    q->block = block > 0 ? (block < q->len ? block : q->len) : 0;   /* a block past the row: one */
    for (int i = 0; i < axis; i++)
        q->outer *= p->dims[i];
    for (int i = axis + 1; i < r; i++)
        q->inner *= p->dims[i];
    return oi_quant_groups(q) == scales ? 0 : -1;
}

/* Does the zero-point tensor hold one code of the weight's type per group? */
static int zero_fits(const oi_quant *q, const oi_tensor *z)
{
    return q->packed   /* checked by nbits() / gather_block(): packed codes per row */
           || (z->dtype == q->codes && z->n_elems == oi_quant_groups(q) && oi_tensor_sized(z));
}

/* Is every group's zero point at the centre of the code range? */
static int zero_centred(oi_model *m, const oi_quant *q, const oi_tensor *z)
{
    int64_t centre = oi_quant_centre(q->codes);
    if (!z)
        return centre == 0 || q->packed;   /* absent: 0 (packed: 2^(b-1)) */
    if (oi_dtype_is_float8(z->dtype))
        return 1;   /* float8 zero points are 0 by definition */
    if (q->zero_float) {
        float *f = z->n_elems <= (1u << 24) ? oi_model_read_floats(m, z, NULL) : NULL;
        int yes = f != NULL;
        for (uint64_t g = 0; yes && g < z->n_elems; g++)
            yes = f[g] == (float)centre;
        free(f);
        return yes;
    }
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
    oi_quant *q = w->quant;
    const Onnx__NodeProto *n = oi_graph_node(x->graph, q->node)->proto;
    q->scale = input_tensor(x, q->node, 1);
    q->zero = n->n_input > 2 ? input_tensor(x, q->node, 2) : -1;
    if (q->scale < 0)
        return fail(x, w, "its scale is computed, not a constant");
    const oi_tensor *s = oi_model_tensor(x->model, (size_t)q->scale);
    if (set_geometry(q, t, (int)oi_attr_int(n, "axis", 1), oi_attr_int(n, "block_size", 0),
                     s->n_elems))
        return fail(x, w, "the scale's shape does not fit the weight's axis or blocks");
    return 0;
}

/* The output channel axis of an integer / QLinear layer's weight (Conv: 0; MatMul: last). */
/* Output channels: Conv's first axis, a [K, N] matrix's last (Gemm's first with transB). */
static int channel_axis(const Onnx__NodeProto *n, const oi_qlayer *l, const oi_tensor *t)
{
    if (l->kind == OI_QW_CONV || (l->kind == OI_QW_GEMM && oi_attr_int(n, "transB", 0)))
        return 0;
    return (int)t->proto->n_dims - 1;
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
    oi_quant *q = w->quant;
    const Onnx__NodeProto *n = oi_graph_node(x->graph, q->node)->proto;
    const oi_qlayer *l = oi_qlayer_of(n);
    if (!l)
        return fail(x, w, "not a layer with a quantized weight");
    int qlinear = q->form == OI_QUANT_QLINEAR;
    if (qlinear && w->role == OI_ROLE_BIAS) {   /* int32 bias: scale = input's x weight's */
        q->weight = input_tensor(x, q->node, (size_t)l->weight);
        q->in_scale = input_tensor(x, q->node, 1);
        const oi_tensor *in = q->in_scale >= 0 ? oi_model_tensor(x->model, (size_t)q->in_scale)
                                               : NULL;
        return q->weight >= 0 && in && in->n_elems == 1 && oi_dtype_is_float(in->dtype) ? 0
               : fail(x, w, "the layer's weight or input scale is not a constant");
    }
    q->scale = l->scale >= 0 ? input_tensor(x, q->node, (size_t)l->scale)
                             : integer_scale(x, q->node);
    q->zero = n->n_input > (size_t)l->zero ? input_tensor(x, q->node, (size_t)l->zero) : -1;
    if (q->scale < 0)
        return fail(x, w, l->scale >= 0 ? "its scale is computed, not a constant"
                                     : "no separate constant weight scale in the rescale after it");
    const oi_tensor *s = oi_model_tensor(x->model, (size_t)q->scale);
    if (set_geometry(q, t, channel_axis(n, l, t), 0, s->n_elems))
        return fail(x, w, "the scale's shape does not fit the weight's channels");
    return 0;
}

/* Packed zero points: UINT8 bytes holding zero_row codes of `bits` per row. */
static int packed_zero_fits(const oi_actx *x, const oi_quant *q, int64_t bits)
{
    const oi_tensor *z = q->zero >= 0 ? oi_model_tensor(x->model, (size_t)q->zero) : NULL;
    return !z || (z->dtype == DT(UINT8) && oi_tensor_sized(z) &&
                  z->n_elems * 8 == (uint64_t)(q->outer * q->zero_row * bits));
}

/* MatMulNBits' zero points: packed codes, or floats of their own, one per block. */
static int nbits_zero(const oi_actx *x, oi_weight *w, int64_t bits)
{
    oi_quant *q = w->quant;
    const oi_tensor *z = q->zero >= 0 ? oi_model_tensor(x->model, (size_t)q->zero) : NULL;
    if (z && oi_dtype_is_float(z->dtype) && q->form == OI_QUANT_NBITS) {
        q->zero_float = 1;
        q->zero_row = 0;
        return z->n_elems == oi_quant_groups(q) && oi_tensor_sized(z)
                   ? 0 : fail(x, w, "float zero points are not one per block");
    }
    return packed_zero_fits(x, q, bits) ? 0 : fail(x, w, "zero points are not packed codes per block");
}

static int nbits(const oi_actx *x, const oi_tensor *t, oi_weight *w)
{
    oi_quant *q = w->quant;
    const Onnx__NodeProto *n = oi_graph_node(x->graph, q->node)->proto;
    int64_t k = oi_attr_int(n, "K", 0), nn = oi_attr_int(n, "N", 0);
    int64_t bits = oi_attr_int(n, "bits", 4), bs = oi_attr_int(n, "block_size", 0);
    const Onnx__TensorProto *p = t->proto;
    q->scale = input_tensor(x, q->node, 2);
    q->zero = n->n_input > 3 ? input_tensor(x, q->node, 3) : -1;
    if ((bits != 4 && bits != 8) || bs <= 0 || bs > (1 << 20) || bs * bits % 8 ||
        k > (INT64_C(1) << 40) || nn > (INT64_C(1) << 40))
        return fail(x, w, "MatMulNBits bits or block_size not supported (4 or 8 bits)");
    if (t->dtype != DT(UINT8))   /* the codes are packed into bytes: INT4/UINT4 would need twice */
        return fail(x, w, "MatMulNBits B is not stored as uint8 bytes");
    int64_t nb = (k + bs - 1) / bs;
    if (p->n_dims != 3 || p->dims[0] != nn || p->dims[1] != nb || p->dims[2] != bs * bits / 8)
        return fail(x, w, "B's shape is not [N, blocks, block bytes]");
    q->codes = bits == 4 ? OI_DT_UINT4 : DT(UINT8);
    q->packed = 1;
    q->axis = 1;
    q->block = bs;
    q->outer = nn;
    q->len = nb * bs;
    q->inner = 1;
    q->valid = k;
    q->zero_row = (nb * bits + 7) / 8 * 8 / bits;
    if (q->scale < 0 || oi_model_tensor(x->model, (size_t)q->scale)->n_elems != (uint64_t)(nn * nb))
        return fail(x, w, "scales are not one constant per block");
    return nbits_zero(x, w, bits);
}

/* GatherBlockQuantized on UINT8 bytes: 4 or 8 bit codes along the last axis,
 * MatMulNBits' conventions (zero points packed per row, 2^(bits-1) when absent). */
static int gather_bytes(const oi_actx *x, const oi_tensor *t, oi_weight *w, int64_t bits,
                        int64_t bs, uint64_t scales)
{
    oi_quant *q = w->quant;
    const Onnx__TensorProto *p = t->proto;
    int r = (int)p->n_dims;
    if (bits != 4 && bits != 8)
        return fail(x, w, "GatherBlockQuantized bits not supported (4 or 8)");
    q->codes = bits == 4 ? OI_DT_UINT4 : DT(UINT8);
    q->packed = 1;
    q->axis = r - 1;
    q->block = bs;
    q->len = p->dims[r - 1] * (8 / bits);
    q->valid = q->len;
    q->inner = 1;
    q->outer = r > 1 && p->dims[r - 1] > 0 ? (int64_t)(t->n_elems / (uint64_t)p->dims[r - 1]) : 1;
    int64_t nb = (q->len + bs - 1) / bs;
    q->zero_row = (nb * bits + 7) / 8 * 8 / bits;
    if (oi_quant_groups(q) != scales)
        return fail(x, w, "the scales' shape does not fit the table's blocks");
    w->dims[w->rank - 1] = q->len;   /* the table as the gather sees it */
    return nbits_zero(x, w, bits);
}

/* com.microsoft GatherBlockQuantized: an embedding table in blocks along
 * quantize_axis (int4 / uint4 codes as stored, or bytes of packed codes). */
static int gather_block(const oi_actx *x, const oi_tensor *t, oi_weight *w)
{
    oi_quant *q = w->quant;
    const Onnx__NodeProto *n = oi_graph_node(x->graph, q->node)->proto;
    int64_t bs = oi_attr_int(n, "block_size", 128), bits = oi_attr_int(n, "bits", 4);
    int64_t gaxis = oi_attr_int(n, "gather_axis", 0), qaxis = oi_attr_int(n, "quantize_axis", 1);
    int r = (int)t->proto->n_dims;
    q->scale = input_tensor(x, q->node, 2);
    q->zero = n->n_input > 3 ? input_tensor(x, q->node, 3) : -1;
    if (q->scale < 0)
        return fail(x, w, "its scale is computed, not a constant");
    uint64_t scales = oi_model_tensor(x->model, (size_t)q->scale)->n_elems;
    if (bs <= 0 || bs > (1 << 20) || r < 2 || gaxis != 0 || (qaxis + r) % r != r - 1)
        return fail(x, w, "GatherBlockQuantized layout not supported (gather_axis 0, blocks "
                       "along the last axis)");
    if (t->dtype == DT(UINT8))
        return gather_bytes(x, t, w, bits, bs, scales);
    if (t->dtype != OI_DT_INT4 && t->dtype != OI_DT_UINT4)
        return fail(x, w, "GatherBlockQuantized codes not supported (int4, uint4, uint8)");
    return set_geometry(q, t, r - 1, bs, scales)
               ? fail(x, w, "the scales' shape does not fit the table's blocks") : 0;
}

/* A companion tensor (scale / zero point) is the weight's own to rewrite. */
static int own_companion(const oi_actx *x, const oi_analysis *a, long c)
{
    return c >= 0 && uses_of_tensor(x, c) == 1 && a->items[c].role == OI_ROLE_NONE &&
           a->items[c].quant->weight < 0;
}

static void claim(const oi_actx *x, oi_analysis *a, long c, size_t weight, oi_role role)
{
    oi_weight *cw = &a->items[c];
    const oi_weight *w = &a->items[weight];
    oi_quant *q = oi_weight_quant(x, cw);
    if (!q)
        return;   /* (the arena is marked: the analysis fails) */
    cw->role = role;
    cw->reason = "";
    cw->op = w->op;
    cw->layer = w->layer;
    cw->layer_node = w->layer_node;
    *q = *w->quant;
    q->weight = (long)weight;
    cw->module = w->module;
}

/* A weight that stays as it is keeps its scale and zero point: say so on them. */
static void companions_kept(const oi_actx *x, oi_analysis *a, size_t i)
{
    const oi_quant *q = a->items[i].quant;
    long c[2] = {q->scale, q->zero};
    for (int k = 0; k < 2; k++) {
        oi_weight *cw = c[k] >= 0 ? &a->items[c[k]] : NULL;
        if (cw && cw->role == OI_ROLE_NONE)
            cw->reason = oi_arena_printf(x->arena, "%s of quantized weight '%.100s', which is kept",
                                        k ? "zero point" : "scale",
                                        oi_model_tensor(x->model, i)->name);
    }
}

/* Its layout and companions by form; then whether the zero point fits and sits
 * at the centre.  Nonzero: the weight is kept (w->reason says why). */
static int check(const oi_actx *x, const oi_tensor *t, oi_weight *w)
{
    oi_quant *q = w->quant;
    q->codes = t->dtype;
    int rc = q->form == OI_QUANT_QDQ ? qdq(x, t, w)
             : q->form == OI_QUANT_NBITS ? nbits(x, t, w)
             : q->form == OI_QUANT_GATHER ? gather_block(x, t, w) : integer_layer(x, t, w);
    if (rc || q->weight >= 0)
        return rc;   /* a QLinear bias: its scale follows the weight */
    const oi_tensor *z = q->zero >= 0 ? oi_model_tensor(x->model, (size_t)q->zero) : NULL;
    if (z && !zero_fits(q, z))
        return fail(x, w, "its zero point's shape or type does not match its scale");
    q->symmetric = zero_centred(x->model, q, z);
    if (!q->symmetric && !z)
        return fail(x, w, "unsigned codes with no zero point cannot hold signed weights");
    return 0;
}

/* Can new values be coded in these stored scales?  A kept scale of 0, 1e-45,
 * NaN, inf or 3e38 saturates every code or zeroes it. */
static int usable_scales(const oi_actx *x, const oi_quant *q)
{
    uint64_t g = oi_quant_groups(q);
    float *s = malloc((size_t)(g ? g : 1) * sizeof *s), *z = malloc((size_t)(g ? g : 1) * sizeof *z);
    int ok = s && z && oi_quant_read_params(x->model, q, s, z, NULL) == OI_OK;
    for (uint64_t k = 0; ok && k < g; k++)
        ok = isfinite(s[k]) && fabsf(s[k]) >= 1e-30f && fabsf(s[k]) <= 1e30f;
    free(s);
    free(z);
    return ok;
}

static void complete(const oi_actx *x, oi_analysis *a, size_t i)
{
    oi_weight *w = &a->items[i];
    oi_quant *q = w->quant;
    if (check(x, oi_model_tensor(x->model, i), w))
        return companions_kept(x, a, i);
    if (q->weight >= 0)
        return;
    const oi_tensor *s = oi_model_tensor(x->model, (size_t)q->scale);
    const oi_tensor *z = q->zero >= 0 ? oi_model_tensor(x->model, (size_t)q->zero) : NULL;
    /* A bias's scale is the input's times the weight's: keep it, quantize with it. */
    q->keep_scale = w->role == OI_ROLE_BIAS || !oi_dtype_is_float(s->dtype) ||
                    !own_companion(x, a, q->scale) ||
                    (z && !q->symmetric && !own_companion(x, a, q->zero));
    if (q->keep_scale && !usable_scales(x, q)) {
        fail(x, w, "its kept scale is zero, tiny, huge or not finite: new values cannot be coded in it");
        return companions_kept(x, a, i);
    }
    if (q->keep_scale) {
        oi_weight *sw = &a->items[q->scale];
        if (sw->role == OI_ROLE_NONE && uses_of_tensor(x, q->scale) > 1)
            sw->reason = oi_arena_printf(x->arena, "quantization scale shared by %zu uses: kept, the "
                                        "weights quantize with it", uses_of_tensor(x, q->scale));
        return;
    }
    claim(x, a, q->scale, i, OI_ROLE_QSCALE);
    if (z && own_companion(x, a, q->zero))
        claim(x, a, q->zero, i, OI_ROLE_QZERO);
}

void oi_find_quant(const oi_actx *x, oi_analysis *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->items[i].quant->form != OI_QUANT_NONE && a->items[i].role != OI_ROLE_QSCALE &&
            a->items[i].role != OI_ROLE_QZERO)
            complete(x, a, i);
    for (size_t i = 0; i < a->n; i++) {   /* a QLinear bias: in its weight's scales */
        oi_weight *w = &a->items[i];
        if (w->role != OI_ROLE_BIAS || w->quant->weight < 0)
            continue;
        const oi_quant *wq = a->items[w->quant->weight].quant;
        if (wq->form == OI_QUANT_NONE || a->items[w->quant->weight].role != OI_ROLE_WEIGHT) {
            fail(x, w, "its layer's weight is not a recognized quantized weight");
            continue;
        }
        if (oi_model_tensor(x->model, i)->dtype != DT(INT32)) {   /* its codes are 4 bytes each */
            fail(x, w, "a QLinearConv bias is int32 codes; this one is not");
            continue;
        }
        float *in = w->quant->in_scale >= 0 ? oi_const_floats(x, (size_t)w->quant->in_scale) : NULL;
        int in_ok = in && oi_model_tensor(x->model, (size_t)w->quant->in_scale)->n_elems == 1 &&
                    isfinite(in[0]) && in[0] >= 1e-30f && in[0] <= 1e30f;
        free(in);
        if (!in_ok) {   /* the bias's scale is input x weight: 0 makes every code INT32_MAX */
            fail(x, w, "its input's scale is not one usable number");
            continue;
        }
        oi_quant own = *w->quant, *q = oi_weight_quant(x, w);
        if (!q)
            continue;
        *q = *wq;
        q->weight = own.weight;
        q->in_scale = own.in_scale;
        q->node = own.node;
    }
}
